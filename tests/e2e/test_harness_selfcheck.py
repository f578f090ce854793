"""Self-check of tests/harness: a minimal real hikari + lightbulb + miru bot (not Hanabi) against FakeDiscord."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
from collections.abc import AsyncIterator

import hikari
import lightbulb
import miru
import pytest
import pytest_asyncio

from tests.harness.discord import CommandNotVisibleError, FakeDiscord, FakeGuild, NoResponseError
from tests.harness.logs import LogWatcher

# -- the throwaway bot -------------------------------------------------------------------------------------------


class PressView(miru.View):
    @miru.button(label="Press", custom_id="press")
    async def press(self, ctx: miru.ViewContext, button: miru.Button) -> None:
        await ctx.edit_response(content=f"pressed by {ctx.user.id}", components=[])

    @miru.button(label="Form", custom_id="form")
    async def form(self, ctx: miru.ViewContext, button: miru.Button) -> None:
        await ctx.respond_with_modal(NameModal(title="Your name", custom_id="name-modal"))


class PickView(miru.View):
    @miru.text_select(custom_id="pick", options=[miru.SelectOption("Red", "red"), miru.SelectOption("Blue", "blue")])
    async def pick(self, ctx: miru.ViewContext, select: miru.TextSelect) -> None:
        await ctx.respond(f"picked {','.join(select.values)}", flags=hikari.MessageFlag.EPHEMERAL)

    @miru.user_select(custom_id="who", max_values=2)
    async def who(self, ctx: miru.ViewContext, select: miru.UserSelect) -> None:
        await ctx.edit_response(content="users " + ",".join(str(u.id) for u in select.values))


class NameModal(miru.Modal):
    name = miru.TextInput(label="Name", custom_id="name", required=True)

    async def callback(self, ctx: miru.ModalContext) -> None:
        await ctx.respond(f"hello {self.name.value}", flags=hikari.MessageFlag.EPHEMERAL)


@dataclasses.dataclass
class Env:
    fake: FakeDiscord
    guild: FakeGuild
    bot: hikari.GatewayBot
    watcher: LogWatcher


def build_client(bot: hikari.GatewayBot, miru_client: miru.Client) -> lightbulb.Client:
    client = lightbulb.client_from_app(bot)

    @client.register
    class Echo(lightbulb.SlashCommand, name="echo", description="Echo some text"):
        text = lightbulb.string("text", "Text to echo")

        @lightbulb.invoke
        async def invoke(self, ctx: lightbulb.Context) -> None:
            await ctx.respond(self.text)

    @client.register
    class Slow(lightbulb.SlashCommand, name="slow", description="Defer, then edit the original response"):
        @lightbulb.invoke
        async def invoke(self, ctx: lightbulb.Context) -> None:
            await ctx.defer(ephemeral=True)
            await asyncio.sleep(0.05)
            await ctx.interaction.edit_initial_response("finally done")

    @client.register
    class Later(lightbulb.SlashCommand, name="later", description="Defer, then respond (a follow-up)"):
        @lightbulb.invoke
        async def invoke(self, ctx: lightbulb.Context) -> None:
            await ctx.defer()
            await ctx.respond("via follow-up")

    @client.register
    class Menu(lightbulb.SlashCommand, name="menu", description="A message with a miru view"):
        @lightbulb.invoke
        async def invoke(self, ctx: lightbulb.Context) -> None:
            view = PressView(timeout=60)
            await ctx.respond("menu", components=view)
            message = await ctx.interaction.fetch_initial_response()
            miru_client.start_view(view, bind_to=message)

    @client.register
    class Long(lightbulb.SlashCommand, name="long", description="Break the 2000 character limit"):
        @lightbulb.invoke
        async def invoke(self, ctx: lightbulb.Context) -> None:
            await ctx.respond("x" * 2001)

    @client.register
    class Pick(lightbulb.SlashCommand, name="pick", description="Select menus"):
        @lightbulb.invoke
        async def invoke(self, ctx: lightbulb.Context) -> None:
            view = PickView(timeout=60)
            await ctx.respond("pick one", components=view)
            miru_client.start_view(view, bind_to=await ctx.interaction.fetch_initial_response())

    @client.register
    class Profile(lightbulb.UserCommand, name="Profile"):
        @lightbulb.invoke
        async def invoke(self, ctx: lightbulb.Context) -> None:
            await ctx.respond(f"profile of {self.target.username}")

    @client.register
    class Quote(lightbulb.MessageCommand, name="Quote"):
        @lightbulb.invoke
        async def invoke(self, ctx: lightbulb.Context) -> None:
            await ctx.respond(f"> {self.target.content}")

    @client.register
    class Mod(
        lightbulb.SlashCommand,
        name="mod",
        description="Moderators only",
        default_member_permissions=hikari.Permissions.BAN_MEMBERS,
    ):
        @lightbulb.invoke
        async def invoke(self, ctx: lightbulb.Context) -> None:
            await ctx.respond("ok, moderator", ephemeral=True)

    @client.register
    class Twice(lightbulb.SlashCommand, name="twice", description="Answers the interaction twice (a bug)"):
        @lightbulb.invoke
        async def invoke(self, ctx: lightbulb.Context) -> None:
            await ctx.interaction.create_initial_response(hikari.ResponseType.MESSAGE_CREATE, "first")
            await ctx.interaction.create_initial_response(hikari.ResponseType.MESSAGE_CREATE, "second")

    async def fruit_autocomplete(ctx: lightbulb.AutocompleteContext[str]) -> None:
        prefix = str(ctx.focused.value or "")
        await ctx.respond([f for f in ("apple", "apricot", "banana") if f.startswith(prefix)])

    poll = lightbulb.Group("poll", "Polls")

    @poll.register
    class PollCreate(lightbulb.SlashCommand, name="create", description="Create a poll"):
        question = lightbulb.string("question", "The question")
        fruit = lightbulb.string("fruit", "A fruit", autocomplete=fruit_autocomplete, default="none")
        target = lightbulb.user("target", "Who is asked", default=None)

        @lightbulb.invoke
        async def invoke(self, ctx: lightbulb.Context) -> None:
            who = self.target.id if self.target else "nobody"
            await ctx.respond(embed=hikari.Embed(title=self.question, description=f"{self.fruit} for {who}"))

    client.register(poll)
    return client


def make_bot(fake: FakeDiscord, intents: hikari.Intents = hikari.Intents.ALL_UNPRIVILEGED) -> hikari.GatewayBot:
    bot = hikari.GatewayBot(
        fake.token,
        rest_url=fake.rest_url,
        intents=intents,
        banner=None,  # no ASCII banner on stdout
        logs=None,  # leave logging config to pytest
        suppress_optimization_warning=True,
    )
    client = build_client(bot, miru.Client(bot))
    bot.subscribe(hikari.StartedEvent, client.start)
    return bot


@pytest_asyncio.fixture
async def env() -> AsyncIterator[Env]:
    watcher = LogWatcher().install()
    fake = FakeDiscord()
    await fake.start()
    guild = fake.add_guild("Harness Guild", members=2)
    bot = make_bot(fake)
    try:
        await bot.start(check_for_updates=False)
        await fake.wait_ready()
        await fake.wait_command("poll")
        yield Env(fake, guild, bot, watcher)
    finally:
        await bot.close()
        await fake.stop()
        watcher.uninstall()


def assert_clean(env: Env) -> None:
    assert env.fake.violations == []
    assert env.watcher.problems() == []


# -- tests -------------------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_handshake_and_command_sync(env: Env) -> None:
    fake = env.fake
    assert len(fake.identifies) == 1
    assert fake.identifies[0]["shard"] == [0, 1]
    assert {c["name"] for c in fake.global_commands} == {
        "echo",
        "slow",
        "later",
        "menu",
        "long",
        "poll",
        "pick",
        "Profile",
        "Quote",
        "mod",
        "twice",
    }
    assert all(c["id"] and c["version"] for c in fake.global_commands)
    assert [r.route for r in fake.requests[:2]] == ["/gateway/bot", "/oauth2/applications/@me"]
    # hikari cached the guild from GUILD_CREATE, with channels, roles and the bot's member.
    cached = env.bot.cache.get_guild(env.guild.id)
    assert cached is not None
    assert cached.name == "Harness Guild"
    assert env.bot.cache.get_guild_channel(env.guild.default_channel.id) is not None
    assert_clean(env)


@pytest.mark.asyncio
async def test_slash_echo(env: Env) -> None:
    reply = await env.fake.slash("echo", {"text": "hi"})
    assert reply.type == 4
    assert reply.content == "hi"
    assert not reply.ephemeral
    assert reply.latency is not None
    assert reply.latency < 1
    assert env.fake.messages[env.guild.default_channel.id][-1]["content"] == "hi"
    assert_clean(env)


@pytest.mark.asyncio
async def test_defer_then_edit_original(env: Env) -> None:
    reply = await env.fake.slash("slow")
    assert reply.type == 5
    assert reply.deferred
    assert reply.content == "finally done"
    assert reply.ephemeral
    assert env.fake.requests[-1].method == "PATCH"
    assert env.fake.requests[-1].route.endswith("/messages/@original")
    assert_clean(env)


@pytest.mark.asyncio
async def test_defer_then_followup_replaces_loading_message(env: Env) -> None:
    reply = await env.fake.slash("later")
    assert reply.type == 5
    assert reply.content == "via follow-up"
    assert_clean(env)


@pytest.mark.asyncio
async def test_button_click_routes_to_miru_view(env: Env) -> None:
    fake = env.fake
    menu = await fake.slash("menu")
    assert menu.content == "menu"
    assert menu.custom_ids == ["press", "form"]
    assert isinstance(menu.component("press")["id"], int)
    user = env.guild.resolve_member(None)
    clicked = await fake.click(menu, "press", user=user)
    assert clicked.type == 7
    assert clicked.content == f"pressed by {user.id}"
    assert clicked.components == []
    # The stored message was updated in place.
    assert menu.message is not None
    assert menu.message["content"] == f"pressed by {user.id}"
    assert_clean(env)


@pytest.mark.asyncio
async def test_modal_roundtrip(env: Env) -> None:
    fake = env.fake
    menu = await fake.slash("menu")
    opened = await fake.click(menu, "form")
    assert opened.type == 9
    assert opened.modal is not None
    assert opened.modal["custom_id"] == "name-modal"
    submitted = await fake.submit_modal("name-modal", {"name": "Ada"})
    assert submitted.type == 4
    assert submitted.content == "hello Ada"
    assert submitted.ephemeral
    assert_clean(env)


@pytest.mark.asyncio
async def test_subcommand_user_option_and_autocomplete(env: Env) -> None:
    fake = env.fake
    target = env.guild.add_member("target")
    choices = await fake.autocomplete("poll create", {"question": "Q?", "fruit": "ap"}, focused="fruit")
    assert [c["value"] for c in choices] == ["apple", "apricot"]
    reply = await fake.slash("poll create", {"question": "Lunch?", "fruit": "apple", "target": target})
    assert reply.embeds[0]["title"] == "Lunch?"
    assert reply.embeds[0]["description"] == f"apple for {target.id}"
    assert_clean(env)


@pytest.mark.asyncio
async def test_limit_violation_is_caught(env: Env) -> None:
    reply = await env.fake.slash("long")
    assert reply.type is None  # the only attempt was rejected
    assert reply.errors
    assert any("content" in v and "2000" in v for v in env.fake.violations)
    assert any(r.status == 400 and r.response["code"] == 50035 for r in env.fake.requests)
    # lightbulb logs the BadRequestError; the watcher sees it.
    assert env.watcher.problems()
    env.watcher.clear()


@pytest.mark.asyncio
async def test_unhandled_route_is_recorded(env: Env) -> None:
    with pytest.raises(hikari.NotFoundError):
        await env.bot.rest.fetch_guild_preview(env.guild.id)
    assert f"unhandled route GET /guilds/{env.guild.id}/preview" in env.fake.violations
    env.fake.violations.clear()
    assert_clean(env)


@pytest.mark.asyncio
async def test_no_response_raises(env: Env) -> None:
    # Unknown custom ids are ignored by miru after its own timeout; a message without a view never answers.
    message = await env.fake.say("plain message")
    with pytest.raises(LookupError):
        await env.fake.click(message, "nope", timeout=0.2)
    with pytest.raises(NoResponseError):
        await env.fake.slash("echo", {"text": "x"}, timeout=0.0)
    env.watcher.clear()


@pytest.mark.asyncio
async def test_guild_join_and_rest_message(env: Env) -> None:
    fake = env.fake
    second = fake.add_guild("Second")
    await fake.flush()
    for _ in range(50):
        if env.bot.cache.get_guild(second.id) is not None:
            break
        await asyncio.sleep(0.01)
    assert env.bot.cache.get_guild(second.id) is not None
    channel = second.default_channel
    sent = await env.bot.rest.create_message(channel.id, "hello there", embed=hikari.Embed(title="t"))
    stored = await fake.wait_for_message(channel.id)
    assert stored["id"] == str(sent.id)
    assert stored["embeds"][0]["title"] == "t"
    second.delete_channel(channel)
    with pytest.raises(hikari.NotFoundError):
        await env.bot.rest.create_message(channel.id, "gone")
    assert_clean(env)


@pytest.mark.asyncio
async def test_selects_and_context_menus(env: Env) -> None:
    fake = env.fake
    menu = await fake.slash("pick")
    picked = await fake.select(menu, "pick", ["blue"])
    assert picked.content == "picked blue"
    assert picked.ephemeral
    a, b = [m for m in env.guild.members.values() if not m.user["bot"]][:2]
    chosen = await fake.select(menu, "who", [a, b])
    assert chosen.type == 7
    assert chosen.content == f"users {a.id},{b.id}"
    with pytest.raises(ValueError, match="not among options"):
        await fake.select(menu, "pick", ["green"])
    profile = await fake.user_command("Profile", a)
    assert profile.content == f"profile of {a.username}"
    said = await fake.say("quotable", author=b)
    quote = await fake.message_command("Quote", said)
    assert quote.content == "> quotable"
    assert_clean(env)


@pytest.mark.asyncio
async def test_rest_surface_deserializes(env: Env) -> None:
    fake, rest, guild = env.fake, env.bot.rest, env.guild
    member = guild.add_member("victim")
    role = guild.add_role("Helper")
    await fake.flush()
    assert (await rest.fetch_my_user()).id == fake.bot_user_id
    assert (await rest.fetch_application()).id == fake.application_id
    assert (await rest.fetch_guild(guild.id)).name == guild.name
    assert {r.id for r in await rest.fetch_roles(guild.id)} >= {guild.id, role.id}
    assert (await rest.fetch_channel(guild.default_channel.id)).id == guild.default_channel.id
    assert len(await rest.fetch_members(guild.id)) == len(guild.members)
    assert (await rest.fetch_member(guild.id, member.id)).username == "victim"
    # Moderation applies to the world state.
    until = datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=5)
    await rest.edit_member(guild.id, member.id, communication_disabled_until=until)
    assert member.timed_out
    await rest.add_role_to_member(guild.id, member.id, role.id)
    assert role.id in member.roles
    await rest.remove_role_from_member(guild.id, member.id, role.id)
    assert role.id not in member.roles
    # Messages: send, react, history, bulk delete, DM.
    channel = guild.default_channel
    m1 = await rest.create_message(channel.id, "one")
    m2 = await rest.create_message(channel.id, "two", attachment=hikari.Bytes(b"data", "a.txt"))
    assert fake.message_factory.attachment_bytes(fake.messages[channel.id][-1])[0].data == b"data"
    await rest.add_reaction(channel.id, m1.id, "\N{THUMBS UP SIGN}")
    history = [m.id async for m in rest.fetch_messages(channel.id)]
    assert history[:2] == [m2.id, m1.id]
    await rest.delete_messages(channel.id, m1.id, m2.id)
    assert fake.messages[channel.id] == []
    dm = await rest.create_dm_channel(member.id)
    await rest.create_message(dm.id, "psst")
    assert fake.messages[dm.id][-1]["content"] == "psst"
    # Scheduled events and AutoMod.
    start = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=1)
    event = await rest.create_external_event(guild.id, "Party", "Park", start, start + datetime.timedelta(hours=2))
    edited = await rest.edit_scheduled_event(guild.id, event.id, name="Big party")
    assert edited.name == "Big party"
    assert [e.id for e in await rest.fetch_scheduled_events(guild.id)] == [event.id]
    await rest.delete_scheduled_event(guild.id, event.id)
    rule = await rest.create_auto_mod_rule(
        guild.id,
        name="No spam",
        event_type=hikari.AutoModEventType.MESSAGE_SEND,
        trigger=hikari.impl.AutoModKeywordTriggerBuilder(keyword_filter=["spam"]),
        actions=[hikari.impl.AutoModBlockMessageActionBuilder()],
        enabled=True,
    )
    assert guild.automod_rules[rule.id]["trigger_metadata"]["keyword_filter"] == ["spam"]
    await rest.kick_user(guild.id, member.id)
    assert member.id not in guild.members
    assert_clean(env)


@pytest.mark.asyncio
async def test_permission_failures(env: Env) -> None:
    fake, rest, guild = env.fake, env.bot.rest, env.guild
    channel = guild.default_channel
    channel.deny_send = True
    with pytest.raises(hikari.ForbiddenError):
        await rest.create_message(channel.id, "denied")
    channel.deny_send = False
    # Without ADMINISTRATOR, overwrites apply: deny SEND_MESSAGES to the bot's role in this channel.
    guild.set_bot_permissions(hikari.Permissions.VIEW_CHANNEL.value)
    channel.set_overwrite(guild.bot_role.id, deny=hikari.Permissions.SEND_MESSAGES.value)
    with pytest.raises(hikari.ForbiddenError):
        await rest.create_message(channel.id, "still denied")
    assert guild.permissions_for(fake.bot_user_id, channel) & hikari.Permissions.SEND_MESSAGES == 0
    guild.set_bot_permissions(hikari.Permissions.ADMINISTRATOR.value)
    fake.fail_next("POST", r"/channels/\d+/messages$", 403, 50001, "Missing Access")
    with pytest.raises(hikari.ForbiddenError):
        await rest.create_message(channel.id, "hook")
    await rest.create_message(channel.id, "works again")
    # The bot's member permissions arrive in interactions too.
    reply = await fake.slash("echo", {"text": "perm"})
    record = fake.interactions[reply.interaction_id]
    assert int(record.payload["app_permissions"]) & hikari.Permissions.ADMINISTRATOR
    assert_clean(env)


@pytest.mark.asyncio
async def test_gateway_resume_and_replay(env: Env) -> None:
    fake = env.fake
    received: list[str] = []

    async def on_message(event: hikari.GuildMessageCreateEvent) -> None:
        if not event.is_bot:  # interaction responses arrive as MESSAGE_CREATE too
            received.append(event.message.content or "")

    env.bot.subscribe(hikari.GuildMessageCreateEvent, on_message)
    await fake.close_shard(0, 4000)
    await fake.say("while away")  # buffered, replayed on RESUME
    await fake.wait_until(lambda: True if fake.resumes else None, 10, "a RESUME")
    await fake.wait_ready()
    await fake.send_reconnect(0)
    await fake.wait_until(lambda: True if len(fake.resumes) >= 2 else None, 10, "a second RESUME")
    await fake.wait_ready()
    reply = await fake.slash("echo", {"text": "back"})
    assert reply.content == "back"
    assert len(fake.identifies) == 1  # resumed, never re-identified
    # No MESSAGE_CONTENT intent: user messages arrive with empty content unless the bot is mentioned.
    assert received == [""]
    assert_clean(env)


@pytest.mark.asyncio
async def test_voice_state_auto_reply(env: Env) -> None:
    fake, guild = env.fake, env.guild
    voice = guild.channel("General")
    servers: list[hikari.VoiceServerUpdateEvent] = []

    async def on_server(event: hikari.VoiceServerUpdateEvent) -> None:
        servers.append(event)

    env.bot.subscribe(hikari.VoiceServerUpdateEvent, on_server)
    await env.bot.update_voice_state(guild.id, voice.id, self_deaf=True)
    await fake.wait_until(lambda: servers or None, 5, "VOICE_SERVER_UPDATE")
    assert fake.voice_requests[-1]["channel_id"] == str(voice.id)
    assert servers[0].endpoint == f"wss://{fake.voice_endpoint}"  # hikari prefixes the scheme
    state = env.bot.cache.get_voice_state(guild.id, fake.bot_user_id)
    assert state is not None
    assert state.channel_id == voice.id
    assert_clean(env)


@pytest.mark.asyncio
async def test_two_shards() -> None:
    watcher = LogWatcher().install()
    fake = FakeDiscord(shard_count=2, max_concurrency=2)
    await fake.start()
    g0 = fake.add_guild("Shard zero", shard_id=0)
    g1 = fake.add_guild("Shard one", shard_id=1)
    bot = make_bot(fake)
    try:
        await bot.start(check_for_updates=False)
        await fake.wait_ready()
        await fake.wait_command("echo")
        assert sorted(i["shard"][0] for i in fake.identifies) == [0, 1]
        for guild in (g0, g1):
            reply = await fake.slash("echo", {"text": guild.name}, guild=guild)
            assert reply.content == guild.name
        assert fake.violations == []
        assert watcher.problems() == []
    finally:
        await bot.close()
        await fake.stop()
        watcher.uninstall()


@pytest.mark.asyncio
async def test_command_visibility_dm_and_mentions(env: Env) -> None:
    fake, guild = env.fake, env.guild
    with pytest.raises(CommandNotVisibleError):
        await fake.slash("mod")  # the default actor is an ordinary member
    owner = guild.member(guild.owner_id)
    assert (await fake.slash("mod", user=owner)).content == "ok, moderator"
    dm_reply = await fake.slash("echo", {"text": "in dm"}, dm=True)
    assert dm_reply.content == "in dm"
    assert dm_reply.message is not None
    assert "guild_id" not in dm_reply.message
    seen: list[str] = []

    async def on_message(event: hikari.GuildMessageCreateEvent) -> None:
        if not event.is_bot:
            seen.append(event.message.content or "")

    env.bot.subscribe(hikari.GuildMessageCreateEvent, on_message)
    bot_member = guild.bot_member
    await fake.say(f"{bot_member.mention} hi", mentions=[bot_member])
    await fake.say("not for you")
    await fake.wait_until(lambda: True if len(seen) == 2 else None, 5, "two messages")
    assert seen == [f"{bot_member.mention} hi", ""]  # content only when mentioned (no MESSAGE_CONTENT intent)
    assert_clean(env)


@pytest.mark.asyncio
async def test_rejected_token_and_held_ready() -> None:
    fake = FakeDiscord()
    await fake.start()
    fake.add_guild()
    try:
        fake.reject_token = True
        rejected = make_bot(fake)
        with pytest.raises(hikari.UnauthorizedError):
            await rejected.start(check_for_updates=False)
        await rejected.close()  # hikari leaves its REST session open after a failed start
        fake.reject_token = False
        fake.hold_ready()
        bot = make_bot(fake)
        starting = asyncio.create_task(bot.start(check_for_updates=False))
        await fake.wait_until(lambda: True if fake.identifies else None, 5, "IDENTIFY")
        await asyncio.sleep(0.1)
        assert not starting.done()  # hikari waits for READY
        fake.release_ready()
        await asyncio.wait_for(starting, 5)
        await fake.wait_ready()
        await bot.close()
        assert fake.violations == []
    finally:
        await fake.stop()


@pytest.mark.asyncio
async def test_late_and_double_responses_are_violations(env: Env) -> None:
    fake = env.fake
    twice = await fake.slash("twice")
    assert twice.content == "first"
    await fake.quiesce()
    assert any("second initial response" in v for v in fake.violations)
    assert any(r.status == 400 and r.response["code"] == 40060 for r in fake.requests)
    fake.violations.clear()
    fake.interaction_deadline = 0.0  # every answer is now "after 3 s"
    late = await fake.slash("echo", {"text": "late"})
    assert late.type is None
    assert any("first response after" in e for e in late.errors)
    assert any(r.status == 404 and r.response["code"] == 10062 for r in fake.requests)
    env.watcher.clear()  # the bot logged both failures, as it should
