"""REST API routes of the fake Discord (``/api/v10``), recording every call and enforcing Discord's limits."""

from __future__ import annotations

import datetime
import re
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import BodyPartReader, web

from tests.harness.discord import limits
from tests.harness.discord.messages import SentFile
from tests.harness.discord.state import DiscordHTTPError, FakeDiscordBase, InteractionRecord, RecordedRequest
from tests.harness.discord.world import FakeChannel, FakeGuild, FakeMember
from tests.harness.payloads import (
    JSON,
    CallbackType,
    ChannelType,
    InteractionType,
    MessageFlag,
    Perm,
    error_body,
    now,
    parse_iso,
)
from tests.harness.snowflakes import snowflake_time

RouteHandler = Callable[[RecordedRequest, dict[str, str]], Awaitable[Any]]

_API_PREFIX = "/api/v10"
_MAX_TIMEOUT = datetime.timedelta(days=28)


def _compile(template: str) -> re.Pattern[str]:
    pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", re.escape(template).replace(r"\{", "{").replace(r"\}", "}"))
    return re.compile(f"^{pattern}$")


class _Route:
    def __init__(self, method: str, template: str, handler: RouteHandler, *, auth: bool) -> None:
        self.method = method
        self.template = template
        self.pattern = _compile(template)
        self.handler = handler
        self.auth = auth


def _not_found(code: int, what: str) -> DiscordHTTPError:
    return DiscordHTTPError(404, code, f"Unknown {what}")


def _missing_permissions() -> DiscordHTTPError:
    return DiscordHTTPError(403, 50013, "Missing Permissions")


class RestMixin(FakeDiscordBase):
    def __init__(self, *, shard_count: int = 1, max_concurrency: int = 1) -> None:
        super().__init__(shard_count=shard_count, max_concurrency=max_concurrency)
        self.commands_version = self.new_id()
        self.routes: list[_Route] = []
        r = self._route
        # Gateway / application / users.
        r("GET", "/gateway/bot", self._get_gateway_bot)
        r("GET", "/gateway", self._get_gateway_bot)
        r("GET", "/oauth2/applications/@me", self._get_application)
        r("GET", "/applications/@me", self._get_application)
        r("GET", "/users/@me", self._get_me)
        r("GET", "/users/{user}", self._get_user)
        r("POST", "/users/@me/channels", self._create_dm)
        # Application commands.
        for scope in ("/applications/{app}", "/applications/{app}/guilds/{guild}"):
            r("GET", f"{scope}/commands", self._list_commands)
            r("PUT", f"{scope}/commands", self._put_commands)
            r("POST", f"{scope}/commands", self._create_command)
            r("GET", f"{scope}/commands/{{command}}", self._get_command)
            r("PATCH", f"{scope}/commands/{{command}}", self._edit_command)
            r("DELETE", f"{scope}/commands/{{command}}", self._delete_command)
        r("GET", "/applications/{app}/guilds/{guild}/commands/permissions", self._empty_list)
        # Interactions and their webhooks (hikari sends these without an Authorization header).
        r("POST", "/interactions/{interaction}/{token}/callback", self._interaction_callback, auth=False)
        r("POST", "/webhooks/{app}/{token}", self._create_followup, auth=False)
        for mid in ("@original", "{message}"):
            r("GET", f"/webhooks/{{app}}/{{token}}/messages/{mid}", self._get_webhook_message, auth=False)
            r("PATCH", f"/webhooks/{{app}}/{{token}}/messages/{mid}", self._edit_webhook_message, auth=False)
            r("DELETE", f"/webhooks/{{app}}/{{token}}/messages/{mid}", self._delete_webhook_message, auth=False)
        # Channels and messages.
        r("GET", "/channels/{channel}", self._get_channel)
        r("GET", "/channels/{channel}/messages", self._list_messages)
        r("POST", "/channels/{channel}/messages", self._create_message)
        r("POST", "/channels/{channel}/messages/bulk-delete", self._bulk_delete)
        r("GET", "/channels/{channel}/messages/{message}", self._get_message)
        r("PATCH", "/channels/{channel}/messages/{message}", self._edit_message)
        r("DELETE", "/channels/{channel}/messages/{message}", self._delete_message)
        r("POST", "/channels/{channel}/typing", self._typing)
        r("PUT", "/channels/{channel}/messages/{message}/reactions/{emoji}/@me", self._add_reaction)
        r("DELETE", "/channels/{channel}/messages/{message}/reactions/{emoji}/@me", self._remove_reaction)
        # Guilds, members, roles.
        r("GET", "/guilds/{guild}", self._get_guild)
        r("GET", "/guilds/{guild}/channels", self._list_guild_channels)
        r("GET", "/guilds/{guild}/roles", self._list_roles)
        r("GET", "/guilds/{guild}/members", self._list_members)
        r("GET", "/guilds/{guild}/members/{user}", self._get_member)
        r("PATCH", "/guilds/{guild}/members/{user}", self._edit_member)
        r("DELETE", "/guilds/{guild}/members/{user}", self._kick_member)
        r("PUT", "/guilds/{guild}/members/{user}/roles/{role}", self._add_member_role)
        r("DELETE", "/guilds/{guild}/members/{user}/roles/{role}", self._remove_member_role)
        r("GET", "/guilds/{guild}/bans", self._list_bans)
        r("PUT", "/guilds/{guild}/bans/{user}", self._ban)
        r("DELETE", "/guilds/{guild}/bans/{user}", self._unban)
        # Scheduled events and AutoMod.
        r("GET", "/guilds/{guild}/scheduled-events", self._list_events)
        r("POST", "/guilds/{guild}/scheduled-events", self._create_event)
        r("GET", "/guilds/{guild}/scheduled-events/{event}", self._get_event)
        r("PATCH", "/guilds/{guild}/scheduled-events/{event}", self._edit_event)
        r("DELETE", "/guilds/{guild}/scheduled-events/{event}", self._delete_event)
        r("GET", "/guilds/{guild}/auto-moderation/rules", self._list_rules)
        r("POST", "/guilds/{guild}/auto-moderation/rules", self._create_rule)
        r("GET", "/guilds/{guild}/auto-moderation/rules/{rule}", self._get_rule)
        r("PATCH", "/guilds/{guild}/auto-moderation/rules/{rule}", self._edit_rule)
        r("DELETE", "/guilds/{guild}/auto-moderation/rules/{rule}", self._delete_rule)

    def _route(self, method: str, template: str, handler: RouteHandler, *, auth: bool = True) -> None:
        self.routes.append(_Route(method, template, handler, auth=auth))

    # -- entry point ---------------------------------------------------------------------------------------------

    async def _read_body(self, request: web.Request) -> tuple[Any, list[SentFile]]:
        files: list[SentFile] = []
        if request.content_type.startswith("multipart/"):
            body: Any = None
            reader = await request.multipart()
            async for part in reader:
                if not isinstance(part, BodyPartReader):
                    continue
                raw = await part.read()
                if part.name == "payload_json":
                    body = orjson.loads(raw)
                else:
                    files.append(
                        SentFile(part.filename or part.name or "file", bytes(raw), part.headers.get("Content-Type"))
                    )
            return body, files
        raw = await request.read()
        if not raw:
            return None, files
        try:
            return orjson.loads(raw), files
        except ValueError:
            return raw.decode(errors="replace"), files

    async def _rest_entry(self, request: web.Request) -> web.StreamResponse:
        body, files = await self._read_body(request)
        path = request.path[len(_API_PREFIX) :] if request.path.startswith(_API_PREFIX + "/") else request.path
        rec = RecordedRequest(
            method=request.method,
            path=path,
            route="?",
            query=dict(request.query),
            json=body,
            files=files,
            headers=dict(request.headers),
            time=time.monotonic(),
        )
        self.requests.append(rec)
        status, payload = await self._handle(rec, api=request.path.startswith(_API_PREFIX + "/"))
        rec.status, rec.response = status, payload
        if status >= 400:
            self.error_responses.append(f"{rec.method} {rec.path} -> {status} {payload}")
        self.changed()
        if payload is None:
            return web.Response(status=204)
        # Discord's Content-Type is exactly "application/json", without aiohttp's "; charset=utf-8": discord.py
        # compares the header verbatim and reads any other value as a plain-text body.
        return web.Response(
            body=orjson.dumps(payload, option=orjson.OPT_NON_STR_KEYS),
            status=status,
            headers={"Content-Type": "application/json"},
        )

    async def _handle(self, rec: RecordedRequest, *, api: bool) -> tuple[int, Any]:
        try:
            if not api:
                raise DiscordHTTPError(404, 0, "404: Not Found")
            for rule in self.fail_rules:
                if rule.remaining > 0 and rule.method in (rec.method, "*") and rule.pattern.search(rec.path):
                    rule.remaining -= 1
                    body = error_body(rule.code, rule.message)
                    if rule.status == 429:
                        body |= {"retry_after": 0.05, "global": False}
                    return rule.status, body
            for route in self.routes:
                if route.method != rec.method:
                    continue
                match = route.pattern.match(rec.path)
                if match is None:
                    continue
                rec.route = route.template
                if route.auth and self.reject_token:
                    raise DiscordHTTPError(401, 0, "401: Unauthorized")
                if route.auth and rec.headers.get("Authorization") != f"Bot {self.token}":
                    self.violation(f"{rec.method} {rec.path}: missing or wrong Authorization header")
                    raise DiscordHTTPError(401, 0, "401: Unauthorized")
                result = await route.handler(rec, match.groupdict())
                return 200, result
            self.violation(f"unhandled route {rec.method} {rec.path}")
            raise DiscordHTTPError(404, 0, "404: Not Found")
        except DiscordHTTPError as exc:
            return exc.status, error_body(exc.code, exc.message, exc.errors)

    def _bad_form(self, what: str, problems: list[limits.Problem], record: InteractionRecord | None = None) -> None:
        """Record a limit violation and raise the 400 Discord would answer."""
        if not problems:
            return
        text = "; ".join(f"{path}: {msg}" if path else msg for path, msg in problems)
        self.violation(f"{what}: {text}")
        if record is not None:
            record.errors.append(text)
            self.changed()
        if len(problems) == 1 and problems[0][1].startswith("Cannot send an empty message"):
            raise DiscordHTTPError(400, 50006, "Cannot send an empty message")
        raise DiscordHTTPError(400, 50035, "Invalid Form Body", limits.form_errors(problems))

    # -- lookups -------------------------------------------------------------------------------------------------

    def _guild(self, guild_id: str) -> FakeGuild:
        guild = self.guilds.get(int(guild_id))
        if guild is None:
            raise _not_found(10004, "Guild")
        return guild

    def _channel(self, channel_id: str) -> FakeChannel:
        channel = self.find_channel(int(channel_id))
        if channel is None or channel.deleted:
            raise _not_found(10003, "Channel")
        return channel

    def _member(self, guild: FakeGuild, user_id: str) -> FakeMember:
        member = guild.members.get(int(user_id))
        if member is None:
            raise _not_found(10007, "Member")
        return member

    def _message(self, channel: FakeChannel, message_id: str) -> JSON:
        for message in self.messages[channel.id]:
            if message["id"] == message_id:
                return message
        raise _not_found(10008, "Message")

    def _require(self, guild: FakeGuild | None, perms: int, channel: FakeChannel | None = None) -> None:
        if guild is None:
            return
        have = guild.permissions_for(self.bot_user_id, channel)
        if have & perms != perms:
            raise _missing_permissions()

    def _outranks(self, guild: FakeGuild, target_id: int) -> None:
        """Moderation needs the bot's top role above the target's; nobody can act on the owner."""
        if target_id == guild.owner_id or guild.top_role_position(self.bot_user_id) <= guild.top_role_position(
            target_id
        ):
            raise _missing_permissions()

    def _check_app(self, app: str) -> None:
        if int(app) != self.application_id:
            self.violation(f"request for foreign application {app}")
            raise _not_found(10002, "Application")

    def _guild_of(self, channel: FakeChannel) -> FakeGuild | None:
        return self.guilds.get(channel.guild_id) if channel.guild_id else None

    # -- gateway / application / users ---------------------------------------------------------------------------

    async def _get_gateway_bot(self, rec: RecordedRequest, p: dict[str, str]) -> JSON:
        return {
            "url": self.gateway_url,
            "shards": self.shard_count,
            "session_start_limit": {
                "total": 1000,
                "remaining": 1000 - len(self.identifies),
                "reset_after": 14_400_000,
                "max_concurrency": self.max_concurrency,
            },
        }

    def application_payload(self) -> JSON:
        return {
            "id": str(self.application_id),
            "name": self.bot_name,
            "icon": None,
            "description": "Hanabi test application",
            "summary": "",
            "type": None,
            "bot_public": True,
            "bot_require_code_grant": False,
            "owner": self.owner_user,
            "team": None,
            "verify_key": "ab" * 32,
            "flags": 0,
            "approximate_guild_count": len(self.guilds),
            "approximate_user_install_count": 0,
            "redirect_uris": [],
            "interactions_endpoint_url": None,
            "tags": [],
            "integration_types_config": {"0": {}},
            "bot": self.bot_user,
        }

    async def _get_application(self, rec: RecordedRequest, p: dict[str, str]) -> JSON:
        return self.application_payload()

    async def _get_me(self, rec: RecordedRequest, p: dict[str, str]) -> JSON:
        return self.bot_user | {"mfa_enabled": False, "flags": 0, "verified": True, "email": None, "locale": "en-US"}

    async def _get_user(self, rec: RecordedRequest, p: dict[str, str]) -> JSON:
        user = self.users.get(int(p["user"]))
        if user is None:
            raise _not_found(10013, "User")
        return user

    async def _create_dm(self, rec: RecordedRequest, p: dict[str, str]) -> JSON:
        recipient = int((rec.json or {}).get("recipient_id", 0))
        if recipient not in self.users:
            raise _not_found(10013, "User")
        return self.dm_channel_for(recipient).payload()

    async def _empty_list(self, rec: RecordedRequest, p: dict[str, str]) -> list[JSON]:
        return []

    # -- application commands ------------------------------------------------------------------------------------

    def _command_store(self, p: dict[str, str]) -> list[JSON]:
        self._check_app(p["app"])
        if "guild" in p:
            self._guild(p["guild"])
            return self.guild_commands.setdefault(int(p["guild"]), [])
        return self.global_commands

    def _stored_command(self, body: JSON, p: dict[str, str], existing: JSON | None) -> JSON:
        ctype = int(body.get("type", 1))
        command: JSON = {
            "id": existing["id"] if existing else str(self.new_id()),
            "type": ctype,
            "application_id": str(self.application_id),
            "name": body.get("name"),
            "name_localizations": body.get("name_localizations") or None,
            "description": body.get("description", "") if ctype == 1 else "",
            "description_localizations": body.get("description_localizations") or None,
            "default_member_permissions": (
                str(body["default_member_permissions"]) if body.get("default_member_permissions") is not None else None
            ),
            "nsfw": bool(body.get("nsfw", False)),
            "version": str(self.new_id()),
        }
        if ctype == 1:
            command["options"] = body.get("options") or []
        if "guild" in p:
            command["guild_id"] = p["guild"]
        else:
            command["integration_types"] = body.get("integration_types") or [0]
            command["contexts"] = body.get("contexts")
            command["dm_permission"] = True
        return command

    async def _list_commands(self, rec: RecordedRequest, p: dict[str, str]) -> list[JSON]:
        return self._command_store(p)

    async def _put_commands(self, rec: RecordedRequest, p: dict[str, str]) -> list[JSON]:
        store = self._command_store(p)
        body = rec.json if isinstance(rec.json, list) else []
        self._bad_form("command sync", limits.validate_command_list(body))
        # Bulk overwrite keeps ids of commands whose (type, name) survive, like Discord.
        by_key = {(c["type"], c["name"]): c for c in store}
        new = [self._stored_command(c, p, by_key.get((int(c.get("type", 1)), c.get("name")))) for c in body]
        store[:] = new
        return new

    async def _create_command(self, rec: RecordedRequest, p: dict[str, str]) -> JSON:
        store = self._command_store(p)
        body = rec.json or {}
        self._bad_form("command create", limits.validate_command(body))
        key = (int(body.get("type", 1)), body.get("name"))
        existing = next((c for c in store if (c["type"], c["name"]) == key), None)
        command = self._stored_command(body, p, existing)
        if existing:
            store[store.index(existing)] = command
        else:
            store.append(command)
        return command

    def _find_command(self, store: list[JSON], command_id: str) -> JSON:
        for command in store:
            if command["id"] == command_id:
                return command
        raise _not_found(10063, "application command")

    async def _get_command(self, rec: RecordedRequest, p: dict[str, str]) -> JSON:
        return self._find_command(self._command_store(p), p["command"])

    async def _edit_command(self, rec: RecordedRequest, p: dict[str, str]) -> JSON:
        store = self._command_store(p)
        existing = self._find_command(store, p["command"])
        merged = {k: v for k, v in existing.items() if k != "version"} | (rec.json or {})
        self._bad_form("command edit", limits.validate_command(merged))
        command = self._stored_command(merged, p, existing)
        store[store.index(existing)] = command
        return command

    async def _delete_command(self, rec: RecordedRequest, p: dict[str, str]) -> None:
        store = self._command_store(p)
        store.remove(self._find_command(store, p["command"]))

    # -- interactions --------------------------------------------------------------------------------------------

    def _record_by_token(self, app: str, token: str) -> InteractionRecord:
        self._check_app(app)
        for record in self.interactions.values():
            if record.token == token:
                return record
        self.violation(f"webhook call with unknown interaction token {token[:12]}...")
        raise _not_found(10015, "Webhook")

    def _response_message(self, record: InteractionRecord, body: JSON, files: list[SentFile], *, loading: bool) -> JSON:
        message_type = 0
        if record.type == InteractionType.APPLICATION_COMMAND:
            message_type = 20 if record.payload["data"].get("type", 1) == 1 else 23
        message = self.message_factory.create(
            body,
            channel_id=record.channel_id,
            author=self.bot_user,
            guild_id=record.guild_id,
            files=files,
            message_type=message_type,
            webhook_id=self.application_id,
            application_id=self.application_id,
            interaction_metadata=record.metadata,
            extra_flags=MessageFlag.LOADING if loading else 0,
        )
        self.store_message(message)
        if not message["flags"] & MessageFlag.EPHEMERAL:
            self.notify("MESSAGE_CREATE", message, guild_id=record.guild_id)
        return message

    def _check_callback_type(self, record: InteractionRecord, cb_type: int) -> None:
        allowed = {
            InteractionType.APPLICATION_COMMAND: {4, 5, 9},
            InteractionType.MESSAGE_COMPONENT: {4, 5, 6, 7, 9},
            InteractionType.AUTOCOMPLETE: {8},
            InteractionType.MODAL_SUBMIT: {4, 5, 6, 7} if record.source_message else {4, 5},
        }[record.type]
        if cb_type not in allowed:
            self._bad_form(
                f"interaction {record.id} callback",
                [("type", f"Callback type {cb_type} is invalid for interaction type {record.type}.")],
                record,
            )

    async def _interaction_callback(self, rec: RecordedRequest, p: dict[str, str]) -> JSON:
        record = self.interactions.get(int(p["interaction"]))
        if record is None or record.token != p["token"]:
            self.violation(f"callback for unknown interaction {p['interaction']}")
            raise _not_found(10062, "interaction")
        body = rec.json if isinstance(rec.json, dict) else {}
        cb_type = int(body.get("type", 0))
        data: JSON = body.get("data") or {}
        elapsed = rec.time - record.created
        if record.response_type is not None:
            message = f"interaction {record.id}: second initial response (type {cb_type} after {record.response_type})"
            self.violation(message)
            record.errors.append(message)
            raise DiscordHTTPError(400, 40060, "Interaction has already been acknowledged.")
        if elapsed > self.interaction_deadline:
            message = f"interaction {record.id}: first response after {elapsed:.2f}s (> {self.interaction_deadline}s)"
            self.violation(message)
            record.errors.append(message)
            self.changed()
            raise _not_found(10062, "interaction")
        self._check_callback_type(record, cb_type)
        what = f"interaction {record.id} callback type {cb_type}"
        if cb_type == CallbackType.CHANNEL_MESSAGE:
            self._bad_form(what, limits.validate_message(data, has_files=bool(rec.files)), record)
        elif cb_type == CallbackType.UPDATE_MESSAGE:
            self._bad_form(what, limits.validate_message(data, creating=False), record)
        elif cb_type == CallbackType.MODAL:
            self._bad_form(what, limits.validate_modal(data), record)
        elif cb_type == CallbackType.AUTOCOMPLETE_RESULT:
            self._bad_form(what, limits.validate_autocomplete(data), record)

        record.response_type = cb_type
        record.responded_at = rec.time
        resource: JSON = {"type": cb_type}
        if cb_type in (CallbackType.CHANNEL_MESSAGE, CallbackType.DEFERRED_CHANNEL_MESSAGE):
            loading = cb_type == CallbackType.DEFERRED_CHANNEL_MESSAGE
            content_body = {"flags": data.get("flags", 0)} if loading else data
            record.original = self._response_message(record, content_body, rec.files, loading=loading)
            resource["message"] = record.original
        elif cb_type in (CallbackType.DEFERRED_UPDATE_MESSAGE, CallbackType.UPDATE_MESSAGE):
            record.original = record.source_message
            if record.original is not None:
                if cb_type == CallbackType.UPDATE_MESSAGE:
                    self.message_factory.edit(record.original, data, rec.files)
                    record.original_edits += 1
                    if not record.original["flags"] & MessageFlag.EPHEMERAL:
                        self.notify("MESSAGE_UPDATE", record.original, guild_id=record.guild_id)
                resource["message"] = record.original
        elif cb_type == CallbackType.AUTOCOMPLETE_RESULT:
            record.choices = list(data.get("choices") or [])
        elif cb_type == CallbackType.MODAL:
            record.modal = data
        self.changed()
        interaction: JSON = {
            "id": str(record.id),
            "type": record.type,
            "response_message_loading": cb_type == CallbackType.DEFERRED_CHANNEL_MESSAGE,
            "response_message_ephemeral": bool(int(data.get("flags") or 0) & MessageFlag.EPHEMERAL),
        }
        if record.original is not None and "message" in resource:
            interaction["response_message_id"] = record.original["id"]
        return {"interaction": interaction, "resource": resource}

    async def _create_followup(self, rec: RecordedRequest, p: dict[str, str]) -> JSON:
        record = self._record_by_token(p["app"], p["token"])
        if record.response_type is None:
            problem = f"interaction {record.id}: follow-up sent before the initial response"
            self.violation(problem)
            record.errors.append(problem)
            raise _not_found(10015, "Webhook")
        body = rec.json if isinstance(rec.json, dict) else {}
        self._bad_form(f"interaction {record.id} follow-up", limits.validate_message(body, has_files=bool(rec.files)))
        original = record.original
        if (
            record.response_type == CallbackType.DEFERRED_CHANNEL_MESSAGE
            and original is not None
            and original["flags"] & MessageFlag.LOADING
        ):
            # Discord: the first follow-up after a deferred message response *becomes* the "thinking..."
            # message (same id, the deferral's ephemerality wins) instead of creating a new one.
            self.message_factory.edit(original, {k: v for k, v in body.items() if k != "flags"}, rec.files)
            record.original_edits += 1
            if not original["flags"] & MessageFlag.EPHEMERAL:
                self.notify("MESSAGE_UPDATE", original, guild_id=record.guild_id)
            self.changed()
            return original
        message = self._response_message(record, body, rec.files, loading=False)
        record.followups.append(message)
        self.changed()
        return message

    def _webhook_target(self, record: InteractionRecord, message_id: str | None) -> JSON:
        if message_id is None:  # @original
            if record.response_type is None or record.original is None:
                self.violation(f"interaction {record.id}: @original used before a message response exists")
                raise _not_found(10008, "Message")
            return record.original
        for message in [record.original, *record.followups]:
            if message is not None and message["id"] == message_id:
                return message
        raise _not_found(10008, "Message")

    async def _get_webhook_message(self, rec: RecordedRequest, p: dict[str, str]) -> JSON:
        record = self._record_by_token(p["app"], p["token"])
        return self._webhook_target(record, p.get("message"))

    def _check_edit(self, what: str, message: JSON, body: JSON, files: list[SentFile]) -> None:
        """Validate the message as it would look after the edit (limits + not empty)."""
        merged = {k: message.get(k) for k in ("content", "embeds", "components", "flags")}
        merged |= {k: body[k] for k in ("content", "embeds", "components") if k in body}
        if "flags" in body and body["flags"] is not None:
            merged["flags"] = int(body["flags"])
        has_files = bool(files) or bool(message.get("attachments") and "attachments" not in body)
        has_files = has_files or bool(body.get("attachments"))
        self._bad_form(what, limits.validate_message(merged, has_files=has_files))

    async def _edit_webhook_message(self, rec: RecordedRequest, p: dict[str, str]) -> JSON:
        record = self._record_by_token(p["app"], p["token"])
        message = self._webhook_target(record, p.get("message"))
        body = rec.json if isinstance(rec.json, dict) else {}
        self._check_edit(f"interaction {record.id} edit", message, body, rec.files)
        self.message_factory.edit(message, body, rec.files)
        if message is record.original:
            record.original_edits += 1
        if not message["flags"] & MessageFlag.EPHEMERAL:
            self.notify("MESSAGE_UPDATE", message, guild_id=record.guild_id)
        self.changed()
        return message

    async def _delete_webhook_message(self, rec: RecordedRequest, p: dict[str, str]) -> None:
        record = self._record_by_token(p["app"], p["token"])
        message = self._webhook_target(record, p.get("message"))
        self._delete_stored(message, record.guild_id)

    def _delete_stored(self, message: JSON, guild_id: int | None) -> None:
        self.remove_message(message)
        if not message["flags"] & MessageFlag.EPHEMERAL:
            data: JSON = {"id": message["id"], "channel_id": message["channel_id"]}
            if guild_id:
                data["guild_id"] = str(guild_id)
            self.notify("MESSAGE_DELETE", data, guild_id=guild_id)

    # -- channels & messages -------------------------------------------------------------------------------------

    async def _get_channel(self, rec: RecordedRequest, p: dict[str, str]) -> JSON:
        return self._channel(p["channel"]).payload()

    async def _list_messages(self, rec: RecordedRequest, p: dict[str, str]) -> list[JSON]:
        channel = self._channel(p["channel"])
        self._require(self._guild_of(channel), Perm.VIEW_CHANNEL | Perm.READ_MESSAGE_HISTORY, channel)
        limit = int(rec.query.get("limit", "50"))
        if not 1 <= limit <= 100:
            self._bad_form("message history", [("limit", "Must be between 1 and 100.")])
        history = [m for m in self.messages[channel.id] if not m["flags"] & MessageFlag.EPHEMERAL]
        history.sort(key=lambda m: int(m["id"]), reverse=True)  # newest first, like Discord
        if before := rec.query.get("before"):
            history = [m for m in history if int(m["id"]) < int(before)]
        if after := rec.query.get("after"):
            history = [m for m in history if int(m["id"]) > int(after)]
            history = sorted(history, key=lambda m: int(m["id"]))[:limit][::-1]
        return history[:limit]

    async def _create_message(self, rec: RecordedRequest, p: dict[str, str]) -> JSON:
        channel = self._channel(p["channel"])
        guild = self._guild_of(channel)
        if channel.is_dm and any(int(u["id"]) in self.dm_blocked for u in channel.recipients):
            raise DiscordHTTPError(403, 50007, "Cannot send messages to this user")
        if channel.deny_send:
            raise _missing_permissions()
        needed = Perm.VIEW_CHANNEL | Perm.SEND_MESSAGES | (Perm.ATTACH_FILES if rec.files else 0)
        self._require(guild, needed, channel)
        body = rec.json if isinstance(rec.json, dict) else {}
        self._bad_form(f"message to channel {channel.id}", limits.validate_message(body, has_files=bool(rec.files)))
        ref: Any = body.get("message_reference")
        replying = isinstance(ref, dict) and ref.get("message_id") and ref.get("fail_if_not_exists", True)
        if replying and self.find_message(int(ref["message_id"])) is None:
            self._bad_form("reply", [("message_reference", "Unknown message")])
        message = self.message_factory.create(
            body,
            channel_id=channel.id,
            author=self.bot_user,
            guild_id=channel.guild_id,
            member=guild.bot_member.payload(with_user=False) if guild else None,
            files=rec.files,
            message_type=19 if body.get("message_reference") else 0,
        )
        self.store_message(message)
        self.notify("MESSAGE_CREATE", message, guild_id=channel.guild_id)
        return message

    async def _get_message(self, rec: RecordedRequest, p: dict[str, str]) -> JSON:
        channel = self._channel(p["channel"])
        self._require(self._guild_of(channel), Perm.VIEW_CHANNEL | Perm.READ_MESSAGE_HISTORY, channel)
        return self._message(channel, p["message"])

    async def _edit_message(self, rec: RecordedRequest, p: dict[str, str]) -> JSON:
        channel = self._channel(p["channel"])
        message = self._message(channel, p["message"])
        if int(message["author"]["id"]) != self.bot_user_id:
            raise DiscordHTTPError(403, 50005, "Cannot edit a message authored by another user")
        body = rec.json if isinstance(rec.json, dict) else {}
        self._check_edit(f"edit of message {message['id']}", message, body, rec.files)
        self.message_factory.edit(message, body, rec.files)
        self.notify("MESSAGE_UPDATE", message, guild_id=channel.guild_id)
        self.changed()
        return message

    async def _delete_message(self, rec: RecordedRequest, p: dict[str, str]) -> None:
        channel = self._channel(p["channel"])
        message = self._message(channel, p["message"])
        if int(message["author"]["id"]) != self.bot_user_id:
            if channel.is_dm:
                raise DiscordHTTPError(403, 50003, "Cannot execute action on a DM channel")
            self._require(self._guild_of(channel), Perm.MANAGE_MESSAGES, channel)
        self._delete_stored(message, channel.guild_id)

    async def _bulk_delete(self, rec: RecordedRequest, p: dict[str, str]) -> None:
        channel = self._channel(p["channel"])
        self._require(self._guild_of(channel), Perm.MANAGE_MESSAGES, channel)
        ids = [str(i) for i in (rec.json or {}).get("messages", [])]
        if not 2 <= len(ids) <= 100:
            self._bad_form("bulk delete", [("messages", f"Must be between 2 and 100 in length (got {len(ids)}).")])
        cutoff = now() - datetime.timedelta(days=14)
        if any(snowflake_time(int(i)) < cutoff for i in ids):
            raise DiscordHTTPError(400, 50034, "You can only bulk delete messages that are under 14 days old.")
        deleted = [m for m in list(self.messages[channel.id]) if m["id"] in ids]
        for message in deleted:
            self.remove_message(message)
        data: JSON = {"ids": ids, "channel_id": str(channel.id)}
        if channel.guild_id:
            data["guild_id"] = str(channel.guild_id)
        self.notify("MESSAGE_DELETE_BULK", data, guild_id=channel.guild_id)

    async def _typing(self, rec: RecordedRequest, p: dict[str, str]) -> None:
        self._channel(p["channel"])

    def _reaction_target(self, p: dict[str, str]) -> tuple[FakeChannel, JSON, JSON]:
        channel = self._channel(p["channel"])
        message = self._message(channel, p["message"])
        raw = urllib.parse.unquote(p["emoji"])
        if ":" in raw:
            name, emoji_id = raw.split(":", 1)
            emoji: JSON = {"id": emoji_id, "name": name}
        else:
            emoji = {"id": None, "name": raw}
        return channel, message, emoji

    async def _add_reaction(self, rec: RecordedRequest, p: dict[str, str]) -> None:
        channel, message, emoji = self._reaction_target(p)
        self._require(self._guild_of(channel), Perm.ADD_REACTIONS | Perm.READ_MESSAGE_HISTORY, channel)
        for reaction in message["reactions"]:
            if reaction["emoji"] == emoji:
                if not reaction["me"]:
                    reaction["me"] = True
                    reaction["count"] += 1
                    reaction["count_details"]["normal"] += 1
                return
        message["reactions"].append(
            {
                "count": 1,
                "count_details": {"burst": 0, "normal": 1},
                "me": True,
                "me_burst": False,
                "emoji": emoji,
                "burst_colors": [],
            }
        )

    async def _remove_reaction(self, rec: RecordedRequest, p: dict[str, str]) -> None:
        _, message, emoji = self._reaction_target(p)
        for reaction in list(message["reactions"]):
            if reaction["emoji"] == emoji and reaction["me"]:
                reaction["me"] = False
                reaction["count"] -= 1
                reaction["count_details"]["normal"] -= 1
                if reaction["count"] <= 0:
                    message["reactions"].remove(reaction)

    # -- guilds, members, roles ----------------------------------------------------------------------------------

    async def _get_guild(self, rec: RecordedRequest, p: dict[str, str]) -> JSON:
        return self._guild(p["guild"]).rest_payload(with_counts=rec.query.get("with_counts") == "true")

    async def _list_guild_channels(self, rec: RecordedRequest, p: dict[str, str]) -> list[JSON]:
        return [c.payload() for c in self._guild(p["guild"]).channels.values() if not c.deleted]

    async def _list_roles(self, rec: RecordedRequest, p: dict[str, str]) -> list[JSON]:
        return [r.payload() for r in self._guild(p["guild"]).roles.values()]

    async def _list_members(self, rec: RecordedRequest, p: dict[str, str]) -> list[JSON]:
        guild = self._guild(p["guild"])
        after = int(rec.query.get("after", "0"))
        limit = int(rec.query.get("limit", "1"))
        members = sorted((m for m in guild.members.values() if m.id > after), key=lambda m: m.id)
        return [m.payload() for m in members[:limit]]

    async def _get_member(self, rec: RecordedRequest, p: dict[str, str]) -> JSON:
        guild = self._guild(p["guild"])
        return self._member(guild, p["user"]).payload()

    def _member_update(self, guild: FakeGuild, member: FakeMember) -> None:
        self.notify("GUILD_MEMBER_UPDATE", member.payload() | {"guild_id": str(guild.id)}, guild_id=guild.id)
        self.changed()

    def _check_role_assignable(self, guild: FakeGuild, role_id: int) -> None:
        role = guild.roles.get(role_id)
        if role is None:
            raise _not_found(10011, "Role")
        self._require(guild, Perm.MANAGE_ROLES)
        if role.managed or role.id == guild.id or role.position >= guild.top_role_position(self.bot_user_id):
            raise _missing_permissions()

    async def _edit_member(self, rec: RecordedRequest, p: dict[str, str]) -> JSON:
        guild = self._guild(p["guild"])
        member = self._member(guild, p["user"])
        body = rec.json if isinstance(rec.json, dict) else {}
        if "communication_disabled_until" in body:
            self._require(guild, Perm.MODERATE_MEMBERS)
            self._outranks(guild, member.id)
            if guild.base_permissions(member.id) & Perm.ADMINISTRATOR:
                raise _missing_permissions()  # administrators cannot be timed out
            until = body["communication_disabled_until"]
            if until is not None and parse_iso(until) - now() > _MAX_TIMEOUT:
                self._bad_form("member timeout", [("communication_disabled_until", "Timeout exceeds 28 days.")])
            member.communication_disabled_until = until
        if "roles" in body:
            wanted = {int(r) for r in body["roles"] or []}
            for role_id in wanted ^ set(member.roles):
                self._check_role_assignable(guild, role_id)
            member.roles = sorted(wanted)
        if "nick" in body:
            self._require(guild, Perm.CHANGE_NICKNAME if member.id == self.bot_user_id else Perm.MANAGE_NICKNAMES)
            if member.id != self.bot_user_id:
                self._outranks(guild, member.id)
            member.nick = body["nick"]
        for key, perm in (("mute", Perm.MUTE_MEMBERS), ("deaf", Perm.DEAFEN_MEMBERS)):
            if key in body:
                self._require(guild, perm)
                setattr(member, key, bool(body[key]))
        if "channel_id" in body:
            self._require(guild, Perm.MOVE_MEMBERS)
            if member.id not in guild.voice_states:
                raise DiscordHTTPError(400, 40032, "Target user is not connected to voice.")
            guild.voice_states[member.id]["channel_id"] = body["channel_id"]
            if body["channel_id"] is None:
                guild.voice_states.pop(member.id)
        self._member_update(guild, member)
        return member.payload()

    async def _kick_member(self, rec: RecordedRequest, p: dict[str, str]) -> None:
        guild = self._guild(p["guild"])
        member = self._member(guild, p["user"])
        self._require(guild, Perm.KICK_MEMBERS)
        self._outranks(guild, member.id)
        del guild.members[member.id]
        self.notify("GUILD_MEMBER_REMOVE", {"guild_id": str(guild.id), "user": member.user}, guild_id=guild.id)

    async def _add_member_role(self, rec: RecordedRequest, p: dict[str, str]) -> None:
        guild = self._guild(p["guild"])
        member = self._member(guild, p["user"])
        role_id = int(p["role"])
        self._check_role_assignable(guild, role_id)
        if role_id not in member.roles:
            member.roles.append(role_id)
            self._member_update(guild, member)

    async def _remove_member_role(self, rec: RecordedRequest, p: dict[str, str]) -> None:
        guild = self._guild(p["guild"])
        member = self._member(guild, p["user"])
        role_id = int(p["role"])
        self._check_role_assignable(guild, role_id)
        if role_id in member.roles:
            member.roles.remove(role_id)
            self._member_update(guild, member)

    async def _list_bans(self, rec: RecordedRequest, p: dict[str, str]) -> list[JSON]:
        guild = self._guild(p["guild"])
        self._require(guild, Perm.BAN_MEMBERS)
        return list(guild.bans.values())

    async def _ban(self, rec: RecordedRequest, p: dict[str, str]) -> None:
        guild = self._guild(p["guild"])
        self._require(guild, Perm.BAN_MEMBERS)
        user_id = int(p["user"])
        user = self.users.get(user_id)
        if user is None:
            raise _not_found(10013, "User")
        if user_id in guild.members:
            self._outranks(guild, user_id)
            del guild.members[user_id]
            self.notify("GUILD_MEMBER_REMOVE", {"guild_id": str(guild.id), "user": user}, guild_id=guild.id)
        guild.bans[user_id] = {"reason": rec.headers.get("X-Audit-Log-Reason"), "user": user}
        self.notify("GUILD_BAN_ADD", {"guild_id": str(guild.id), "user": user}, guild_id=guild.id)

    async def _unban(self, rec: RecordedRequest, p: dict[str, str]) -> None:
        guild = self._guild(p["guild"])
        self._require(guild, Perm.BAN_MEMBERS)
        ban = guild.bans.pop(int(p["user"]), None)
        if ban is None:
            raise _not_found(10026, "Ban")
        self.notify("GUILD_BAN_REMOVE", {"guild_id": str(guild.id), "user": ban["user"]}, guild_id=guild.id)

    # -- scheduled events ----------------------------------------------------------------------------------------

    def _event(self, guild: FakeGuild, event_id: str) -> JSON:
        event = guild.scheduled_events.get(int(event_id))
        if event is None:
            raise _not_found(10070, "Guild Scheduled Event")
        return event

    def _validate_event(self, guild: FakeGuild, event: JSON, *, creating: bool) -> None:
        problems: list[limits.Problem] = []
        name = event.get("name") or ""
        if not 1 <= len(name) <= 100:
            problems.append(("name", "Must be between 1 and 100 in length."))
        if len(event.get("description") or "") > 1000:
            problems.append(("description", "Must be 1000 or fewer in length."))
        if event.get("privacy_level") != 2:
            problems.append(("privacy_level", "Only GUILD_ONLY (2) is allowed."))
        entity_type = event.get("entity_type")
        start = event.get("scheduled_start_time")
        end = event.get("scheduled_end_time")
        if not start:
            problems.append(("scheduled_start_time", "This field is required."))
        elif creating and parse_iso(start) < now():
            problems.append(("scheduled_start_time", "Cannot schedule event in the past."))
        if start and end and parse_iso(end) <= parse_iso(start):
            problems.append(("scheduled_end_time", "End time must be after start time."))
        if entity_type == 3:
            location = (event.get("entity_metadata") or {}).get("location") or ""
            if not 1 <= len(location) <= 100:
                problems.append(("entity_metadata.location", "External events need a location (1-100)."))
            if not end:
                problems.append(("scheduled_end_time", "External events need an end time."))
            if event.get("channel_id"):
                problems.append(("channel_id", "External events cannot have a channel."))
        elif entity_type in (1, 2):
            channel = guild.channels.get(int(event.get("channel_id") or 0))
            wanted = ChannelType.GUILD_STAGE if entity_type == 1 else ChannelType.GUILD_VOICE
            if channel is None or channel.type != wanted:
                problems.append(("channel_id", f"Entity type {entity_type} needs a channel of type {wanted}."))
        else:
            problems.append(("entity_type", f"Invalid entity type {entity_type}."))
        self._bad_form("scheduled event", problems)

    async def _list_events(self, rec: RecordedRequest, p: dict[str, str]) -> list[JSON]:
        return list(self._guild(p["guild"]).scheduled_events.values())

    async def _get_event(self, rec: RecordedRequest, p: dict[str, str]) -> JSON:
        return self._event(self._guild(p["guild"]), p["event"])

    async def _create_event(self, rec: RecordedRequest, p: dict[str, str]) -> JSON:
        guild = self._guild(p["guild"])
        self._require(guild, Perm.MANAGE_EVENTS)
        body = rec.json if isinstance(rec.json, dict) else {}
        self._validate_event(guild, body, creating=True)
        event_id = self.new_id()
        event: JSON = {
            "id": str(event_id),
            "guild_id": str(guild.id),
            "channel_id": str(body["channel_id"]) if body.get("channel_id") else None,
            "creator_id": str(self.bot_user_id),
            "creator": self.bot_user,
            "name": body["name"],
            "description": body.get("description"),
            "scheduled_start_time": body["scheduled_start_time"],
            "scheduled_end_time": body.get("scheduled_end_time"),
            "privacy_level": body.get("privacy_level", 2),
            "status": 1,
            "entity_type": body["entity_type"],
            "entity_id": None,
            "entity_metadata": body.get("entity_metadata"),
            "user_count": 0,
            "image": None,
            "recurrence_rule": body.get("recurrence_rule"),
        }
        guild.scheduled_events[event_id] = event
        self.notify("GUILD_SCHEDULED_EVENT_CREATE", event, guild_id=guild.id)
        return event

    async def _edit_event(self, rec: RecordedRequest, p: dict[str, str]) -> JSON:
        guild = self._guild(p["guild"])
        self._require(guild, Perm.MANAGE_EVENTS)
        event = self._event(guild, p["event"])
        body = rec.json if isinstance(rec.json, dict) else {}
        merged = event | body
        self._validate_event(guild, merged, creating="scheduled_start_time" in body)
        status = body.get("status")
        transitions = {1: {2, 4}, 2: {3}}
        if status is not None and status != event["status"] and status not in transitions.get(event["status"], set()):
            self._bad_form("scheduled event", [("status", f"Invalid status transition {event['status']}->{status}.")])
        event.update(body)
        self.notify("GUILD_SCHEDULED_EVENT_UPDATE", event, guild_id=guild.id)
        return event

    async def _delete_event(self, rec: RecordedRequest, p: dict[str, str]) -> None:
        guild = self._guild(p["guild"])
        self._require(guild, Perm.MANAGE_EVENTS)
        event = self._event(guild, p["event"])
        del guild.scheduled_events[int(event["id"])]
        self.notify("GUILD_SCHEDULED_EVENT_DELETE", event, guild_id=guild.id)

    # -- auto moderation -----------------------------------------------------------------------------------------

    def _rule(self, guild: FakeGuild, rule_id: str) -> JSON:
        rule = guild.automod_rules.get(int(rule_id))
        if rule is None:
            raise _not_found(10066, "Auto Moderation Rule")
        return rule

    def _normalize_rule(self, guild: FakeGuild, rule: JSON, *, rule_id: int | None) -> JSON:
        problems: list[limits.Problem] = []
        trigger_type = rule.get("trigger_type")
        metadata = dict(rule.get("trigger_metadata") or {})
        if not 1 <= len(rule.get("name") or "") <= 100:
            problems.append(("name", "Must be between 1 and 100 in length."))
        if trigger_type in (1, 6):
            metadata.setdefault("keyword_filter", [])
            metadata.setdefault("regex_patterns", [])
            metadata.setdefault("allow_list", [])
            if len(metadata["keyword_filter"]) > 1000 or any(len(k) > 60 for k in metadata["keyword_filter"]):
                problems.append(("trigger_metadata.keyword_filter", "At most 1000 keywords of 60 characters."))
            if len(metadata["regex_patterns"]) > 10 or any(len(k) > 260 for k in metadata["regex_patterns"]):
                problems.append(("trigger_metadata.regex_patterns", "At most 10 patterns of 260 characters."))
            if len(metadata["allow_list"]) > 100:
                problems.append(("trigger_metadata.allow_list", "At most 100 entries."))
        elif trigger_type == 4:
            metadata.setdefault("presets", [])
            metadata.setdefault("allow_list", [])
        elif trigger_type == 5:
            metadata.setdefault("mention_total_limit", 0)
            metadata.setdefault("mention_raid_protection_enabled", False)
            if not 1 <= int(metadata["mention_total_limit"]) <= 50:
                problems.append(("trigger_metadata.mention_total_limit", "Must be between 1 and 50."))
        elif trigger_type != 3:
            problems.append(("trigger_type", f"Invalid trigger type {trigger_type}."))
        per_type_limit = {1: 6, 3: 1, 4: 1, 5: 1, 6: 1}.get(int(trigger_type or 0), 1)
        same = [
            r for r in guild.automod_rules.values() if r["trigger_type"] == trigger_type and r["id"] != str(rule_id)
        ]
        if len(same) >= per_type_limit:
            raise DiscordHTTPError(400, 30035, "Maximum number of rules of this trigger type reached")
        actions = rule.get("actions") or []
        if not actions:
            problems.append(("actions", "At least one action is required."))
        for i, action in enumerate(actions):
            action.setdefault("metadata", {})
            if action.get("type") == 2 and int(action["metadata"].get("channel_id") or 0) not in guild.channels:
                problems.append((f"actions.{i}.metadata.channel_id", "Unknown channel."))
            if action.get("type") == 3:
                duration = int(action["metadata"].get("duration_seconds") or 0)
                if not 0 < duration <= 2_419_200:
                    problems.append((f"actions.{i}.metadata.duration_seconds", "Must be between 1 and 2419200."))
        self._bad_form("automod rule", problems)
        return {
            "id": str(rule_id or self.new_id()),
            "guild_id": str(guild.id),
            "name": rule["name"],
            "creator_id": str(rule.get("creator_id") or self.bot_user_id),
            "event_type": rule.get("event_type", 1),
            "trigger_type": trigger_type,
            "trigger_metadata": metadata,
            "actions": actions,
            "enabled": bool(rule.get("enabled", False)),
            "exempt_roles": [str(r) for r in rule.get("exempt_roles") or []],
            "exempt_channels": [str(c) for c in rule.get("exempt_channels") or []],
        }

    async def _list_rules(self, rec: RecordedRequest, p: dict[str, str]) -> list[JSON]:
        guild = self._guild(p["guild"])
        self._require(guild, Perm.MANAGE_GUILD)
        return list(guild.automod_rules.values())

    async def _get_rule(self, rec: RecordedRequest, p: dict[str, str]) -> JSON:
        guild = self._guild(p["guild"])
        self._require(guild, Perm.MANAGE_GUILD)
        return self._rule(guild, p["rule"])

    async def _create_rule(self, rec: RecordedRequest, p: dict[str, str]) -> JSON:
        guild = self._guild(p["guild"])
        self._require(guild, Perm.MANAGE_GUILD)
        rule = self._normalize_rule(guild, dict(rec.json or {}), rule_id=None)
        guild.automod_rules[int(rule["id"])] = rule
        self.notify("AUTO_MODERATION_RULE_CREATE", rule, guild_id=guild.id)
        return rule

    async def _edit_rule(self, rec: RecordedRequest, p: dict[str, str]) -> JSON:
        guild = self._guild(p["guild"])
        self._require(guild, Perm.MANAGE_GUILD)
        existing = self._rule(guild, p["rule"])
        rule = self._normalize_rule(guild, existing | dict(rec.json or {}), rule_id=int(existing["id"]))
        guild.automod_rules[int(rule["id"])] = rule
        self.notify("AUTO_MODERATION_RULE_UPDATE", rule, guild_id=guild.id)
        return rule

    async def _delete_rule(self, rec: RecordedRequest, p: dict[str, str]) -> None:
        guild = self._guild(p["guild"])
        self._require(guild, Perm.MANAGE_GUILD)
        rule = self._rule(guild, p["rule"])
        del guild.automod_rules[int(rule["id"])]
        self.notify("AUTO_MODERATION_RULE_DELETE", rule, guild_id=guild.id)
