"""aiohttp API clients behind small protocols."""
