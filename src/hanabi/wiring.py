"""The one place where the container feeds lightbulb's DI (and miru's)."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar, cast, get_type_hints

import aiohttp
import lightbulb
import miru
from dependency_injector import providers

from hanabi.config import Settings
from hanabi.infra.channels import ChannelDirectory
from hanabi.infra.clock import Clock
from hanabi.infra.cluster import Cluster
from hanabi.infra.db import Database
from hanabi.infra.events import EventBus
from hanabi.infra.gateway_messages import GatewayMessage, MessageHandler
from hanabi.infra.intake import EventIntake
from hanabi.infra.observability import Observability
from hanabi.ui.interactions import Responder
from hanabi.ui.router import InteractionRouter

if TYPE_CHECKING:
    from container import Container
    from hanabi.bot import BotInfo, Hanabi

log = logging.getLogger(__name__)

T = TypeVar("T")
# A `MessageListener` callback: None when it is done, or the work that has to wait.
MessageCallback = Callable[..., Coroutine[Any, Any, None] | None]


async def resolve(provider: providers.Provider[T]) -> T:
    """Call a provider, awaiting the result when it depends on an async Resource."""
    value: Any = provider()
    if inspect.isawaitable(value):
        value = await value
    return cast("T", value)


def _factory(provider: providers.Provider[Any]) -> Callable[[], Awaitable[Any]]:
    # linkd injects a factory's parameters by annotation, so hand it a zero-argument callable. Anything that
    # depends on an async Resource (the database) comes back from dependency-injector as an awaitable.
    async def build() -> Any:
        value = provider()
        return await value if inspect.isawaitable(value) else value

    return build


def register_dependencies(client: lightbulb.Client, container: Container, app: Hanabi) -> None:
    """Copy the container's providers into lightbulb's default registry, by the type extensions annotate."""
    from hanabi.bot import BotInfo

    registry = client.di.registry_for(lightbulb.di.Contexts.DEFAULT)

    # Protocols and resources: registered under the type extensions annotate, not the implementation class.
    explicit: dict[type[Any], providers.Provider[Any]] = {
        Settings: container.settings,
        Clock: container.clock,
        EventBus: container.event_bus,
        Cluster: container.cluster,
        Database: container.database,
        aiohttp.ClientSession: container.http_session,
    }
    for typ, provider in explicit.items():
        registry.register_factory(typ, _factory(provider))

    # Every Singleton (repositories, services, metrics) under its own class.
    for provider in container.traverse(types=[providers.Singleton]):
        cls = provider.cls
        if cls in explicit or not isinstance(cls, type):
            continue
        if cls.__module__.startswith("hanabi."):
            registry.register_factory(cls, _factory(provider))

    info: BotInfo | None = app.info
    if info is not None:
        registry.register_value(BotInfo, info)
    registry.register_value(miru.Client, app.miru)
    registry.register_value(InteractionRouter, app.router)
    registry.register_value(Observability, app.ops)
    registry.register_value(ChannelDirectory, app.channels)
    registry.register_value(EventIntake, app.intake)


def precompile_command_injection(client: lightbulb.Client) -> int:
    """Generate each command's dependency resolver once, up front. Returns how many were generated.

    linkd generates an injected function's resolver (source code, exec'd) on its first call and caches it on that
    `AutoInjecting` object. A command's `invoke` is bound anew for every invocation (lightbulb makes a new command
    instance each time) and the bound copy starts from the class attribute's cache; while that is empty, every
    call generated and threw away its own resolver, about a tenth of a command's CPU. Filling the class
    attribute's cache once makes every bound copy inherit it. This touches linkd internals, so it is defensive:
    anything unexpected is left to linkd's normal path.
    """
    generated = 0
    seen: set[int] = set()
    for commands in client.invokable_commands.values():
        for collection in commands.values():
            for command in (collection.slash, collection.user, collection.message):
                if command is None or id(command) in seen:
                    continue
                seen.add(id(command))
                method = inspect.getattr_static(command, command._command_data.invoke_method, None)
                if method is None or getattr(method, "_dependency_func", True) is not None:
                    continue
                codegen = getattr(method, "_codegen_dependency_func", None)
                if callable(codegen):
                    method._dependency_func = codegen()
                    generated += 1
    return generated


async def _resolve_once(
    client: lightbulb.Client, callback: Callable[..., Any], subscriber: type[T]
) -> tuple[dict[str, Any], T]:
    """The callback's parameters after the first, by annotation, and the object it subscribes to, from lightbulb's
    default context."""
    hints = get_type_hints(callback)
    names = list(inspect.signature(callback).parameters)[1:]
    async with client.di.enter_context(lightbulb.di.Contexts.DEFAULT) as container:
        dependencies = {name: await container.get(hints[name]) for name in names}
        return dependencies, cast("T", await container.get(subscriber))


class MessageListener(lightbulb.Loadable):
    """A MESSAGE_CREATE handler fed the raw gateway message (`EventIntake.on_message`), dependencies resolved once,
    when its extension loads.

    For features that read every message (automod). The callback takes the `GatewayMessage` and then its
    dependencies, and is synchronous: it returns None when it is done, or a coroutine for work that has to wait (a
    cache miss, an action), which runs as a task. The common case (nothing to do) then costs no event object, no
    DI context and no task (docs/benchmarks.md, section 40). What it injects must live as long as the bot: the
    container's singletons and resources, the bot and the clients all do.
    """

    def __init__(self, callback: MessageCallback) -> None:
        self._callback = callback
        self._subscribed: tuple[EventIntake, MessageHandler] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def load(self, client: lightbulb.Client) -> None:
        dependencies, intake = await _resolve_once(client, self._callback, EventIntake)
        callback, tasks = self._callback, self._tasks

        async def finish(work: Coroutine[Any, Any, None]) -> None:
            try:
                await work
            except Exception:
                log.exception("%s failed", callback.__qualname__)

        def on_message(message: GatewayMessage, _shard: Any, _payload: Any) -> None:
            work = callback(message, **dependencies)
            if work is not None:
                task = asyncio.create_task(finish(work))
                tasks.add(task)
                task.add_done_callback(tasks.discard)

        intake.on_message(on_message)
        self._subscribed = (intake, on_message)

    async def unload(self, client: lightbulb.Client) -> None:
        if self._subscribed is not None:
            intake, on_message = self._subscribed
            intake.remove_message_handler(on_message)
            self._subscribed = None
        for task in list(self._tasks):
            task.cancel()


class ComponentRoute(lightbulb.Loadable):
    """Answers the components whose custom id starts with `<feature>:`, through the one `InteractionRouter`.

    The callback takes a `Responder` and then its dependencies, resolved once at load as for `MessageListener`;
    failures are answered as for commands (`hanabi.ui.interactions.handle_component`).
    """

    def __init__(self, feature: str, callback: Callable[..., Awaitable[None]]) -> None:
        self._feature = feature
        self._callback = callback
        self._router: InteractionRouter | None = None

    async def load(self, client: lightbulb.Client) -> None:
        dependencies, router = await _resolve_once(client, self._callback, InteractionRouter)
        callback = self._callback

        async def answer(responder: Responder) -> None:
            await callback(responder, **dependencies)

        router.route(self._feature, answer)
        self._router = router

    async def unload(self, client: lightbulb.Client) -> None:
        if self._router is not None:
            self._router.unroute(self._feature)
            self._router = None


def message_listener(loader: lightbulb.Loader) -> Callable[[MessageCallback], MessageCallback]:
    """`@message_listener(loader)`: every message, raw and synchronous first, see `MessageListener`."""

    def register(callback: MessageCallback) -> MessageCallback:
        loader.add(MessageListener(callback))
        return callback

    return register


def component_route(
    loader: lightbulb.Loader, feature: str
) -> Callable[[Callable[..., Awaitable[None]]], Callable[..., Awaitable[None]]]:
    """`@component_route(loader, "poll")`: answer every `poll:…` component, see `ComponentRoute`."""

    def register(callback: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
        loader.add(ComponentRoute(feature, callback))
        return callback

    return register
