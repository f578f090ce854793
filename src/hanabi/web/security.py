"""Security headers for every response and a small sliding-window rate limiter (login)."""

from __future__ import annotations

from collections import OrderedDict, deque

from aiohttp import web

from hanabi.infra.clock import Clock


def content_security_policy(oauth_url: str) -> str:
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' https://cdn.discordapp.com data:",
            "connect-src 'self'",
            "font-src 'self'",
            f"form-action 'self' {oauth_url}",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "object-src 'none'",
        ]
    )


def security_headers(oauth_url: str, *, https: bool) -> dict[str, str]:
    headers = {
        "Content-Security-Policy": content_security_policy(oauth_url),
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        # The OAuth code is in the callback's query string: never send it to another site as a Referer. (Not
        # no-referrer: Chromium then sends `Origin: null` with forms, and the Origin check refuses them.)
        "Referrer-Policy": "same-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cross-Origin-Resource-Policy": "same-origin",
    }
    if https:
        headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
    return headers


class RateLimiter:
    """At most `limit` hits per `window` seconds per key; remembers at most `max_keys` keys (oldest dropped)."""

    def __init__(self, clock: Clock, *, limit: int, window: float, max_keys: int = 10_000) -> None:
        self._clock = clock
        self.limit = limit
        self.window = window
        self._max_keys = max_keys
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()

    def hit(self, key: str) -> float | None:
        """Count a hit; None when allowed, else the seconds until the next hit would be."""
        now = self._clock.monotonic()
        hits = self._hits.get(key)
        if hits is None:
            hits = deque()
            self._hits[key] = hits
            if len(self._hits) > self._max_keys:
                self._hits.popitem(last=False)
        else:
            self._hits.move_to_end(key)
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        if len(hits) >= self.limit:
            return max(0.0, hits[0] + self.window - now)
        hits.append(now)
        return None


def client_key(request: web.Request) -> str:
    return request.remote or "unknown"
