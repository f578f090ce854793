"""Discord-facing helpers shared by extensions: formatting, pagination, permission checks."""

from __future__ import annotations

from datetime import datetime

BRAND_COLOUR = 0xFF7A59


def format_duration(seconds: float) -> str:
    """`3d 4h 5m`, `12m 3s`, `4s` — the two largest units."""
    total = max(0, int(seconds))
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        value, total = divmod(total, size)
        if value or (unit == "s" and not parts):
            parts.append(f"{value}{unit}")
    return " ".join(parts[:2])


def discord_timestamp(moment: datetime | float, style: str = "f") -> str:
    """Discord renders `<t:unix:style>` in each reader's own time zone."""
    unix = moment.timestamp() if isinstance(moment, datetime) else moment
    return f"<t:{int(unix)}:{style}>"
