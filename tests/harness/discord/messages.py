"""Build and edit stored message objects from the bodies the bot sends."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

from tests.harness.payloads import JSON, iso


@dataclasses.dataclass
class SentFile:
    """A file the bot uploaded (multipart ``files[n]``)."""

    filename: str
    data: bytes
    content_type: str | None = None


def iter_components(components: list[JSON]) -> Iterator[JSON]:
    """Depth-first walk over every component node (rows, sections, containers, labels, accessories)."""
    for component in components:
        yield component
        yield from iter_components(component.get("components") or [])
        if isinstance(component.get("accessory"), dict):
            yield from iter_components([component["accessory"]])
        if isinstance(component.get("component"), dict):
            yield from iter_components([component["component"]])


def assign_component_ids(components: list[JSON]) -> list[JSON]:
    """Give every node a sequential numeric ``id`` like Discord does; hikari requires it when deserializing."""
    components = copy.deepcopy(components)
    used = {c["id"] for c in iter_components(components) if isinstance(c.get("id"), int)}
    counter = 0
    for component in iter_components(components):
        if not isinstance(component.get("id"), int):
            counter += 1
            while counter in used:
                counter += 1
            component["id"] = counter
            used.add(counter)
    return components


def find_component(components: list[JSON], *, custom_id: str | None = None, label: str | None = None) -> JSON | None:
    for component in iter_components(components):
        if custom_id is not None and component.get("custom_id") == custom_id:
            return component
        if label is not None and component.get("label") == label:
            return component
    return None


def normalize_embed(embed: JSON) -> JSON:
    out = dict(embed)
    out.setdefault("type", "rich")
    out.setdefault("fields", [])
    for key in ("image", "thumbnail"):
        # Discord adds proxy_url/size to media; hikari needs only url.
        if isinstance(out.get(key), dict):
            out[key] = {"proxy_url": out[key].get("url"), **out[key]}
    return out


class MessageFactory:
    """Creates Discord message objects; attachments keep their bytes in ``files``."""

    def __init__(self, new_id: Callable[[], int], base_url: Callable[[], str]) -> None:
        self._new_id = new_id
        self._base_url = base_url
        self.files: dict[int, SentFile] = {}  # attachment id -> bytes the bot uploaded

    def attachments(self, body: JSON, files: list[SentFile], channel_id: int, keep: list[JSON]) -> list[JSON]:
        """Combine kept attachments with new uploads, honouring ``attachments[].id`` indices from the body."""
        out: list[JSON] = []
        meta = {str(a.get("id")): a for a in body.get("attachments") or [] if isinstance(a, dict)}
        for index, sent in enumerate(files):
            attachment_id = self._new_id()
            self.files[attachment_id] = sent
            description = (meta.get(str(index)) or {}).get("description")
            url = f"{self._base_url()}/attachments/{channel_id}/{attachment_id}/{sent.filename}"
            out.append(
                {
                    "id": str(attachment_id),
                    "filename": sent.filename,
                    "description": description,
                    "content_type": sent.content_type or "application/octet-stream",
                    "size": len(sent.data),
                    "url": url,
                    "proxy_url": url,
                }
            )
        return keep + out

    def create(
        self,
        body: JSON,
        *,
        channel_id: int,
        author: JSON,
        guild_id: int | None = None,
        member: JSON | None = None,
        files: list[SentFile] | None = None,
        message_type: int = 0,
        webhook_id: int | None = None,
        application_id: int | None = None,
        interaction_metadata: JSON | None = None,
        extra_flags: int = 0,
    ) -> JSON:
        message_id = self._new_id()
        message: JSON = {
            "id": str(message_id),
            "channel_id": str(channel_id),
            "author": author,
            "content": body.get("content") or "",
            "timestamp": iso(),
            "edited_timestamp": None,
            "tts": bool(body.get("tts", False)),
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "mention_channels": [],
            "attachments": self.attachments(body, files or [], channel_id, []),
            "embeds": [normalize_embed(e) for e in body.get("embeds") or []],
            "reactions": [],
            "pinned": False,
            "type": message_type,
            "flags": int(body.get("flags") or 0) | extra_flags,
            "components": assign_component_ids(body.get("components") or []),
        }
        if guild_id is not None:
            message["guild_id"] = str(guild_id)
            if member is not None:
                message["member"] = member
        if webhook_id is not None:
            message["webhook_id"] = str(webhook_id)
        if application_id is not None:
            message["application_id"] = str(application_id)
        if interaction_metadata is not None:
            message["interaction_metadata"] = interaction_metadata
        if isinstance(ref := body.get("message_reference"), dict) and ref.get("message_id"):
            message["message_reference"] = {
                "type": 0,
                "message_id": str(ref["message_id"]),
                "channel_id": str(ref.get("channel_id") or channel_id),
                **({"guild_id": str(guild_id)} if guild_id else {}),
            }
        if body.get("poll"):
            message["poll_request"] = body["poll"]  # kept for assertions; not rendered as a real poll
        return message

    def edit(self, message: JSON, body: JSON, files: list[SentFile] | None = None) -> JSON:
        """Apply a PATCH body in place (only the keys present change) and return the message."""
        for key in ("content", "tts"):
            if key in body:
                message[key] = body[key] if body[key] is not None else ("" if key == "content" else False)
        if "embeds" in body:
            message["embeds"] = [normalize_embed(e) for e in body["embeds"] or []]
        if "components" in body:
            message["components"] = assign_component_ids(body["components"] or [])
        if "flags" in body and body["flags"] is not None:
            # Only SUPPRESS_EMBEDS/IS_COMPONENTS_V2 are editable; keep ephemeral/loading bits managed by us.
            message["flags"] = (message["flags"] & (64 | 128)) | int(body["flags"])
        if "attachments" in body or files:
            current = {a["id"]: a for a in message["attachments"]}
            listed = body.get("attachments")
            if listed is None:
                keep = list(current.values()) if "attachments" not in body else []
            else:
                keep = [current[str(a["id"])] for a in listed if str(a.get("id")) in current]
            message["attachments"] = self.attachments(body, files or [], int(message["channel_id"]), keep)
        message["flags"] &= ~128  # an edit resolves the "thinking..." state
        message["edited_timestamp"] = iso()
        return message

    def attachment_bytes(self, message: JSON) -> list[SentFile]:
        return [self.files[int(a["id"])] for a in message.get("attachments", []) if int(a["id"]) in self.files]


def deep_copy(value: Any) -> Any:
    return copy.deepcopy(value)
