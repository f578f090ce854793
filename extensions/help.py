"""/help: generated from the commands lightbulb has registered, never from a hand-kept list.

Sections are the extensions the commands were loaded from (lightbulb records the module on each top-level
command). The overview's select menu has the stable custom id `help:section`; one listener answers it for every
help message, so it keeps working after a restart and costs no memory per message.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import hikari
import lightbulb
from lightbulb.commands import groups

from hanabi.config import Settings
from hanabi.errors import InvalidInput, NotFound
from hanabi.hybrid import slash_only_reason
from hanabi.hybrid import usage_line as hybrid_usage_line
from hanabi.services.guild_settings import GuildSettingsService
from hanabi.ui import BRAND_COLOUR
from hanabi.ui.cooldowns import CommandCooldowns
from hanabi.ui.interactions import NO_MENTIONS, Responder
from hanabi.ui.locale import Translations
from hanabi.ui.permissions import permission_labels
from hanabi.wiring import component_route

loader = lightbulb.Loader()

FEATURE = "help"
SECTION_SELECT = f"{FEATURE}:section"
OVERVIEW = "overview"
OTHER_SECTION = "other"
LOCK = "🔒"
EMBED_BUDGET = 5500  # Discord allows 6000 characters per embed; leave room for title and footer

TEXTS = Translations(
    {
        "en": {
            "overview_title": "Hanabi commands",
            "overview_intro": "Pick a section below, or use `/help command` to read about one command.",
            "locked_note": f"{LOCK} marks commands you can't use here.",
            "section_title": "{section} commands",
            "select_placeholder": "Choose a section",
            "overview_option": "Overview",
            "usage": "Usage",
            "options": "Options",
            "example": "Example",
            "permissions": "Required permissions",
            "owner_only": "Bot owners only",
            "no_options": "This command takes no options.",
            "required": "required",
            "optional": "optional",
            "unusable": f"{LOCK} You can't use this command here.",
            "prefix_form": "As a text command",
            "cooldown": "Cooldown per user",
            "slash_only": "Slash command only: {reason}.",
            "unknown": "There is no command called `{name}`. Use `/help` to see them all.",
            "subcommands": "Subcommands",
            "section": "Section",
            "more": "…and {count} more",
            "context_menu": "context menu",
            "type_string": "text",
            "type_integer": "whole number",
            "type_float": "number",
            "type_boolean": "true/false",
            "type_user": "user",
            "type_role": "role",
            "type_channel": "channel",
            "type_mentionable": "user or role",
            "type_attachment": "file",
        },
        "de": {
            "overview_title": "Hanabi-Befehle",
            "overview_intro": "Wähle unten einen Bereich oder nutze `/help command`, um einen Befehl genauer zu sehen.",
            "locked_note": f"{LOCK} markiert Befehle, die du hier nicht nutzen kannst.",
            "section_title": "Befehle: {section}",
            "select_placeholder": "Bereich wählen",
            "overview_option": "Übersicht",
            "usage": "Verwendung",
            "options": "Optionen",
            "example": "Beispiel",
            "permissions": "Benötigte Berechtigungen",
            "owner_only": "Nur für Bot-Besitzer",
            "no_options": "Dieser Befehl hat keine Optionen.",
            "required": "erforderlich",
            "optional": "optional",
            "unusable": f"{LOCK} Du kannst diesen Befehl hier nicht nutzen.",
            "prefix_form": "Als Textbefehl",
            "cooldown": "Abklingzeit pro Person",
            "slash_only": "Nur als Slash-Befehl: {reason}.",
            "unknown": "Es gibt keinen Befehl `{name}`. Nutze `/help`, um alle zu sehen.",
            "subcommands": "Unterbefehle",
            "section": "Bereich",
            "more": "…und {count} weitere",
            "context_menu": "Kontextmenü",
            "type_string": "Text",
            "type_integer": "Ganzzahl",
            "type_float": "Zahl",
            "type_boolean": "ja/nein",
            "type_user": "Benutzer",
            "type_role": "Rolle",
            "type_channel": "Kanal",
            "type_mentionable": "Benutzer oder Rolle",
            "type_attachment": "Datei",
        },
        "fr": {
            "overview_title": "Commandes de Hanabi",
            "overview_intro": (
                "Choisis une section ci-dessous, ou utilise `/help command` pour le détail d'une commande."
            ),
            "locked_note": f"{LOCK} signale les commandes que tu ne peux pas utiliser ici.",
            "section_title": "Commandes : {section}",
            "select_placeholder": "Choisir une section",
            "overview_option": "Vue d'ensemble",
            "usage": "Utilisation",
            "options": "Options",
            "example": "Exemple",
            "permissions": "Permissions requises",
            "owner_only": "Réservé aux propriétaires du bot",
            "no_options": "Cette commande n'a pas d'options.",
            "required": "obligatoire",
            "optional": "facultative",
            "unusable": f"{LOCK} Tu ne peux pas utiliser cette commande ici.",
            "prefix_form": "En commande texte",
            "cooldown": "Délai par personne",
            "slash_only": "Uniquement en commande slash : {reason}.",
            "unknown": "Il n'y a pas de commande `{name}`. Utilise `/help` pour les voir toutes.",
            "subcommands": "Sous-commandes",
            "section": "Section",
            "more": "…et {count} de plus",
            "context_menu": "menu contextuel",
            "type_string": "texte",
            "type_integer": "nombre entier",
            "type_float": "nombre",
            "type_boolean": "vrai/faux",
            "type_user": "utilisateur",
            "type_role": "rôle",
            "type_channel": "salon",
            "type_mentionable": "utilisateur ou rôle",
            "type_attachment": "fichier",
        },
    }
)

_TYPE_KEYS = {
    hikari.OptionType.STRING: ("type_string", "text"),
    hikari.OptionType.INTEGER: ("type_integer", "3"),
    hikari.OptionType.FLOAT: ("type_float", "2.5"),
    hikari.OptionType.BOOLEAN: ("type_boolean", "True"),
    hikari.OptionType.USER: ("type_user", "@user"),
    hikari.OptionType.ROLE: ("type_role", "@role"),
    hikari.OptionType.CHANNEL: ("type_channel", "#channel"),
    hikari.OptionType.MENTIONABLE: ("type_mentionable", "@user"),
    hikari.OptionType.ATTACHMENT: ("type_attachment", "file.png"),
}


# the model: read from lightbulb's registered commands ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OptionDoc:
    name: str
    type: hikari.OptionType
    required: bool
    description: str
    example: str


@dataclass(frozen=True, slots=True)
class CommandDoc:
    path: str  # "poll create"; for context menus the menu entry's name
    kind: hikari.CommandType
    description: str
    options: tuple[OptionDoc, ...]
    section: str  # the extension module's last name, e.g. "polls"
    permissions: hikari.Permissions
    owner_only: bool
    prefix_usage: str | None  # "pay <user> <amount> [note]" without the prefix; None when slash-only
    slash_only: str | None  # why the command has no text form
    command: type[lightbulb.commands.CommandBase] = field(compare=False, repr=False)

    @property
    def display(self) -> str:
        return f"/{self.path}" if self.kind is hikari.CommandType.SLASH else self.path


def section_title(section: str) -> str:
    return section.replace("_", " ").title()


def _section_of(extension: str | None) -> str:
    return extension.rsplit(".", 1)[-1] if extension else OTHER_SECTION


def _options(data: lightbulb.commands.CommandData) -> tuple[OptionDoc, ...]:
    docs = []
    for option in data.options.values():
        _, sample = _TYPE_KEYS.get(option.type, ("type_string", "text"))
        if option.choices is not hikari.UNDEFINED and option.choices:
            sample = str(option.choices[0].value)
        docs.append(
            OptionDoc(
                name=option.name,
                type=option.type,
                required=option.default is hikari.UNDEFINED,
                description=option.description,
                example=sample,
            )
        )
    return tuple(docs)


def _doc(
    command: type[lightbulb.commands.CommandBase],
    path: str,
    section: str,
    permissions: hikari.UndefinedOr[hikari.Permissions],
) -> CommandDoc:
    data = command._command_data
    return CommandDoc(
        path=path,
        kind=data.type,
        description=data.description,
        options=_options(data),
        section=section,
        permissions=permissions if permissions is not hikari.UNDEFINED else hikari.Permissions.NONE,
        owner_only=any(getattr(hook, "name", "") == "owner_only" for hook in data.hooks),
        prefix_usage=None if slash_only_reason(command) else hybrid_usage_line(command, ""),
        slash_only=slash_only_reason(command),
        command=command,
    )


def collect_commands(client: lightbulb.Client) -> list[CommandDoc]:
    """Every invokable command (group members expanded), sorted by section and path."""
    docs: list[CommandDoc] = []
    for registered in client.registered_commands:
        if isinstance(registered, groups.Group):
            section = _section_of(registered.extension)
            for name, child in registered.subcommands.items():
                if isinstance(child, groups.SubGroup):
                    for sub_name, sub in child.subcommands.items():
                        path = f"{registered.name} {name} {sub_name}"
                        docs.append(_doc(sub, path, section, registered.default_member_permissions))
                else:
                    docs.append(
                        _doc(child, f"{registered.name} {name}", section, registered.default_member_permissions)
                    )
        else:
            data = registered._command_data
            docs.append(_doc(registered, data.name, _section_of(data.extension), data.default_member_permissions))
    docs.sort(key=lambda d: (d.section == OTHER_SECTION, d.section, d.kind.value, d.path))
    return docs


def sections_of(docs: Sequence[CommandDoc]) -> list[str]:
    seen: dict[str, None] = {}
    for doc in docs:
        seen.setdefault(doc.section, None)
    return list(seen)


@dataclass(frozen=True, slots=True)
class Caller:
    user_id: int
    permissions: hikari.Permissions | None  # None outside a server
    locale: str
    owner_ids: frozenset[int]
    prefix: str = "!"

    def may_use(self, doc: CommandDoc) -> bool:
        if doc.owner_only and self.user_id not in self.owner_ids:
            return False
        if self.permissions is None or not doc.permissions:
            return True
        if self.permissions & hikari.Permissions.ADMINISTRATOR:
            return True
        return (self.permissions & doc.permissions) == doc.permissions

    def t(self, key: str, **values: object) -> str:
        return TEXTS.get(self.locale, key, **values)


# rendering ---------------------------------------------------------------------------------------------------------


def _type_name(caller: Caller, option: OptionDoc) -> str:
    key, _ = _TYPE_KEYS.get(option.type, ("type_string", "text"))
    return caller.t(key)


def _permission_names(permissions: hikari.Permissions) -> str:
    return ", ".join(permission_labels(permissions))


def _label(doc: CommandDoc, caller: Caller) -> str:
    suffix = "" if doc.kind is hikari.CommandType.SLASH else f" ({caller.t('context_menu')})"
    lock = "" if caller.may_use(doc) else f" {LOCK}"
    return f"`{doc.display}`{suffix}{lock}"


def _fit(parts: Sequence[str], limit: int, caller: Caller, separator: str = " · ") -> str:
    out: list[str] = []
    used = 0
    for index, part in enumerate(parts):
        more = caller.t("more", count=len(parts) - index)
        if used + len(part) + len(separator) + len(more) > limit:
            out.append(more)
            break
        out.append(part)
        used += len(part) + len(separator)
    return separator.join(out)


def overview_embed(docs: Sequence[CommandDoc], caller: Caller) -> hikari.Embed:
    description = caller.t("overview_intro")
    if any(not caller.may_use(d) for d in docs):
        description += "\n" + caller.t("locked_note")
    embed = hikari.Embed(title=caller.t("overview_title"), description=description, colour=BRAND_COLOUR)
    used = len(description) + 40
    for section in sections_of(docs)[:25]:
        members = [d for d in docs if d.section == section]
        name = f"{section_title(section)} ({len(members)})"
        value = _fit([_label(d, caller) for d in members], 1024, caller)
        if used + len(name) + len(value) > EMBED_BUDGET:
            break
        used += len(name) + len(value)
        embed.add_field(name, value, inline=False)
    return embed


def _options_line(doc: CommandDoc, caller: Caller) -> str:
    parts = []
    for option in doc.options:
        need = caller.t("required") if option.required else caller.t("optional")
        parts.append(f"`{option.name}` ({_type_name(caller, option)}, {need})")
    return ", ".join(parts)


def section_embed(docs: Sequence[CommandDoc], section: str, caller: Caller) -> hikari.Embed:
    members = [d for d in docs if d.section == section]
    description = caller.t("locked_note") if any(not caller.may_use(d) for d in members) else None
    embed = hikari.Embed(
        title=caller.t("section_title", section=section_title(section)), description=description, colour=BRAND_COLOUR
    )
    used = len(embed.title or "") + len(description or "")
    for index, doc in enumerate(members):
        value = doc.description
        if doc.options:
            value += "\n" + _options_line(doc, caller)
        value = value[:1024]
        name = _label(doc, caller)[:256]
        last_slot = index == 24 and len(members) > 25
        if last_slot or used + len(name) + len(value) > EMBED_BUDGET:
            embed.add_field("…", caller.t("more", count=len(members) - index), inline=False)
            break
        used += len(name) + len(value)
        embed.add_field(name, value, inline=False)
    return embed


def usage_line(doc: CommandDoc) -> str:
    parts = [doc.display]
    for option in doc.options:
        parts.append(f"{option.name}:<{option.name}>" if option.required else f"[{option.name}:<{option.name}>]")
    return " ".join(parts)


def example_line(doc: CommandDoc) -> str:
    parts = [doc.display]
    optional_shown = False
    for option in doc.options:
        if option.required or not optional_shown:
            parts.append(f"{option.name}:{option.example}")
            optional_shown = optional_shown or not option.required
    return " ".join(parts)


def command_embed(doc: CommandDoc, caller: Caller, cooldowns: CommandCooldowns | None = None) -> hikari.Embed:
    description = doc.description
    if not caller.may_use(doc):
        description += "\n\n" + caller.t("unusable")
    embed = hikari.Embed(title=doc.display, description=description, colour=BRAND_COLOUR)
    if doc.kind is hikari.CommandType.SLASH:
        embed.add_field(caller.t("usage"), f"`{usage_line(doc)}`", inline=False)
        if doc.options:
            lines = []
            for option in doc.options:
                need = caller.t("required") if option.required else caller.t("optional")
                lines.append(f"`{option.name}` — {_type_name(caller, option)}, {need}: {option.description}")
            embed.add_field(caller.t("options"), "\n".join(lines)[:1024], inline=False)
        else:
            embed.add_field(caller.t("options"), caller.t("no_options"), inline=False)
        embed.add_field(caller.t("example"), f"`{example_line(doc)}`", inline=False)
    if doc.prefix_usage is not None:
        embed.add_field(caller.t("prefix_form"), f"`{caller.prefix}{doc.prefix_usage}`", inline=False)
    elif doc.slash_only:
        embed.add_field(caller.t("prefix_form"), caller.t("slash_only", reason=doc.slash_only), inline=False)
    if doc.permissions:
        embed.add_field(caller.t("permissions"), _permission_names(doc.permissions), inline=False)
    if doc.owner_only:
        embed.add_field(caller.t("permissions"), caller.t("owner_only"), inline=False)
    if cooldowns is not None and doc.kind is hikari.CommandType.SLASH:
        embed.add_field(caller.t("cooldown"), cooldowns.for_command(doc.command).describe(), inline=True)
    embed.add_field(caller.t("section"), section_title(doc.section), inline=True)
    return embed


def group_embed(name: str, members: Sequence[CommandDoc], caller: Caller) -> hikari.Embed:
    embed = hikari.Embed(title=f"/{name}", colour=BRAND_COLOUR)
    lines = [f"{_label(d, caller)} — {d.description}" for d in members]
    embed.add_field(caller.t("subcommands"), _fit(lines, 1024, caller, separator="\n"), inline=False)
    return embed


def section_menu(docs: Sequence[CommandDoc], caller: Caller, current: str) -> hikari.impl.MessageActionRowBuilder:
    row = hikari.impl.MessageActionRowBuilder()
    menu = row.add_text_menu(SECTION_SELECT, placeholder=caller.t("select_placeholder"), min_values=1, max_values=1)
    menu.add_option(caller.t("overview_option"), OVERVIEW, is_default=current == OVERVIEW)
    for section in sections_of(docs)[:24]:
        menu.add_option(section_title(section)[:100], section, is_default=current == section)
    return row


def page_for(docs: Sequence[CommandDoc], caller: Caller, section: str) -> hikari.Embed:
    if section in sections_of(docs):
        return section_embed(docs, section, caller)
    return overview_embed(docs, caller)


def find_command(docs: Sequence[CommandDoc], name: str) -> CommandDoc | list[CommandDoc]:
    """A command by path (with or without the slash), or the members of a group by its name."""
    wanted = " ".join(name.strip().lstrip("/").lower().split())
    for doc in docs:
        if doc.path.lower() == wanted:
            return doc
    members = [d for d in docs if d.path.lower().startswith(wanted + " ")]
    if wanted and members:
        return members
    raise NotFound(TEXTS.get(None, "unknown", name=name[:50]))


# the command ---------------------------------------------------------------------------------------------------------


def caller_of(
    interaction: hikari.PartialInteraction,
    member: hikari.InteractionMember | None,
    settings: Settings,
    prefix: str | None = None,
) -> Caller:
    return Caller(
        user_id=int(interaction.user.id),
        permissions=member.permissions if member is not None else None,
        locale=str(interaction.locale),
        owner_ids=frozenset(settings.owner_ids),
        prefix=prefix or settings.command_prefix,
    )


async def complete_command(
    ctx: lightbulb.AutocompleteContext[str], client: lightbulb.Client = lightbulb.di.INJECTED
) -> None:
    typed = " ".join(str(ctx.focused.value or "").lstrip("/").lower().split())
    docs = [d for d in collect_commands(client) if d.kind is hikari.CommandType.SLASH]
    starts = [d for d in docs if d.path.lower().startswith(typed)]
    contains = [d for d in docs if typed in d.path.lower() and d not in starts]
    choices = [(f"/{d.path} — {d.description}"[:100], d.path) for d in (starts + contains)[:25]]
    await ctx.respond(choices)


@loader.command
class Help(lightbulb.SlashCommand, name="help", description="What Hanabi can do: every command, by section"):
    command = lightbulb.string(
        "command", "A command to explain, for example: poll create", default=None, autocomplete=complete_command
    )

    @lightbulb.invoke
    async def invoke(
        self,
        ctx: lightbulb.Context,
        client: lightbulb.Client,
        settings: Settings,
        guild_settings: GuildSettingsService,
        cooldowns: CommandCooldowns,
    ) -> None:
        docs = collect_commands(client)
        prefix = (await guild_settings.get(ctx.guild_id)).prefix if ctx.guild_id else None
        caller = caller_of(ctx.interaction, ctx.member, settings, prefix)
        if self.command:
            try:
                found = find_command(docs, self.command)
            except NotFound:
                raise NotFound(caller.t("unknown", name=self.command[:50])) from None
            if isinstance(found, CommandDoc):
                embed = command_embed(found, caller, cooldowns)
            else:
                embed = group_embed(found[0].path.split()[0], found, caller)
            await ctx.respond(embed=embed, ephemeral=True, **NO_MENTIONS)
            return
        await ctx.respond(
            embed=overview_embed(docs, caller),
            components=[section_menu(docs, caller, OVERVIEW)],
            ephemeral=True,
            **NO_MENTIONS,
        )


@component_route(loader, FEATURE)  # the section menu: `help:section`
async def on_help_select(responder: Responder, client: lightbulb.Client, settings: Settings) -> None:
    interaction = responder.interaction
    if interaction.custom_id != SECTION_SELECT:
        raise InvalidInput("This menu belongs to an older version of the help; run /help again.")
    docs = collect_commands(client)
    caller = caller_of(interaction, interaction.member, settings)
    section = interaction.values[0] if interaction.values else OVERVIEW
    await responder.update(embed=page_for(docs, caller, section), components=[section_menu(docs, caller, section)])
