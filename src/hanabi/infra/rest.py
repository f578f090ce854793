"""hikari's REST client, with interaction answers sent through `hanabi.clients.interaction_callbacks`.

`answer_interactions_directly(rest, callbacks, ...)` makes the bot's REST client an instance of a subclass
with no new slots (as `hanabi.infra.entities` does for the entity factory) whose `create_interaction_response`
builds the body with hikari's own payload builder and posts it over `callbacks`, and whose
`create_autocomplete_response` does the same for autocomplete choices. Every caller (lightbulb's `ctx.respond`
and autocomplete, miru, Hanabi's own responders) goes through those two public methods, so all of them gain.
Modal answers, rare, stay with hikari.

What comes back decides who finishes the call:
- 2xx: the callback response, built by the entity factory as hikari would;
- another 4xx but 429: the error hikari raises for it (`BadRequestError`, `NotFoundError`, ...), built the way
  `hikari.internal.net.generate_error_response` builds it, so error handling is unchanged;
- 429, 5xx (or anything else unexpected), a dropped or timed-out connection, an answer with files, a token that
  is not URL-safe, or no free connection: the same call goes to hikari's own implementation, whose waits,
  retries and errors then apply.
"""

from __future__ import annotations

import http
import logging
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import hikari
import orjson

from hanabi.clients.interaction_callbacks import CallbackFailed, CallbackResponse, InteractionCallbacks

log = logging.getLogger(__name__)

# Characters a URL path carries unquoted (RFC 3986 unreserved, and ':'). Discord's interaction tokens are URL-safe
# base64; anything else goes through hikari, which quotes it.
_URL_SAFE = re.compile(r"[A-Za-z0-9._~:-]+")

# The REST metrics of `hanabi.infra.observability`: (method, status, seconds) for each attempt, and
# (interaction id, wall-clock time) as an answer leaves.
RestObserver = Callable[[str, int, float], None]
AnswerObserver = Callable[[int, float], None]
# Why an answer went through hikari: "busy" (every connection in use), "files", "token" (not URL-safe),
# "connection" (refused, dropped or timed out), "status" (429, 5xx, or no 4xx or 2xx at all).
FallbackObserver = Callable[[str], None]
# Sends the same answer through hikari's own implementation, given the reason.
HikariPath = Callable[[str], Awaitable[hikari.InteractionCallbackResponse]]


def error_for(url: str, response: CallbackResponse) -> hikari.HTTPError:
    """The exception hikari raises for a 4xx (after `hikari.internal.net.generate_error_response`)."""
    args: list[Any] = [url, response.headers, response.body]
    errors: Any = None
    try:
        body = orjson.loads(response.body)
        if isinstance(body, dict):
            args += [body.get("message", ""), body.get("code", 0)]
            errors = body.get("errors")
    except ValueError:
        pass
    status = response.status
    if status == http.HTTPStatus.BAD_REQUEST:
        return hikari.BadRequestError(*args, errors=errors)
    if status == http.HTTPStatus.UNAUTHORIZED:
        return hikari.UnauthorizedError(*args)
    if status == http.HTTPStatus.FORBIDDEN:
        return hikari.ForbiddenError(*args)
    if status == http.HTTPStatus.NOT_FOUND:
        return hikari.NotFoundError(*args)
    try:
        code: http.HTTPStatus | int = http.HTTPStatus(status)
    except ValueError:  # a status http does not name
        code = status
    return hikari.ClientHTTPResponseError(url, code, response.headers, response.body)


def answer_interactions_directly(
    rest: hikari.api.RESTClient,
    callbacks: InteractionCallbacks,
    *,
    on_attempt: RestObserver,
    on_answer: AnswerObserver,
    on_fallback: FallbackObserver,
) -> None:
    base: Any = type(rest)

    async def answer(
        self: Any,
        interaction: hikari.SnowflakeishOr[hikari.PartialInteraction],
        token: str,
        body: Any,
        hikari_path: HikariPath,
    ) -> hikari.InteractionCallbackResponse:
        """Post `body` over Hanabi's connections; `hikari_path(reason)` sends the same answer through hikari."""
        interaction_id = int(interaction)
        on_answer(interaction_id, time.time())
        started = time.perf_counter()
        try:
            response = await callbacks.post(interaction_id, token, self._dumps(body))
        except CallbackFailed as exc:
            log.debug("interaction %s: answering through hikari (%s)", interaction_id, exc)
            return await hikari_path("connection")
        status = response.status
        on_attempt("POST", status, time.perf_counter() - started)
        if 200 <= status < 300:
            try:
                payload = orjson.loads(response.body)
            except ValueError:
                raise hikari.HTTPError(f"Expected JSON in the answer to interaction {interaction_id}") from None
            built: hikari.InteractionCallbackResponse = self._entity_factory.deserialize_interaction_callback_response(
                payload
            )
            return built
        if status == http.HTTPStatus.TOO_MANY_REQUESTS or not 400 <= status < 500:  # 429, 5xx (and 1xx/3xx)
            return await hikari_path("status")
        raise error_for(f"/interactions/{interaction_id}/[token]/callback", response)

    def unsendable(token: str) -> str | None:
        """Why this answer cannot go over Hanabi's connections, if it cannot."""
        if not callbacks.has_room():
            return "busy"
        if _URL_SAFE.fullmatch(token) is None:
            return "token"
        return None

    async def create_interaction_response(
        self: Any,
        interaction: hikari.SnowflakeishOr[hikari.PartialInteraction],
        token: str,
        response_type: int | hikari.ResponseType,
        content: Any = hikari.UNDEFINED,
        **options: Any,
    ) -> hikari.InteractionCallbackResponse:
        async def through_hikari(reason: str) -> hikari.InteractionCallbackResponse:
            on_fallback(reason)
            response: hikari.InteractionCallbackResponse = await base.create_interaction_response(
                self, interaction, token, response_type, content, **options
            )
            return response

        reason = unsendable(token)
        if reason is not None:
            return await through_hikari(reason)
        data, form = self._build_message_payload(content=content, **options)
        if form is not None:  # multipart
            return await through_hikari("files")
        return await answer(self, interaction, token, {"type": response_type, "data": data}, through_hikari)

    async def create_autocomplete_response(
        self: Any,
        interaction: hikari.SnowflakeishOr[hikari.PartialInteraction],
        token: str,
        choices: Sequence[hikari.api.AutocompleteChoiceBuilder],
    ) -> hikari.InteractionCallbackResponse:
        async def through_hikari(reason: str) -> hikari.InteractionCallbackResponse:
            on_fallback(reason)
            response: hikari.InteractionCallbackResponse = await base.create_autocomplete_response(
                self, interaction, token, choices
            )
            return response

        reason = unsendable(token)
        if reason is not None:
            return await through_hikari(reason)
        # The same body hikari builds: a choice is its name and value.
        data = {"choices": [{"name": choice.name, "value": choice.value} for choice in choices]}
        return await answer(
            self, interaction, token, {"type": hikari.ResponseType.AUTOCOMPLETE, "data": data}, through_hikari
        )

    rest.__class__ = type(
        f"Direct{base.__name__}",
        (base,),
        {
            "__slots__": (),
            "create_interaction_response": create_interaction_response,
            "create_autocomplete_response": create_autocomplete_response,
        },
    )
