"""asyncpg SQL, one module per aggregate."""
