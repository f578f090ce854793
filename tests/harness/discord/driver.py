"""Test driver: play the Discord client. Builds interactions and messages, waits for the bot's answers."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import re
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tests.harness.discord.messages import SentFile, find_component, iter_components
from tests.harness.discord.state import FakeDiscordBase, InteractionRecord, RecordedRequest
from tests.harness.discord.world import FakeChannel, FakeGuild, FakeMember, FakeRole
from tests.harness.payloads import (
    JSON,
    SELECT_TYPES,
    CallbackType,
    ComponentType,
    InteractionType,
    MessageFlag,
    OptionType,
    Perm,
    iso,
    user_payload,
)

UserLike = FakeMember | int | None
OptionsArg = Sequence[JSON] | Mapping[str, Any] | None


class CommandNotVisibleError(PermissionError):
    """Discord's client would not offer this command to this user (default_member_permissions / contexts)."""


class NoResponseError(AssertionError):
    """The bot did not answer an interaction in time (an AssertionError so pytest reports it as a failure)."""


@dataclasses.dataclass
class Reply:
    """What the bot answered to one interaction, with deferred responses folded in."""

    type: int | None  # callback type of the first accepted response; None if every attempt was rejected
    content: str | None
    embeds: list[JSON]
    components: list[JSON]
    flags: int
    message: JSON | None  # the stored message carrying the content (live object: later edits show up)
    followups: list[JSON]  # live list shared with the fake
    latency: float | None  # seconds from dispatch to the first callback
    deferred: bool
    interaction_id: int
    choices: list[JSON] | None = None
    modal: JSON | None = None
    attachments: list[SentFile] = dataclasses.field(default_factory=list)
    errors: list[str] = dataclasses.field(default_factory=list)  # rejected attempts (limit violations etc.)

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & MessageFlag.EPHEMERAL)

    def component(self, custom_id: str | None = None, *, label: str | None = None) -> JSON:
        """Find a component node by custom_id, or by label (prefix match on custom_id with ``custom_id=...*``)."""
        if custom_id is not None and custom_id.endswith("*"):
            prefix = custom_id[:-1]
            for node in iter_components(self.components):
                if str(node.get("custom_id", "")).startswith(prefix):
                    return node
        found = find_component(self.components, custom_id=custom_id, label=label)
        if found is None:
            raise LookupError(f"no component custom_id={custom_id!r} label={label!r}; have {self.custom_ids}")
        return found

    @property
    def custom_ids(self) -> list[str]:
        return [str(c["custom_id"]) for c in iter_components(self.components) if "custom_id" in c]

    @property
    def text(self) -> str:
        """Content plus every embed/text-display string, for loose assertions."""
        parts = [self.content or ""]
        for embed in self.embeds:
            parts += [embed.get("title") or "", embed.get("description") or ""]
            parts += [f"{f.get('name')}\n{f.get('value')}" for f in embed.get("fields") or []]
            parts.append((embed.get("footer") or {}).get("text") or "")
            parts.append((embed.get("author") or {}).get("name") or "")
        parts += [str(c["content"]) for c in iter_components(self.components) if c.get("type") == 10]
        return "\n".join(p for p in parts if p)


class DriverMixin(FakeDiscordBase):
    settle_quiet = 0.05  # seconds of REST silence that count as "the bot is done reacting"
    # -- context -------------------------------------------------------------------------------------------------

    def _default_guild(self) -> FakeGuild:
        if not self.guilds:
            raise LookupError("the fake has no guild; call add_guild() first")
        return next(iter(self.guilds.values()))

    def _actor(
        self, guild: FakeGuild | None, channel: FakeChannel | None, user: UserLike, *, dm: bool
    ) -> tuple[FakeGuild | None, FakeChannel, JSON, FakeMember | None]:
        if dm or (channel is not None and channel.is_dm):
            if isinstance(user, FakeMember):
                user_json = user.user
            elif user is not None:
                user_json = self.users.get(user) or user_payload(user, f"user{user}")
            elif channel is not None:
                user_json = channel.recipients[0]
            else:
                user_json = self._default_guild().resolve_member(None).user
            return None, channel or self.dm_channel_for(int(user_json["id"])), user_json, None
        if guild is None:
            if channel is not None and channel.guild_id is not None:
                guild = self.guilds[channel.guild_id]
            elif isinstance(user, FakeMember):
                guild = self.guilds[user.guild_id]
            else:
                guild = self._default_guild()
        member = guild.resolve_member(user)
        return guild, channel or guild.default_channel, member.user, member

    def _member_json(self, guild: FakeGuild, member: FakeMember, channel: FakeChannel | None) -> JSON:
        return member.payload() | {"permissions": str(guild.permissions_for(member.id, channel))}

    def _new_interaction(
        self,
        itype: int,
        data: JSON,
        *,
        guild: FakeGuild | None,
        channel: FakeChannel,
        user: JSON,
        member: FakeMember | None,
        locale: str,
        metadata: JSON,
        message: JSON | None = None,
    ) -> InteractionRecord:
        interaction_id = self.new_id()
        token = f"aW50ZXJhY3Rpb246{interaction_id}:" + secrets.token_urlsafe(48)
        perms = guild.permissions_for(member.id, channel) if guild and member else Perm.DM
        payload: JSON = {
            "id": str(interaction_id),
            "application_id": str(self.application_id),
            "type": itype,
            "data": data,
            "token": token,
            "version": 1,
            "locale": locale,
            "app_permissions": str(guild.permissions_for(self.bot_user_id, channel) if guild else Perm.DM),
            "channel": channel.partial() | {"permissions": str(perms)},
            "channel_id": str(channel.id),
            "authorizing_integration_owners": {"0": str(guild.id) if guild else "0"},
            "context": 0 if guild else 1,
            "attachment_size_limit": 10 * 1024 * 1024,
            "entitlements": [],
        }
        if guild is not None and member is not None:
            payload["guild_id"] = str(guild.id)
            payload["guild_locale"] = guild.preferred_locale
            payload["guild"] = {"id": str(guild.id), "locale": guild.preferred_locale, "features": []}
            payload["member"] = self._member_json(guild, member, channel)
        else:
            payload["user"] = user
        if message is not None:
            payload["message"] = copy.deepcopy(message)
        meta = {
            "id": str(interaction_id),
            "type": itype,
            "user": user,
            "authorizing_integration_owners": payload["authorizing_integration_owners"],
        } | metadata
        if "triggering_interaction_metadata" in metadata:
            payload["triggering_interaction_metadata"] = metadata["triggering_interaction_metadata"]
        record = InteractionRecord(
            id=interaction_id,
            token=token,
            type=itype,
            payload=payload,
            created=time.monotonic(),
            channel_id=channel.id,
            guild_id=guild.id if guild else None,
            user=user,
            source_message=message,
            metadata=meta,
        )
        self.interactions[interaction_id] = record
        return record

    async def _run(self, record: InteractionRecord, *, timeout: float, settle: bool) -> Reply:
        await self.flush()  # world changes queued before this call reach the bot first
        deadline = time.monotonic() + timeout
        record.created = time.monotonic()
        await self.dispatch("INTERACTION_CREATE", record.payload, shard_id=self.shard_for(record.guild_id))

        def answered() -> bool | None:
            return True if record.response_type is not None or record.errors else None

        try:
            await self.wait_until(answered, timeout, f"a response to interaction {record.id}")
        except TimeoutError as exc:
            raise NoResponseError(str(exc)) from None
        if record.response_type is None:
            # Only rejected attempts so far: give an error handler a moment to answer properly.
            with contextlib.suppress(TimeoutError):
                await self.wait_until(
                    lambda: True if record.response_type is not None else None,
                    min(0.5, max(deadline - time.monotonic(), 0.01)),
                    "a valid response",
                )
        deferred_types = (CallbackType.DEFERRED_CHANNEL_MESSAGE, CallbackType.DEFERRED_UPDATE_MESSAGE)
        if settle and record.response_type in deferred_types:
            errors_before = len(record.errors)

            def resolved() -> bool | None:
                done = record.original_edits > 0 or record.followups or len(record.errors) > errors_before
                return True if done else None

            # On timeout the Reply shows deferred=True with no content; the test decides.
            with contextlib.suppress(TimeoutError):
                await self.wait_until(resolved, max(deadline - time.monotonic(), 0.01), "the deferred response")
        if settle:
            await self.quiesce(deadline)
        return self._reply(record)

    async def quiesce(self, deadline: float | None = None) -> None:
        """Wait until the bot made no REST call for ``settle_quiet`` seconds (bounded by ``deadline``).

        A user never clicks within milliseconds of a reply; without this, a test could click before the bot
        finished its post-response work (e.g. miru binding a view after fetching the sent message).
        """
        deadline = deadline if deadline is not None else time.monotonic() + 2
        while True:
            now = time.monotonic()
            last = max((r.time for r in self.requests[-5:]), default=0.0)
            busy = any(r.status == 0 for r in self.requests[-20:])
            idle_for = now - last
            if (idle_for >= self.settle_quiet and not busy) or now >= deadline:
                return
            await asyncio.sleep(max(self.settle_quiet - idle_for, 0.005))

    def _reply(self, record: InteractionRecord) -> Reply:
        rtype = record.response_type
        shown: JSON | None = record.original if rtype in (4, 5, 6, 7) else None
        if rtype in (5, 6) and record.original_edits == 0 and record.followups:
            shown = record.followups[0]
        return Reply(
            type=rtype,
            content=(shown.get("content") or None) if shown else None,
            embeds=list(shown.get("embeds") or []) if shown else [],
            components=list(shown.get("components") or []) if shown else [],
            flags=int(shown.get("flags") or 0) if shown else 0,
            message=shown,
            followups=record.followups,
            latency=(record.responded_at - record.created) if record.responded_at is not None else None,
            deferred=rtype in (5, 6),
            interaction_id=record.id,
            choices=record.choices,
            modal=record.modal,
            attachments=self.message_factory.attachment_bytes(shown) if shown else [],
            errors=list(record.errors),
        )

    # -- commands ------------------------------------------------------------------------------------------------

    def _lookup_command(self, root: str, ctype: int, guild: FakeGuild | None) -> tuple[JSON, FakeGuild | None] | None:
        guilds = [guild] if guild is not None else list(self.guilds.values())
        for candidate in guilds:
            for command in self.guild_commands.get(candidate.id, []):
                if command["name"] == root and command["type"] == ctype:
                    return command, candidate
        for command in self.global_commands:
            if command["name"] == root and command["type"] == ctype:
                return command, None
        return None

    async def wait_command(
        self, name: str, *, ctype: int = 1, guild: FakeGuild | None = None, timeout: float = 5
    ) -> JSON:
        """Wait until the bot registered command ``name`` (root name for subcommands)."""
        root = name.split(maxsplit=1)[0]
        found = await self.wait_until(
            lambda: self._lookup_command(root, ctype, guild), timeout, f"command {root!r} (type {ctype}) registered"
        )
        return found[0]

    def _convert_option(self, definition: JSON, value: Any, guild: FakeGuild | None, resolved: JSON) -> Any:
        otype = definition["type"]
        name = definition["name"]
        if otype in (OptionType.USER, OptionType.MENTIONABLE) and not isinstance(value, FakeRole):
            uid = value.id if isinstance(value, FakeMember) else int(value["id"] if isinstance(value, dict) else value)
            user = self.users.get(uid) or user_payload(uid, f"user{uid}")
            resolved.setdefault("users", {})[str(uid)] = user
            if guild is not None and uid in guild.members:
                member = guild.members[uid]
                resolved.setdefault("members", {})[str(uid)] = member.payload(with_user=False) | {
                    "permissions": str(guild.permissions_for(uid))
                }
            return str(uid)
        if otype in (OptionType.ROLE, OptionType.MENTIONABLE):
            role = value if isinstance(value, FakeRole) else (guild.roles[int(value)] if guild else None)
            if role is None:
                raise ValueError(f"option {name!r}: roles need a guild")
            resolved.setdefault("roles", {})[str(role.id)] = role.payload()
            return str(role.id)
        if otype == OptionType.CHANNEL:
            channel = value if isinstance(value, FakeChannel) else self.find_channel(int(value))
            if channel is None:
                raise ValueError(f"option {name!r}: unknown channel {value!r}")
            if (types := definition.get("channel_types")) and channel.type not in types:
                raise ValueError(f"option {name!r}: channel type {channel.type} not in {types}")
            resolved.setdefault("channels", {})[str(channel.id)] = channel.partial() | {"permissions": str(Perm.ALL)}
            return str(channel.id)
        if otype == OptionType.ATTACHMENT:
            sent = value if isinstance(value, SentFile) else SentFile(str(value[0]), bytes(value[1]))
            attachment_id = self.new_id()
            self.message_factory.files[attachment_id] = sent
            url = f"{self.cdn_url}/ephemeral-attachments/{attachment_id}/{sent.filename}"
            resolved.setdefault("attachments", {})[str(attachment_id)] = {
                "id": str(attachment_id),
                "filename": sent.filename,
                "size": len(sent.data),
                "url": url,
                "proxy_url": url,
                "content_type": sent.content_type or "application/octet-stream",
                "ephemeral": True,
            }
            return str(attachment_id)
        converted: Any
        if otype == OptionType.INTEGER:
            converted = int(value)
        elif otype == OptionType.NUMBER:
            converted = float(value)
        elif otype == OptionType.BOOLEAN:
            converted = bool(value)
        else:
            converted = str(value)
        self._check_option_value(definition, converted)
        return converted

    @staticmethod
    def _check_option_value(definition: JSON, value: Any) -> None:
        """The Discord client would not let a user submit these; a test doing so is a test bug."""
        name = definition["name"]
        if (choices := definition.get("choices")) and value not in [c["value"] for c in choices]:
            raise ValueError(f"option {name!r}: {value!r} is not one of the choices {choices}")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if definition.get("min_value") is not None and value < definition["min_value"]:
                raise ValueError(f"option {name!r}: {value} < min_value {definition['min_value']}")
            if definition.get("max_value") is not None and value > definition["max_value"]:
                raise ValueError(f"option {name!r}: {value} > max_value {definition['max_value']}")
        if isinstance(value, str):
            if definition.get("min_length") is not None and len(value) < definition["min_length"]:
                raise ValueError(f"option {name!r}: shorter than min_length {definition['min_length']}")
            if definition.get("max_length") is not None and len(value) > definition["max_length"]:
                raise ValueError(f"option {name!r}: longer than max_length {definition['max_length']}")

    def _command_options(
        self,
        command: JSON,
        path: list[str],
        options: OptionsArg,
        guild: FakeGuild | None,
        *,
        focused: str | None = None,
    ) -> tuple[list[JSON], JSON]:
        """Nest options under SUB_COMMAND_GROUP/SUB_COMMAND per the registered shape; fill ``resolved``."""
        definitions: list[JSON] = command.get("options") or []
        chain: list[JSON] = []
        for part in path:
            sub = next((o for o in definitions if o["name"] == part and o["type"] in (OptionType.SUB_COMMAND, 2)), None)
            if sub is None:
                raise ValueError(f"/{command['name']} has no subcommand {part!r} at {'/'.join(path)}")
            chain.append(sub)
            definitions = sub.get("options") or []
        if any(o["type"] in (OptionType.SUB_COMMAND, OptionType.SUB_COMMAND_GROUP) for o in definitions):
            names = [o["name"] for o in definitions]
            raise ValueError(f"/{command['name']} {' '.join(path)} needs a subcommand: {names}")
        by_name = {o["name"]: o for o in definitions}
        resolved: JSON = {}
        leaf: list[JSON] = []
        if options is None:
            items: list[tuple[str, Any]] = []
        elif isinstance(options, Mapping):
            items = list(options.items())
        else:
            items = [(str(o["name"]), o.get("value")) for o in options]
        for key, value in items:
            definition = by_name.get(key)
            if definition is None:
                raise ValueError(f"/{command['name']} has no option {key!r}; options: {list(by_name)}")
            option: JSON = {"name": key, "type": definition["type"]}
            if key == focused:
                option |= {"value": str(value), "focused": True}  # the user's partial input, always a string
            else:
                option["value"] = self._convert_option(definition, value, guild, resolved)
            leaf.append(option)
        if focused is None:
            given = {k for k, _ in items}
            missing = [o["name"] for o in definitions if o.get("required") and o["name"] not in given]
            if missing:
                raise ValueError(f"/{command['name']}: missing required options {missing}")
        for sub in reversed(chain):
            leaf = [{"name": sub["name"], "type": sub["type"], "options": leaf}]
        return leaf, resolved

    async def _command(
        self,
        itype: int,
        ctype: int,
        name: str,
        *,
        options: OptionsArg,
        user: UserLike,
        guild: FakeGuild | None,
        channel: FakeChannel | None,
        dm: bool,
        locale: str,
        timeout: float,
        settle: bool,
        focused: str | None = None,
        target: JSON | None = None,
    ) -> Reply:
        parts = name.split()
        if guild is None and channel is not None and channel.guild_id:
            guild = self.guilds[channel.guild_id]
        if guild is None and isinstance(user, FakeMember):
            guild = self.guilds[user.guild_id]
        found = await self.wait_until(
            lambda: self._lookup_command(parts[0], ctype, guild), timeout, f"command {parts[0]!r} to be registered"
        )
        command, registered_in = found
        guild, channel_obj, user_json, member = self._actor(
            registered_in or guild, channel, user, dm=dm and registered_in is None
        )
        self._check_visible(command, guild, channel_obj, member)
        data: JSON = {"id": command["id"], "name": command["name"], "type": ctype}
        if registered_in is not None:
            data["guild_id"] = str(registered_in.id)
        metadata: JSON = {"name": command["name"], "command_type": ctype}
        if ctype == 1:
            opts, resolved = self._command_options(command, parts[1:], options, guild, focused=focused)
            data["options"] = opts
            if resolved and focused is None:
                data["resolved"] = resolved
        if target is not None:
            data |= target
            if "target_user" in target:
                metadata["target_user"] = target.pop("target_user")
                data.pop("target_user", None)
            if ctype == 3:
                metadata["target_message_id"] = target["target_id"]
        record = self._new_interaction(
            itype,
            data,
            guild=guild,
            channel=channel_obj,
            user=user_json,
            member=member,
            locale=locale,
            metadata=metadata,
        )
        return await self._run(record, timeout=timeout, settle=settle)

    @staticmethod
    def _check_visible(command: JSON, guild: FakeGuild | None, channel: FakeChannel, member: FakeMember | None) -> None:
        """Discord enforces these client-side and server-side; the bot never sees such an invocation."""
        contexts = command.get("contexts")
        context = 0 if guild is not None else 1
        if contexts is not None and context not in contexts:
            raise CommandNotVisibleError(f"/{command['name']} is not available in context {context} ({contexts})")
        needed = command.get("default_member_permissions")
        if guild is None or member is None or needed is None:
            return
        have = guild.permissions_for(member.id, channel)
        # "0" means administrators only.
        required = int(needed) or Perm.ADMINISTRATOR
        if have != Perm.ALL and have & required != required:
            raise CommandNotVisibleError(
                f"/{command['name']} needs permissions {required:#x}; {member.username} has {have:#x}"
            )

    async def slash(
        self,
        name: str,
        options: OptionsArg = None,
        *,
        user: UserLike = None,
        guild: FakeGuild | None = None,
        channel: FakeChannel | None = None,
        dm: bool = False,
        locale: str = "en-US",
        timeout: float = 5,
        settle: bool = True,
    ) -> Reply:
        """Invoke ``/name`` ("poll create" for subcommands) as ``user``; returns the folded reply."""
        return await self._command(
            InteractionType.APPLICATION_COMMAND,
            1,
            name,
            options=options,
            user=user,
            guild=guild,
            channel=channel,
            dm=dm,
            locale=locale,
            timeout=timeout,
            settle=settle,
        )

    async def autocomplete(
        self,
        name: str,
        options: OptionsArg,
        focused: str,
        *,
        user: UserLike = None,
        guild: FakeGuild | None = None,
        channel: FakeChannel | None = None,
        locale: str = "en-US",
        timeout: float = 5,
    ) -> list[JSON]:
        """Type into option ``focused`` (its value in ``options`` is the partial text); returns the choices."""
        reply = await self._command(
            InteractionType.AUTOCOMPLETE,
            1,
            name,
            options=options,
            user=user,
            guild=guild,
            channel=channel,
            dm=False,
            locale=locale,
            timeout=timeout,
            settle=False,
            focused=focused,
        )
        if reply.choices is None:
            raise NoResponseError(f"autocomplete for /{name} got callback type {reply.type}, errors={reply.errors}")
        return reply.choices

    async def user_command(
        self,
        name: str,
        target: FakeMember,
        *,
        user: UserLike = None,
        channel: FakeChannel | None = None,
        locale: str = "en-US",
        timeout: float = 5,
        settle: bool = True,
    ) -> Reply:
        guild = self.guilds[target.guild_id]
        resolved: JSON = {
            "users": {str(target.id): target.user},
            "members": {
                str(target.id): target.payload(with_user=False) | {"permissions": str(guild.permissions_for(target.id))}
            },
        }
        extra: JSON = {"target_id": str(target.id), "resolved": resolved, "target_user": target.user}
        return await self._command(
            InteractionType.APPLICATION_COMMAND,
            2,
            name,
            options=None,
            user=user,
            guild=guild,
            channel=channel,
            dm=False,
            locale=locale,
            timeout=timeout,
            settle=settle,
            target=extra,
        )

    async def message_command(
        self,
        name: str,
        target_message: JSON,
        *,
        user: UserLike = None,
        locale: str = "en-US",
        timeout: float = 5,
        settle: bool = True,
    ) -> Reply:
        channel = self.find_channel(int(target_message["channel_id"]))
        guild = self.guilds.get(channel.guild_id) if channel and channel.guild_id else None
        extra: JSON = {
            "target_id": target_message["id"],
            "resolved": {"messages": {target_message["id"]: copy.deepcopy(target_message)}},
        }
        return await self._command(
            InteractionType.APPLICATION_COMMAND,
            3,
            name,
            options=None,
            user=user,
            guild=guild,
            channel=channel,
            dm=channel is not None and channel.is_dm,
            locale=locale,
            timeout=timeout,
            settle=settle,
            target=extra,
        )

    # -- components & modals -------------------------------------------------------------------------------------

    def _component_context(
        self, message: JSON | Reply, custom_id: str, user: UserLike
    ) -> tuple[JSON, JSON, FakeGuild | None, FakeChannel, JSON, FakeMember | None]:
        if isinstance(message, Reply):
            if message.message is None:
                raise LookupError("this reply has no message to interact with")
            message = message.message
        stored = self.find_message(int(message["id"]))
        if stored is None:
            raise LookupError(f"message {message['id']} is not (or no longer) stored; was it deleted?")
        component = find_component(stored.get("components") or [], custom_id=custom_id)
        if component is None:
            ids = [c["custom_id"] for c in iter_components(stored.get("components") or []) if "custom_id" in c]
            raise LookupError(f"message {stored['id']} has no component {custom_id!r}; it has {ids}")
        if component.get("disabled"):
            raise ValueError(f"component {custom_id!r} is disabled; a user cannot use it")
        channel = self.find_channel(int(stored["channel_id"]))
        if channel is None:
            raise LookupError(f"channel {stored['channel_id']} is unknown")
        guild, channel, user_json, member = self._actor(None, channel, user, dm=channel.is_dm)
        return stored, component, guild, channel, user_json, member

    async def _component(
        self, message: JSON | Reply, custom_id: str, data: JSON, *, user: UserLike, timeout: float, settle: bool
    ) -> Reply:
        stored, component, guild, channel, user_json, member = self._component_context(message, custom_id, user)
        data = {"custom_id": custom_id, "component_type": component["type"], "id": component.get("id")} | data
        metadata: JSON = {"interacted_message_id": stored["id"]}
        record = self._new_interaction(
            InteractionType.MESSAGE_COMPONENT,
            data,
            guild=guild,
            channel=channel,
            user=user_json,
            member=member,
            locale="en-US",
            metadata=metadata,
            message=stored,
        )
        record.source_message = stored  # type 7 edits the stored object in place
        return await self._run(record, timeout=timeout, settle=settle)

    async def click(
        self, message: JSON | Reply, custom_id: str, *, user: UserLike = None, timeout: float = 5, settle: bool = True
    ) -> Reply:
        """Press the button ``custom_id`` (a trailing ``*`` matches a prefix) on a stored message."""
        if custom_id.endswith("*") and isinstance(message, Reply):
            custom_id = str(message.component(custom_id)["custom_id"])
        _, component, *_ = self._component_context(message, custom_id, user)
        if component.get("type") != ComponentType.BUTTON:
            raise ValueError(f"{custom_id!r} is not a button (type {component.get('type')})")
        if component.get("style") == 5:
            raise ValueError("link buttons do not create interactions")
        return await self._component(message, custom_id, {}, user=user, timeout=timeout, settle=settle)

    async def select(
        self,
        message: JSON | Reply,
        custom_id: str,
        values: Sequence[str | int | FakeMember | FakeRole | FakeChannel],
        *,
        user: UserLike = None,
        timeout: float = 5,
        settle: bool = True,
    ) -> Reply:
        """Choose ``values`` in a select menu (option values, or members/roles/channels for entity selects)."""
        stored, component, guild, *_ = self._component_context(message, custom_id, user)
        ctype = component["type"]
        if ctype not in SELECT_TYPES:
            raise ValueError(f"{custom_id!r} is not a select menu (type {ctype})")
        low, high = component.get("min_values", 1), component.get("max_values", 1)
        if not low <= len(values) <= high:
            raise ValueError(f"select {custom_id!r} takes {low}..{high} values, got {len(values)}")
        data: JSON = {}
        resolved: JSON = {}
        if ctype == ComponentType.STRING_SELECT:
            allowed = [o["value"] for o in component.get("options") or []]
            bad = [v for v in values if str(v) not in allowed]
            if bad:
                raise ValueError(f"select {custom_id!r}: {bad} not among options {allowed}")
            data["values"] = [str(v) for v in values]
        else:
            kind = {
                ComponentType.USER_SELECT: OptionType.USER,
                ComponentType.ROLE_SELECT: OptionType.ROLE,
                ComponentType.CHANNEL_SELECT: OptionType.CHANNEL,
                ComponentType.MENTIONABLE_SELECT: OptionType.MENTIONABLE,
            }[ctype]
            data["values"] = [
                self._convert_option({"name": custom_id, "type": kind}, v, guild, resolved) for v in values
            ]
            data["resolved"] = resolved
        return await self._component(stored, custom_id, data, user=user, timeout=timeout, settle=settle)

    async def submit_modal(
        self,
        custom_id: str,
        fields: Mapping[str, str],
        *,
        user: UserLike = None,
        locale: str = "en-US",
        timeout: float = 5,
        settle: bool = True,
    ) -> Reply:
        """Submit the most recent modal shown with ``custom_id``; ``fields`` maps text-input custom_id -> value."""
        opener = next(
            (r for r in reversed(self.interactions.values()) if r.modal and r.modal.get("custom_id") == custom_id),
            None,
        )
        if opener is None:
            raise LookupError(f"no modal with custom_id {custom_id!r} was shown")
        assert opener.modal is not None
        inputs = [c for c in iter_components(opener.modal.get("components") or []) if c.get("type") == 4]
        known = {str(c["custom_id"]) for c in inputs}
        if unknown := set(fields) - known:
            raise ValueError(f"modal {custom_id!r} has no inputs {sorted(unknown)}; inputs: {sorted(known)}")
        for component in inputs:
            value = fields.get(component["custom_id"], component.get("value") or "")
            if component.get("required", True) and not value:
                raise ValueError(f"modal input {component['custom_id']!r} is required")
            if len(value) > component.get("max_length", 4000) or len(value) < component.get("min_length", 0):
                raise ValueError(f"modal input {component['custom_id']!r}: length {len(value)} out of bounds")
        rows: list[JSON] = []
        for top in opener.modal.get("components") or []:
            if top.get("type") == ComponentType.LABEL and isinstance(top.get("component"), dict):
                inner = top["component"]
                rows.append(
                    {
                        "type": ComponentType.LABEL,
                        "id": top.get("id", 0),
                        "component": {
                            "type": 4,
                            "id": inner.get("id", 0),
                            "custom_id": inner["custom_id"],
                            "value": fields.get(inner["custom_id"], inner.get("value") or ""),
                        },
                    }
                )
                continue
            row_inputs = [
                {
                    "type": 4,
                    "id": c.get("id", 0),
                    "custom_id": c["custom_id"],
                    "value": fields.get(c["custom_id"], c.get("value") or ""),
                }
                for c in top.get("components") or []
                if c.get("type") == 4
            ]
            rows.append({"type": ComponentType.ACTION_ROW, "id": top.get("id", 0), "components": row_inputs})
        channel = self.find_channel(opener.channel_id)
        assert channel is not None
        guild = self.guilds.get(opener.guild_id) if opener.guild_id else None
        actor: UserLike = user if user is not None else int(opener.user["id"])
        guild, channel, user_json, member = self._actor(guild, channel, actor, dm=guild is None)
        metadata: JSON = {"triggering_interaction_metadata": opener.metadata}
        record = self._new_interaction(
            InteractionType.MODAL_SUBMIT,
            {"custom_id": custom_id, "components": rows},
            guild=guild,
            channel=channel,
            user=user_json,
            member=member,
            locale=locale,
            metadata=metadata,
            message=opener.source_message,
        )
        record.source_message = opener.source_message
        return await self._run(record, timeout=timeout, settle=settle)

    # -- messages & voice ----------------------------------------------------------------------------------------

    async def say(
        self,
        content: str,
        *,
        author: FakeMember | None = None,
        channel: FakeChannel | None = None,
        guild: FakeGuild | None = None,
        mentions: Sequence[FakeMember] = (),
        mention_roles: Sequence[FakeRole | int] = (),
        mention_everyone: bool = False,
        reply_to: JSON | None = None,
    ) -> JSON:
        """A user posts a message (MESSAGE_CREATE); returns the stored message."""
        await self.flush()
        if channel is not None and channel.is_dm:
            guild_obj: FakeGuild | None = None
            author_user = author.user if author else channel.recipients[0]
            member_payload = None
        else:
            guild_obj = guild or (self.guilds[channel.guild_id] if channel and channel.guild_id else None)
            guild_obj = guild_obj or (self.guilds[author.guild_id] if author else self._default_guild())
            channel = channel or guild_obj.default_channel
            author = author or guild_obj.resolve_member(None)
            author_user = author.user
            member_payload = author.payload(with_user=False)
        message_id = self.new_id()
        message: JSON = {
            "id": str(message_id),
            "channel_id": str(channel.id),
            "author": author_user,
            "content": content,
            "timestamp": iso(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": mention_everyone,
            "mentions": [m.user | ({"member": m.payload(with_user=False)} if guild_obj else {}) for m in mentions],
            "mention_roles": [str(r.id if isinstance(r, FakeRole) else r) for r in mention_roles],
            "attachments": [],
            "embeds": [],
            "reactions": [],
            "pinned": False,
            "type": 19 if reply_to else 0,
            "flags": 0,
            "components": [],
            "nonce": str(message_id),
        }
        if reply_to is not None:
            message["message_reference"] = {"type": 0, "message_id": reply_to["id"], "channel_id": str(channel.id)}
            message["referenced_message"] = copy.deepcopy(reply_to)
        if guild_obj is not None:
            message["guild_id"] = str(guild_obj.id)
            message["member"] = member_payload
        self.store_message(message)
        self._consumed_messages.add(message["id"])  # wait_for_message should find the bot's answer, not this
        await self.dispatch("MESSAGE_CREATE", message)
        return message

    async def set_voice_state(self, member: FakeMember, channel: FakeChannel | None) -> JSON:
        """A member joins (or with None, leaves) a voice channel."""
        guild = self.guilds[member.guild_id]
        state: JSON = {
            "guild_id": str(guild.id),
            "channel_id": str(channel.id) if channel else None,
            "user_id": str(member.id),
            "member": member.payload(),
            "session_id": secrets.token_hex(16),
            "deaf": False,
            "mute": False,
            "self_deaf": False,
            "self_mute": False,
            "self_video": False,
            "self_stream": False,
            "suppress": False,
            "request_to_speak_timestamp": None,
        }
        if channel is None:
            guild.voice_states.pop(member.id, None)
        else:
            guild.voice_states[member.id] = state
        await self.dispatch("VOICE_STATE_UPDATE", state)
        return state

    # -- waiting on the bot --------------------------------------------------------------------------------------

    async def wait_for_request(
        self, method: str, path_regex: str, timeout: float = 5, *, since: int = 0
    ) -> RecordedRequest:
        """First request (index >= ``since``) matching method + path regex that no earlier wait returned."""
        pattern = re.compile(path_regex)

        def check() -> RecordedRequest | None:
            for index in range(since, len(self.requests)):
                req = self.requests[index]
                if index in self._consumed_requests or req.status == 0:
                    continue
                if req.method == method.upper() and pattern.search(req.path):
                    self._consumed_requests.add(index)
                    return req
            return None

        return await self.wait_until(check, timeout, f"request {method} {path_regex}")

    async def wait_for_message(
        self, channel_id: int | FakeChannel, predicate: Callable[[JSON], bool] | None = None, timeout: float = 5
    ) -> JSON:
        """First message in the channel matching ``predicate`` that no earlier wait returned."""
        cid = channel_id.id if isinstance(channel_id, FakeChannel) else int(channel_id)

        def check() -> JSON | None:
            for message in self.messages.get(cid, []):
                if message["id"] in self._consumed_messages:
                    continue
                if predicate is None or predicate(message):
                    self._consumed_messages.add(message["id"])
                    return message
            return None

        return await self.wait_until(check, timeout, f"a message in channel {cid}")
