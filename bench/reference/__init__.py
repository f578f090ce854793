"""The reference bot of issue #12: discord.py 2.7 with aiosqlite, doing what Hanabi's /ping, /balance and /pay do.

`bot.py` is the bot (run as a script, `python bench/reference/bot.py`); `store.py` holds the SQLite schema and
the seeding used by `bench/reference.py`. discord.py and aiosqlite are not Hanabi dependencies:
`.venv/bin/pip install "discord.py==2.7.*" aiosqlite`.
"""
