"""Paged embeds with Previous/Next buttons that only the person who asked can press."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import hikari
import miru


class Paginator(miru.View):
    """A short-lived view (default 5 minutes); its random custom ids route clicks without a bound message."""

    def __init__(self, pages: Sequence[hikari.Embed], owner_id: int, *, timeout: float = 300) -> None:
        if not pages:
            raise ValueError("a paginator needs at least one page")
        super().__init__(timeout=timeout)
        self.pages = list(pages)
        self.owner_id = owner_id
        self.page = 0
        for number, page in enumerate(self.pages, start=1):
            if len(self.pages) > 1:
                page.set_footer(f"Page {number}/{len(self.pages)}")
        self._sync_buttons()

    @property
    def current(self) -> hikari.Embed:
        return self.pages[self.page]

    @property
    def needed(self) -> bool:
        """Whether there is more than one page (a single page needs no buttons)."""
        return len(self.pages) > 1

    @miru.button(label="Previous", emoji="◀️", style=hikari.ButtonStyle.SECONDARY)
    async def go_previous(self, ctx: miru.ViewContext, _: miru.Button) -> None:
        self.page = max(0, self.page - 1)
        await self._show(ctx)

    @miru.button(label="Next", emoji="▶️", style=hikari.ButtonStyle.SECONDARY)
    async def go_next(self, ctx: miru.ViewContext, _: miru.Button) -> None:
        self.page = min(len(self.pages) - 1, self.page + 1)
        await self._show(ctx)

    async def view_check(self, ctx: miru.ViewContext, /) -> bool:
        if ctx.user.id == self.owner_id:
            return True
        await ctx.respond(
            "Only the person who ran this command can turn its pages. Run the command yourself to browse.",
            flags=hikari.MessageFlag.EPHEMERAL,
        )
        return False

    async def on_timeout(self) -> None:
        for item in self.children:
            item.disabled = True
        if self.message is not None:
            # The message may be gone or the token expired; then there is nothing to tidy.
            with contextlib.suppress(hikari.HTTPError):
                await self.message.edit(components=self)

    async def _show(self, ctx: miru.ViewContext) -> None:
        self._sync_buttons()
        await ctx.edit_response(embed=self.current, components=self)

    def _sync_buttons(self) -> None:
        first, last = self.page == 0, self.page == len(self.pages) - 1
        for item in self.children:
            if isinstance(item, miru.Button):
                item.disabled = (item.label == "Previous" and first) or (item.label == "Next" and last)
