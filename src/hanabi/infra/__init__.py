"""Infrastructure: database, bus, clock, logging, metrics, Lavalink glue."""
