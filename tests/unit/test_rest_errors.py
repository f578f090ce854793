"""Refused interaction answers become the errors hikari itself raises for them (hanabi.infra.rest.error_for)."""

from __future__ import annotations

import hikari
import pytest

from hanabi.clients.interaction_callbacks import CallbackResponse
from hanabi.infra.rest import error_for

URL = "/interactions/1/[token]/callback"
JSON = {"content-type": "application/json"}


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, hikari.BadRequestError),
        (401, hikari.UnauthorizedError),
        (403, hikari.ForbiddenError),
        (404, hikari.NotFoundError),
        (418, hikari.ClientHTTPResponseError),
    ],
)
def test_discord_errors_keep_their_code_and_message(status: int, kind: type[hikari.HTTPError]) -> None:
    body = b'{"message": "Unknown interaction", "code": 10062, "errors": {"data": {}}}'
    error = error_for(URL, CallbackResponse(status, JSON, body))
    assert type(error) is kind
    assert isinstance(error, hikari.ClientHTTPResponseError)
    assert error.status == status
    assert error.url == URL  # the token is never in it
    if kind is not hikari.ClientHTTPResponseError:
        assert (error.code, error.message) == (10062, "Unknown interaction")
    if kind is hikari.BadRequestError:
        assert error.errors == {"data": {}}


def test_a_body_that_is_not_json_and_a_status_http_does_not_name() -> None:
    not_found = error_for(URL, CallbackResponse(404, {}, b"<html>gateway</html>"))
    assert isinstance(not_found, hikari.NotFoundError)
    assert not_found.raw_body == b"<html>gateway</html>"
    odd = error_for(URL, CallbackResponse(499, {}, b""))
    assert type(odd) is hikari.ClientHTTPResponseError
    assert odd.status == 499
