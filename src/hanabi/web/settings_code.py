"""Settings as code: a server's whole configuration as YAML, and an uploaded YAML file turned into a plan.

`export` reads the current state through the services. `plan` parses an upload into the same shape (refusing
unknown keys and wrong types), compares the two, and lists the operations that would make the server match; a
unified diff of the two documents shows the same thing as text. `apply` carries the operations out through
`GuildAdmin`, so every rule the commands enforce applies, each change is logged, and caches everywhere drop.

The document is declarative: shop items and announcements missing from an upload are removed.
"""

from __future__ import annotations

import difflib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import yaml

from hanabi.errors import DomainError, InvalidInput
from hanabi.services.automod import Action, Rule, Step
from hanabi.web.actions import GuildAdmin, Services

VERSION = 1
MAX_UPLOAD = 256 * 1024
RULE_KEYS = frozenset({"enabled", "count", "seconds", "delete", "action", "timeout", "escalate", "allowlist"})


def _duration_text(seconds: float) -> str:
    seconds = int(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _step_text(step: Step) -> str:
    return _duration_text(step.seconds) if step.action is Action.TIMEOUT else step.action.value


async def export(services: Services, guild_id: int) -> dict[str, Any]:
    settings = await services.guild_settings.get(guild_id)
    automod = await services.moderation.config(guild_id)
    rules: dict[str, Any] = {}
    for rule in Rule:
        current = automod.rule(rule)
        entry: dict[str, Any] = {"enabled": current.enabled}
        if rule in (Rule.FLOOD, Rule.DUPLICATES, Rule.MENTIONS):
            entry["count"] = current.count
        if rule in (Rule.FLOOD, Rule.DUPLICATES):
            entry["seconds"] = int(current.seconds) if float(current.seconds).is_integer() else current.seconds
        entry["delete"] = current.delete
        entry["action"] = current.action.action.value
        if current.action.action is Action.TIMEOUT:
            entry["timeout"] = _duration_text(current.action.seconds)
        entry["escalate"] = current.escalate
        if rule is Rule.LINKS:
            entry["allowlist"] = sorted(automod.link_allowlist)
        if rule is Rule.INVITES:
            entry["allowlist"] = sorted(automod.invite_allowlist)
        rules[rule.value] = entry
    shop = [
        {
            "name": item.name,
            "price": item.price,
            "description": item.description,
            "role": item.role_id,
            "stock": item.stock,
        }
        for item in await services.economy.items(guild_id)
    ]
    announcements = [
        {
            "id": a.id,
            "channel": a.row.channel_id,
            "schedule": a.row.schedule,
            "timezone": a.row.timezone,
            "title": a.row.title,
            "message": a.row.message,
            "paused": a.row.paused,
        }
        for a in await services.scheduler.list_for_guild(guild_id)
    ]
    return {
        "version": VERSION,
        "settings": {
            "prefix": settings.prefix,
            "timezone": settings.timezone,
            "locale": settings.locale,
            "modlog_channel": settings.modlog_channel_id,
            "dj_role": await services.music.dj_role(guild_id),
            "public_leaderboard": await services.repository.public_leaderboard(guild_id),
        },
        "automod": {
            "dry_run": automod.dry_run,
            "ladder": ", ".join(_step_text(s) for s in automod.ladder),
            "strike_window": _duration_text(automod.strike_window),
            "exempt_roles": sorted(automod.exempt_role_ids),
            "exempt_channels": sorted(automod.exempt_channel_ids),
            "rules": rules,
        },
        "shop": shop,
        "announcements": announcements,
    }


def dump(document: dict[str, Any], header: str = "") -> str:
    text: str = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, default_flow_style=False, width=100)
    return (header + text) if header else text


# -- parsing an upload ------------------------------------------------------------------------------------------


def _fail(path: str, expected: str) -> InvalidInput:
    return InvalidInput(f"`{path}`: expected {expected}.")


def _mapping(value: Any, path: str, allowed: frozenset[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(path, "a mapping")
    unknown = sorted(str(k) for k in value if k not in allowed)
    if unknown:
        raise InvalidInput(f"`{path}`: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(allowed))}.")
    return value


def _int(value: Any, path: str, *, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and value.isdigit():
            return int(value)
        raise _fail(path, "a whole number" + (" or null" if optional else ""))
    return value


def _bool(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise _fail(path, "true or false")
    return value


def _str(value: Any, path: str, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise _fail(path, "text" + (" or null" if optional else ""))
    return value


def _ids(value: Any, path: str) -> list[int]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _fail(path, "a list of ids")
    return sorted({_int(v, f"{path}[{i}]") or 0 for i, v in enumerate(value)})


def parse(text: str) -> dict[str, Any]:  # noqa: PLR0912, PLR0915 -- one flat schema check reads best
    """The uploaded YAML in the export's shape, every value type-checked; missing sections mean "unchanged"."""
    if len(text.encode()) > MAX_UPLOAD:
        raise InvalidInput(f"The file is larger than {MAX_UPLOAD // 1024} KiB.")
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise InvalidInput(f"That is not valid YAML{where}.") from None
    top = _mapping(raw, "(top level)", frozenset({"version", "settings", "automod", "shop", "announcements"}))
    if top.get("version", VERSION) != VERSION:
        raise InvalidInput(f"`version` must be {VERSION}.")
    out: dict[str, Any] = {"version": VERSION}
    if "settings" in top:
        s = _mapping(
            top["settings"],
            "settings",
            frozenset({"prefix", "timezone", "locale", "modlog_channel", "dj_role", "public_leaderboard"}),
        )
        settings: dict[str, Any] = {}
        for key in ("prefix", "timezone", "locale"):
            if key in s:
                settings[key] = _str(s[key], f"settings.{key}")
        for key in ("modlog_channel", "dj_role"):
            if key in s:
                settings[key] = _int(s[key], f"settings.{key}", optional=True)
        if "public_leaderboard" in s:
            settings["public_leaderboard"] = _bool(s["public_leaderboard"], "settings.public_leaderboard")
        out["settings"] = settings
    if "automod" in top:
        a = _mapping(
            top["automod"],
            "automod",
            frozenset({"dry_run", "ladder", "strike_window", "exempt_roles", "exempt_channels", "rules"}),
        )
        automod: dict[str, Any] = {}
        if "dry_run" in a:
            automod["dry_run"] = _bool(a["dry_run"], "automod.dry_run")
        for key in ("ladder", "strike_window"):
            if key in a:
                automod[key] = _str(a[key], f"automod.{key}")
        for key in ("exempt_roles", "exempt_channels"):
            if key in a:
                automod[key] = _ids(a[key], f"automod.{key}")
        if "rules" in a:
            rules = _mapping(a["rules"], "automod.rules", frozenset(r.value for r in Rule))
            parsed_rules: dict[str, Any] = {}
            for name, body in rules.items():
                entry = _mapping(body, f"automod.rules.{name}", RULE_KEYS)
                rule: dict[str, Any] = {}
                for key in ("enabled", "delete", "escalate"):
                    if key in entry:
                        rule[key] = _bool(entry[key], f"automod.rules.{name}.{key}")
                if "count" in entry:
                    rule["count"] = _int(entry["count"], f"automod.rules.{name}.count")
                if "seconds" in entry:
                    seconds = entry["seconds"]
                    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
                        raise _fail(f"automod.rules.{name}.seconds", "a number of seconds")
                    rule["seconds"] = seconds
                for key in ("action", "timeout"):
                    if key in entry:
                        rule[key] = _str(entry[key], f"automod.rules.{name}.{key}", optional=key == "timeout")
                if "allowlist" in entry:
                    items = entry["allowlist"] or []
                    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
                        raise _fail(f"automod.rules.{name}.allowlist", "a list of text")
                    rule["allowlist"] = sorted({i.strip().lower() for i in items if i.strip()})
                parsed_rules[name] = rule
            automod["rules"] = parsed_rules
        out["automod"] = automod
    if "shop" in top:
        if not isinstance(top["shop"], list):
            raise _fail("shop", "a list of items")
        items = []
        for i, body in enumerate(top["shop"]):
            entry = _mapping(body, f"shop[{i}]", frozenset({"name", "price", "description", "role", "stock"}))
            if "name" not in entry or "price" not in entry:
                raise InvalidInput(f"`shop[{i}]`: every item needs a name and a price.")
            items.append(
                {
                    "name": _str(entry["name"], f"shop[{i}].name"),
                    "price": _int(entry["price"], f"shop[{i}].price"),
                    "description": _str(entry.get("description") or "", f"shop[{i}].description"),
                    "role": _int(entry.get("role"), f"shop[{i}].role", optional=True),
                    "stock": _int(entry.get("stock"), f"shop[{i}].stock", optional=True),
                }
            )
        names = [str(item["name"]).strip().lower() for item in items]
        if len(names) != len(set(names)):
            raise InvalidInput("`shop`: two items have the same name.")
        out["shop"] = items
    if "announcements" in top:
        if not isinstance(top["announcements"], list):
            raise _fail("announcements", "a list")
        announcements = []
        allowed = frozenset({"id", "channel", "schedule", "timezone", "title", "message", "paused"})
        for i, body in enumerate(top["announcements"]):
            entry = _mapping(body, f"announcements[{i}]", allowed)
            for key in ("channel", "schedule", "message"):
                if key not in entry:
                    raise InvalidInput(f"`announcements[{i}]`: `{key}` is required.")
            announcements.append(
                {
                    "id": _int(entry.get("id"), f"announcements[{i}].id", optional=True),
                    "channel": _int(entry["channel"], f"announcements[{i}].channel"),
                    "schedule": _str(entry["schedule"], f"announcements[{i}].schedule"),
                    "timezone": _str(entry.get("timezone"), f"announcements[{i}].timezone", optional=True),
                    "title": _str(entry.get("title"), f"announcements[{i}].title", optional=True),
                    "message": _str(entry["message"], f"announcements[{i}].message"),
                    "paused": _bool(entry.get("paused", False), f"announcements[{i}].paused"),
                }
            )
        out["announcements"] = announcements
    return out


# -- planning and applying --------------------------------------------------------------------------------------

Operation = Callable[[GuildAdmin], Awaitable[Any]]


@dataclass
class Plan:
    operations: list[tuple[str, Operation]] = field(default_factory=list)
    diff: str = ""
    desired: dict[str, Any] = field(default_factory=dict)

    @property
    def descriptions(self) -> list[str]:
        return [text for text, _ in self.operations]

    def add(self, description: str, step: Operation) -> None:
        self.operations.append((description, step))


def _merged(current: dict[str, Any], wanted: dict[str, Any]) -> dict[str, Any]:
    """The upload laid over the current document: sections and keys it leaves out stay as they are."""
    merged = {k: (dict(v) if isinstance(v, dict) else v) for k, v in current.items()}
    for section in ("settings", "automod"):
        if section in wanted:
            merged[section] = {**current[section], **wanted[section]}
    if "rules" in wanted.get("automod", {}):
        rules = {name: dict(body) for name, body in current["automod"]["rules"].items()}
        for name, body in wanted["automod"]["rules"].items():
            rules[name] = {**rules[name], **body}
        merged["automod"]["rules"] = rules
    for section in ("shop", "announcements"):
        if section in wanted:
            merged[section] = wanted[section]
    return merged


def plan(current: dict[str, Any], wanted: dict[str, Any]) -> Plan:
    desired = _merged(current, wanted)
    result = Plan(desired=desired)
    diff_lines = difflib.unified_diff(
        dump(current).splitlines(), dump(desired).splitlines(), "current", "uploaded", lineterm="", n=2
    )
    result.diff = "\n".join(diff_lines)
    _plan_settings(result, current["settings"], desired["settings"])
    _plan_automod(result, current["automod"], desired["automod"])
    _plan_shop(result, current["shop"], desired["shop"])
    _plan_announcements(result, current["announcements"], desired["announcements"])
    return result


def _plan_settings(result: Plan, now: dict[str, Any], want: dict[str, Any]) -> None:
    changes = {k: want[k] for k in ("prefix", "timezone", "locale") if want[k] != now[k]}
    channel_changed = want["modlog_channel"] != now["modlog_channel"]
    if changes or channel_changed:
        text = ", ".join(f"{k} → {v}" for k, v in changes.items())
        if channel_changed:
            text = (text + ", " if text else "") + f"mod log → {want['modlog_channel'] or 'off'}"
        channel = want["modlog_channel"] if channel_changed else False

        async def settings_step(admin: GuildAdmin) -> None:
            await admin.update_settings(
                prefix=changes.get("prefix"),
                timezone=changes.get("timezone"),
                locale=changes.get("locale"),
                modlog_channel_id=channel,
            )

        result.add(f"Settings: {text}", settings_step)
    if want["dj_role"] != now["dj_role"]:
        role = want["dj_role"]
        result.add(f"DJ role → {role or 'everyone'}", lambda admin: admin.set_dj_role(role))
    if want["public_leaderboard"] != now["public_leaderboard"]:
        on = bool(want["public_leaderboard"])
        result.add(f"Public leaderboard → {'on' if on else 'off'}", lambda admin: admin.set_public_leaderboard(on))


def _plan_automod(result: Plan, now: dict[str, Any], want: dict[str, Any]) -> None:
    for name, body in want["rules"].items():
        before = now["rules"][name]
        changed = {k: v for k, v in body.items() if before.get(k) != v}
        if not changed:
            continue
        action = changed.get("action")
        timeout = changed.get("timeout")
        if timeout is not None and action is None:
            action = body.get("action")
        if action is not None and action != "timeout":
            timeout = None
        allowlist = changed.get("allowlist")
        seconds = changed.get("seconds")
        kwargs: dict[str, Any] = {
            "enabled": changed.get("enabled"),
            "count": changed.get("count"),
            "seconds": float(seconds) if seconds is not None else None,
            "delete": changed.get("delete"),
            "action": action,
            "duration": timeout,
            "escalate": changed.get("escalate"),
            "allowlist": ", ".join(allowlist) if allowlist is not None else None,
        }

        async def rule_step(admin: GuildAdmin, name: str = name, kwargs: dict[str, Any] = kwargs) -> None:
            await admin.set_rule(name, **kwargs)

        result.add(f"Automod {name}: " + ", ".join(f"{k} → {v}" for k, v in changed.items()), rule_step)
    ladder = want["ladder"] if want["ladder"] != now["ladder"] else None
    window = want["strike_window"] if want["strike_window"] != now["strike_window"] else None
    if ladder is not None or window is not None:
        result.add(
            f"Automod ladder: {ladder or '(unchanged)'}, strike window {window or '(unchanged)'}",
            lambda admin: admin.set_ladder(ladder, window),
        )
    for key, kind in (("exempt_roles", "role"), ("exempt_channels", "channel")):
        for target in sorted(set(want[key]) - set(now[key])):
            result.add(f"Exempt {kind} {target}", _exempt(kind, target, remove=False))
        for target in sorted(set(now[key]) - set(want[key])):
            result.add(f"No longer exempt: {kind} {target}", _exempt(kind, target, remove=True))
    if want["dry_run"] != now["dry_run"]:
        on = bool(want["dry_run"])
        result.add(f"Automod dry run → {'on' if on else 'off'}", lambda admin: admin.set_dry_run(on))


def _exempt(kind: str, target: int, *, remove: bool) -> Operation:
    async def step(admin: GuildAdmin) -> None:
        if kind == "role":
            await admin.set_exempt(role_id=target, remove=remove)
        else:
            await admin.set_exempt(channel_id=target, remove=remove)

    return step


def _call(method: str, *args: Any, **kwargs: Any) -> Operation:
    async def step(admin: GuildAdmin) -> Any:
        return await getattr(admin, method)(*args, **kwargs)

    return step


def _plan_shop(result: Plan, now: list[dict[str, Any]], want: list[dict[str, Any]]) -> None:
    current = {str(item["name"]).lower(): item for item in now}
    wanted = {str(item["name"]).strip().lower(): item for item in want}
    for key, item in current.items():
        if key not in wanted:
            name = item["name"]
            result.add(f"Shop: remove {name}", _call("remove_item", name))
    for key, item in wanted.items():
        before = current.get(key)
        if before is None:
            result.add(
                f"Shop: add {item['name']} for {item['price']}",
                _call(
                    "add_item",
                    name=item["name"],
                    price=item["price"],
                    description=item["description"],
                    role_id=item["role"],
                    stock=item["stock"],
                ),
            )
        elif any(before[k] != item[k] for k in ("name", "price", "description", "role", "stock")):
            changed = ", ".join(
                f"{k} → {item[k]}" for k in ("name", "price", "description", "role", "stock") if before[k] != item[k]
            )
            result.add(
                f"Shop: edit {before['name']}: {changed}",
                _call(
                    "edit_item",
                    before["name"],
                    new_name=item["name"],
                    price=item["price"],
                    description=item["description"],
                    role_id=item["role"],
                    stock=item["stock"],
                ),
            )


def _plan_announcements(result: Plan, now: list[dict[str, Any]], want: list[dict[str, Any]]) -> None:
    current = {a["id"]: a for a in now}
    kept = {a["id"] for a in want if a["id"] is not None}
    unknown = sorted(kept - set(current))
    if unknown:
        raise InvalidInput(
            f"`announcements`: no announcement #{unknown[0]} in this server; leave `id` out to create a new one."
        )
    for announcement_id in sorted(set(current) - kept):
        result.add(
            f"Announcements: delete #{announcement_id}",
            _call("delete_announcement", announcement_id),
        )
    for entry in want:
        fields = {
            "channel_id": entry["channel"],
            "message": entry["message"],
            "schedule": entry["schedule"],
            "title": entry["title"],
            "timezone": entry["timezone"],
            "starts": None,
        }
        before = current.get(entry["id"]) if entry["id"] is not None else None
        if before is None:

            async def create(
                admin: GuildAdmin, fields: dict[str, Any] = fields, paused: bool = entry["paused"]
            ) -> None:
                new_id = await admin.create_announcement(**fields)
                if paused:
                    await admin.pause_announcement(new_id, True)

            result.add(f"Announcements: create in channel {entry['channel']} ({entry['schedule']})", create)
            continue
        content = ("channel", "schedule", "timezone", "title", "message")
        if any(before[k] != entry[k] for k in content if not (k == "timezone" and entry[k] is None)):
            aid = entry["id"]
            result.add(
                f"Announcements: edit #{aid}",
                _call("replace_announcement", aid, **fields),
            )
            if entry["paused"] != before["paused"]:
                raise InvalidInput(f"`announcements`: change #{aid}'s text or its `paused`, not both at once.")
        elif entry["paused"] != before["paused"]:
            aid, paused = entry["id"], entry["paused"]
            result.add(
                f"Announcements: {'pause' if paused else 'resume'} #{aid}",
                _call("pause_announcement", aid, paused),
            )


@dataclass(frozen=True, slots=True)
class ApplyReport:
    applied: list[str]
    failed: str | None = None
    error: str | None = None


async def apply(result: Plan, admin: GuildAdmin) -> ApplyReport:
    """Run the operations in order; the first one a rule refuses stops the rest (and is reported)."""
    done: list[str] = []
    for description, step in result.operations:
        try:
            await step(admin)
        except DomainError as error:
            return ApplyReport(done, description, error.user_message)
        done.append(description)
    return ApplyReport(done)


__all__ = ["ApplyReport", "Plan", "apply", "dump", "export", "parse", "plan"]
