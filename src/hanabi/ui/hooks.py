"""Client-wide execution hooks without dependency injection."""

from __future__ import annotations

from collections.abc import Callable

import lightbulb


def plain_hook(
    step: lightbulb.ExecutionStep,
    func: Callable[[lightbulb.ExecutionPipeline, lightbulb.Context], None],
    *,
    name: str,
    skip_when_failed: bool = False,
) -> lightbulb.ExecutionHook:
    """An execution hook that injects nothing.

    `lightbulb.hook` wraps every hook for dependency injection, and the wrapper does its work on every call even
    when the function asks for nothing. Client-wide hooks run on every command.
    """
    return lightbulb.ExecutionHook(step, skip_when_failed, name, func)
