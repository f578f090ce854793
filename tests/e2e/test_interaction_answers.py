"""Interaction answers over Hanabi's own connections (hanabi.infra.rest), and hikari's path for what they hand back."""

from __future__ import annotations

import logging
from pathlib import Path

import hikari
import pytest

from tests.harness.bot import RunningBot, running_bot
from tests.harness.discord import FakeDiscord, FakeGuild
from tests.harness.discord.state import RecordedRequest

CALLBACK = r"/interactions/\d+/[^/]+/callback$"


def callbacks(fake: FakeDiscord) -> list[RecordedRequest]:
    return [r for r in fake.requests if r.method == "POST" and r.path.endswith("/callback")]


def direct(request: RecordedRequest) -> bool:
    return "Hanabi/" in request.headers.get("User-Agent", "")


def fallbacks(running: RunningBot, reason: str) -> float:
    value = running.app.metrics.registry.get_sample_value(
        "hanabi_interaction_answer_fallbacks_total", {"reason": reason}
    )
    return value or 0.0


@pytest.mark.asyncio
async def test_answers_share_one_kept_alive_connection(bot: RunningBot, fake: FakeDiscord, guild: FakeGuild) -> None:
    for _ in range(3):
        reply = await fake.slash("ping", guild=guild)
        assert reply.embeds[0]["title"] == "Pong!"
    balance = await fake.slash("balance", guild=guild)
    assert balance.embeds[0]["title"].endswith("wallet")  # embeds built by hikari's own payload builder
    answers = callbacks(fake)
    assert len(answers) == 4
    assert all(direct(r) and r.query.get("with_response") == "true" for r in answers)
    assert bot.app.callbacks is not None
    assert bot.app.callbacks.connections == 1
    assert not [s for m in bot.app.metrics.registry.collect() for s in m.samples if "answer_fallbacks" in s.name]


@pytest.mark.asyncio
async def test_a_refused_answer_raises_hikaris_error_and_is_not_sent_twice(
    fake: FakeDiscord, guild: FakeGuild, database_url: str, tmp_path: Path
) -> None:
    async with running_bot(fake, database_url, tmp_path, allow_errors=True) as running:
        fake.fail_next("POST", CALLBACK, status=400, code=50035, message="Invalid Form Body")
        reply = await fake.slash("ping", guild=guild)
        # The error hook answers instead, as it does for any failed command.
        assert reply.ephemeral
        assert "something went wrong" in reply.content
        first, second = callbacks(fake)
        assert (first.status, second.status) == (400, 200)
        assert fallbacks(running, "status") == 0
        assert direct(first)
        assert direct(second)
        errors = [r.exc_info[1] for r in running.logs.records if r.exc_info and r.levelno >= logging.ERROR]
        assert any(isinstance(e, hikari.BadRequestError) and e.code == 50035 for e in errors)
        assert fake.token not in "\n".join(running.logs.problems())


@pytest.mark.asyncio
async def test_server_errors_are_retried_through_hikari(
    fake: FakeDiscord, guild: FakeGuild, database_url: str, tmp_path: Path
) -> None:
    async with running_bot(fake, database_url, tmp_path) as running:
        fake.fail_next("POST", CALLBACK, status=503, code=0, message="Service Unavailable")
        reply = await fake.slash("ping", guild=guild)
        assert reply.embeds[0]["title"] == "Pong!"
        first, second = callbacks(fake)
        assert (first.status, second.status) == (503, 200)
        assert direct(first)
        assert not direct(second)  # hikari's retry, with hikari's back-off
        assert fallbacks(running, "status") == 1


@pytest.mark.asyncio
async def test_with_the_setting_off_answers_go_through_hikari(
    fake: FakeDiscord, guild: FakeGuild, database_url: str, tmp_path: Path
) -> None:
    async with running_bot(fake, database_url, tmp_path, direct_interaction_answers=False) as running:
        assert running.app.callbacks is None
        reply = await fake.slash("ping", guild=guild)
        assert reply.embeds[0]["title"] == "Pong!"
        (answer,) = callbacks(fake)
        assert not direct(answer)
        assert "hikari" in answer.headers["User-Agent"]


@pytest.mark.asyncio
async def test_autocomplete_choices_go_over_the_same_connection(
    bot: RunningBot, fake: FakeDiscord, guild: FakeGuild
) -> None:
    choices = await fake.autocomplete("help", {"command": "poll c"}, "command", guild=guild)
    assert "poll create" in [c["value"] for c in choices]
    (answer,) = callbacks(fake)
    assert direct(answer)
    assert answer.json["type"] == 8
    assert answer.json["data"]["choices"] == choices
