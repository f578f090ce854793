"""Hanabi: a self-hosted, multi-feature Discord bot."""

# The one place the version is written (pyproject.toml reads it): looking it up in the installed metadata at
# import cost about 60 ms of every start.
__version__ = "0.1.0"
