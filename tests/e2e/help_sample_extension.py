"""An extension that only the help tests load: its commands must show up in /help without help knowing them."""

from __future__ import annotations

import hikari
import lightbulb

loader = lightbulb.Loader()


@loader.command
class Launch(
    lightbulb.SlashCommand,
    name="launch",
    description="Launch the sample fireworks",
    default_member_permissions=hikari.Permissions.MANAGE_GUILD,
):
    count = lightbulb.integer("count", "How many rockets", min_value=1, max_value=9)
    colour = lightbulb.string("colour", "Which colour", choices=[lightbulb.Choice("Red", "red")], default="red")

    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context) -> None:
        await ctx.respond(f"{self.count} rockets", ephemeral=True)
