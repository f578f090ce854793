"""Discord's documented payload limits. Each validator returns ``[(path, message)]`` problems (empty if valid)."""

from __future__ import annotations

import re
from typing import Any

from tests.harness.payloads import JSON, SELECT_TYPES, ComponentType, MessageFlag, OptionType

Problem = tuple[str, str]

_CHAT_INPUT_NAME = re.compile(r"^[-_\w]{1,32}$")


def _max_len(problems: list[Problem], path: str, value: Any, limit: int, *, minimum: int = 0) -> None:
    if value is None:
        return
    text = str(value)
    if len(text) > limit:
        problems.append((path, f"Must be {limit} or fewer in length (got {len(text)})."))
    elif len(text) < minimum:
        problems.append((path, f"Must be {minimum} or more in length (got {len(text)})."))


def embed_length(embed: JSON) -> int:
    total = len(embed.get("title") or "") + len(embed.get("description") or "")
    total += len((embed.get("footer") or {}).get("text") or "")
    total += len((embed.get("author") or {}).get("name") or "")
    for field in embed.get("fields") or []:
        total += len(field.get("name") or "") + len(field.get("value") or "")
    return total


def validate_embeds(embeds: list[JSON], prefix: str = "embeds") -> list[Problem]:
    problems: list[Problem] = []
    if len(embeds) > 10:
        problems.append((prefix, f"Must be 10 or fewer in length (got {len(embeds)})."))
    total = 0
    for i, embed in enumerate(embeds):
        path = f"{prefix}.{i}"
        _max_len(problems, f"{path}.title", embed.get("title"), 256)
        _max_len(problems, f"{path}.description", embed.get("description"), 4096)
        _max_len(problems, f"{path}.footer.text", (embed.get("footer") or {}).get("text"), 2048)
        _max_len(problems, f"{path}.author.name", (embed.get("author") or {}).get("name"), 256)
        fields = embed.get("fields") or []
        if len(fields) > 25:
            problems.append((f"{path}.fields", f"Must be 25 or fewer in length (got {len(fields)})."))
        for j, field in enumerate(fields):
            _max_len(problems, f"{path}.fields.{j}.name", field.get("name", ""), 256, minimum=1)
            _max_len(problems, f"{path}.fields.{j}.value", field.get("value", ""), 1024, minimum=1)
        total += embed_length(embed)
    if total > 6000:
        problems.append((prefix, f"Embed size exceeds maximum size of 6000 (got {total})."))
    return problems


def _validate_component(
    component: JSON, path: str, problems: list[Problem], custom_ids: set[str], *, modal: bool = False
) -> None:
    ctype = component.get("type")
    custom_id = component.get("custom_id")
    if custom_id is not None:
        _max_len(problems, f"{path}.custom_id", custom_id, 100, minimum=1)
        if custom_id in custom_ids:
            problems.append((f"{path}.custom_id", f"Component custom id cannot be duplicated ({custom_id!r})."))
        custom_ids.add(custom_id)
    if ctype == ComponentType.BUTTON:
        _max_len(problems, f"{path}.label", component.get("label"), 80)
        style = component.get("style")
        if style == 5:
            if not component.get("url") or custom_id is not None:
                problems.append((path, "A link button needs a url and no custom_id."))
        elif style != 6 and custom_id is None:
            problems.append((f"{path}.custom_id", "A non-link button needs a custom_id."))
    elif ctype in SELECT_TYPES:
        _max_len(problems, f"{path}.placeholder", component.get("placeholder"), 150)
        if custom_id is None:
            problems.append((f"{path}.custom_id", "A select menu needs a custom_id."))
        options = component.get("options") or []
        if ctype == ComponentType.STRING_SELECT and not 1 <= len(options) <= 25:
            problems.append((f"{path}.options", f"Must be between 1 and 25 in length (got {len(options)})."))
        for k, option in enumerate(options):
            _max_len(problems, f"{path}.options.{k}.label", option.get("label"), 100, minimum=1)
            _max_len(problems, f"{path}.options.{k}.value", option.get("value"), 100, minimum=1)
            _max_len(problems, f"{path}.options.{k}.description", option.get("description"), 100)
        min_values, max_values = component.get("min_values", 1), component.get("max_values", 1)
        if not (0 <= min_values <= 25 and 1 <= max_values <= 25 and min_values <= max_values):
            problems.append((path, f"Invalid min_values/max_values ({min_values}, {max_values})."))
        if ctype == ComponentType.STRING_SELECT and max_values > len(options):
            problems.append((f"{path}.max_values", "max_values exceeds the number of options."))
    elif ctype == ComponentType.TEXT_INPUT:
        if not modal:
            problems.append((path, "Text inputs are only valid in modals."))
        _max_len(problems, f"{path}.label", component.get("label"), 45)
        _max_len(problems, f"{path}.placeholder", component.get("placeholder"), 100)
        _max_len(problems, f"{path}.value", component.get("value"), 4000)
        if component.get("style") not in (1, 2):
            problems.append((f"{path}.style", "Text input style must be 1 or 2."))
    elif ctype == ComponentType.TEXT_DISPLAY:
        _max_len(problems, f"{path}.content", component.get("content"), 4000, minimum=1)


def _walk(component: JSON) -> list[JSON]:
    out = [component]
    for child in component.get("components") or []:
        out.extend(_walk(child))
    if isinstance(component.get("accessory"), dict):
        out.extend(_walk(component["accessory"]))
    if isinstance(component.get("component"), dict):  # label (type 18) wraps a single component
        out.extend(_walk(component["component"]))
    return out


def validate_components(components: list[JSON], *, v2: bool) -> list[Problem]:
    problems: list[Problem] = []
    custom_ids: set[str] = set()
    if v2:
        total = sum(len(_walk(c)) for c in components)
        if total > 40:
            problems.append(("components", f"Must be 40 or fewer components in total (got {total})."))
    elif len(components) > 5:
        problems.append(("components", f"Must be 5 or fewer in length (got {len(components)})."))
    for i, top in enumerate(components):
        path = f"components.{i}"
        if not v2 and top.get("type") != ComponentType.ACTION_ROW:
            problems.append((f"{path}.type", "Top-level components must be action rows without IS_COMPONENTS_V2."))
        for node_index, node in enumerate(_walk(top)):
            if node.get("type") == ComponentType.ACTION_ROW:
                children = node.get("components") or []
                selects = [c for c in children if c.get("type") in SELECT_TYPES]
                if not children:
                    problems.append((path, "Action rows must contain at least one component."))
                if selects and len(children) > 1:
                    problems.append((path, "A select menu must be alone in its action row."))
                if len(children) > 5:
                    problems.append((f"{path}.components", f"Must be 5 or fewer in length (got {len(children)})."))
            else:
                _validate_component(node, f"{path}.{node_index}", problems, custom_ids)
    return problems


def validate_message(body: JSON, *, has_files: bool = False, creating: bool = True) -> list[Problem]:
    """Limits for any message body (channel messages, webhooks, interaction responses, edits)."""
    problems: list[Problem] = []
    flags = int(body.get("flags") or 0)
    v2 = bool(flags & MessageFlag.IS_COMPONENTS_V2)
    content = body.get("content")
    _max_len(problems, "content", content, 2000)
    embeds = body.get("embeds") or []
    problems.extend(validate_embeds(embeds))
    components = body.get("components") or []
    problems.extend(validate_components(components, v2=v2))
    if v2 and (content or embeds):
        problems.append(("content", "content and embeds cannot be used with IS_COMPONENTS_V2."))
    if creating and not (content or embeds or components or has_files or body.get("sticker_ids") or body.get("poll")):
        problems.append(("content", "Cannot send an empty message"))
    return problems


def validate_modal(data: JSON) -> list[Problem]:
    problems: list[Problem] = []
    _max_len(problems, "data.title", data.get("title"), 45, minimum=1)
    _max_len(problems, "data.custom_id", data.get("custom_id"), 100, minimum=1)
    components = data.get("components") or []
    if not 1 <= len(components) <= 5:
        problems.append(("data.components", f"Must be between 1 and 5 in length (got {len(components)})."))
    custom_ids: set[str] = set()
    for i, top in enumerate(components):
        for node in _walk(top):
            if node.get("type") not in (ComponentType.ACTION_ROW, ComponentType.LABEL):
                _validate_component(node, f"data.components.{i}", problems, custom_ids, modal=True)
    return problems


def validate_autocomplete(data: JSON) -> list[Problem]:
    problems: list[Problem] = []
    choices = data.get("choices") or []
    if len(choices) > 25:
        problems.append(("data.choices", f"Must be 25 or fewer in length (got {len(choices)})."))
    for i, choice in enumerate(choices):
        _max_len(problems, f"data.choices.{i}.name", choice.get("name"), 100, minimum=1)
        if isinstance(choice.get("value"), str):
            _max_len(problems, f"data.choices.{i}.value", choice.get("value"), 100)
    return problems


def _validate_options(options: list[JSON], path: str, problems: list[Problem], depth: int) -> None:
    if len(options) > 25:
        problems.append((path, f"Must be 25 or fewer in length (got {len(options)})."))
    seen_optional = False
    names: set[str] = set()
    for i, option in enumerate(options):
        opath = f"{path}.{i}"
        name = str(option.get("name", ""))
        if not _CHAT_INPUT_NAME.match(name) or name != name.lower():
            problems.append((f"{opath}.name", f"Invalid option name {name!r} (lowercase, ^[-_\\w]{{1,32}}$)."))
        if name in names:
            problems.append((f"{opath}.name", f"Duplicate option name {name!r}."))
        names.add(name)
        _max_len(problems, f"{opath}.description", option.get("description", ""), 100, minimum=1)
        choices = option.get("choices") or []
        if len(choices) > 25:
            problems.append((f"{opath}.choices", f"Must be 25 or fewer in length (got {len(choices)})."))
        for k, choice in enumerate(choices):
            _max_len(problems, f"{opath}.choices.{k}.name", choice.get("name"), 100, minimum=1)
        if choices and option.get("autocomplete"):
            problems.append((f"{opath}.autocomplete", "Autocomplete and choices are mutually exclusive."))
        otype = option.get("type")
        if otype in (OptionType.SUB_COMMAND, OptionType.SUB_COMMAND_GROUP):
            if depth >= 2 or (otype == OptionType.SUB_COMMAND_GROUP and depth >= 1):
                problems.append((opath, "Subcommands nest at most two levels deep."))
            _validate_options(option.get("options") or [], f"{opath}.options", problems, depth + 1)
        elif option.get("required"):
            if seen_optional:
                problems.append((opath, "Required options must be placed before non-required options."))
        else:
            seen_optional = True


def validate_command(command: JSON) -> list[Problem]:
    problems: list[Problem] = []
    ctype = command.get("type", 1)
    name = str(command.get("name", ""))
    if ctype == 1:
        if not _CHAT_INPUT_NAME.match(name) or name != name.lower():
            problems.append(("name", f"Invalid chat input command name {name!r} (lowercase, ^[-_\\w]{{1,32}}$)."))
        _max_len(problems, "description", command.get("description", ""), 100, minimum=1)
        _validate_options(command.get("options") or [], "options", problems, 0)
    else:
        _max_len(problems, "name", name, 32, minimum=1)
        if command.get("description"):
            problems.append(("description", "Context menu commands cannot have a description."))
        if command.get("options"):
            problems.append(("options", "Context menu commands cannot have options."))
    return problems


def validate_command_list(commands: list[JSON]) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[tuple[int, str]] = set()
    counts = {1: 0, 2: 0, 3: 0}
    for i, command in enumerate(commands):
        problems.extend((f"{i}.{path}", msg) for path, msg in validate_command(command))
        key = (int(command.get("type", 1)), str(command.get("name")))
        if key in seen:
            problems.append((f"{i}.name", f"Application command names must be unique ({key[1]!r})."))
        seen.add(key)
        counts[key[0]] = counts.get(key[0], 0) + 1
    if counts[1] > 100:
        problems.append(("", f"Maximum number of chat input commands reached (100, got {counts[1]})."))
    if counts[2] > 15 or counts[3] > 15:
        problems.append(("", "Maximum number of context menu commands reached (15 each)."))
    return problems


def form_errors(problems: list[Problem]) -> JSON:
    """Discord's nested ``errors`` object for a 50035 Invalid Form Body response."""
    root: JSON = {}
    for path, message in problems:
        node = root
        for part in [p for p in path.split(".") if p]:
            node = node.setdefault(part, {})
        node.setdefault("_errors", []).append({"code": "INVALID", "message": message})
    return root
