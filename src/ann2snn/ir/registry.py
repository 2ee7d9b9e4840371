"""Typed registries: node type -> handler, one per concern (shapes, simulators, passes,
backends). The pattern of frontends/torch_ops.py, for the IR's node types.

A registry maps a node *class* to one handler. Registering a type twice is an error
(two handlers for one concept is how behaviour drifts apart); looking up a type that
has no handler raises :class:`MissingHandler`, which names the type and lists the
supported ones. Lookup is by exact type: a subclass of a node type is a different
node and needs its own handler.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from ..errors import Ann2SnnError

H = TypeVar("H", bound=Callable)


class MissingHandler(Ann2SnnError, LookupError):
    """A registry has no handler for a node type.

    ``node_type`` is the type's name, ``supported`` the names that have handlers.
    """

    def __init__(self, registry: str, node_type: str, supported: list[str],
                 name: str | None = None):
        self.registry, self.node_type, self.supported = registry, node_type, sorted(supported)
        which = f"{node_type} '{name}'" if name else node_type
        super().__init__(f"{registry} has no handler for {which}; supported: "
                         + ", ".join(self.supported))


class Registry(Generic[H]):
    """``node class -> handler``. ``what`` names the registry in errors
    ("the float simulator", "the C backend", ...)."""

    def __init__(self, what: str):
        self.what = what
        self._handlers: dict[type, H] = {}

    def register(self, *types: type) -> Callable[[H], H]:
        """Decorator: ``@reg.register(n.Conv, n.Dense)`` registers the function for both."""
        if not types:
            raise TypeError(f"{self.what}: register() needs at least one node type")

        def deco(fn: H) -> H:
            for t in types:
                if t in self._handlers:
                    raise ValueError(f"{self.what}: a handler for {t.__name__} is registered "
                                     "twice")
                self._handlers[t] = fn
            return fn

        return deco

    def get(self, node) -> H:
        """The handler for ``node`` (a node or a node class); :class:`MissingHandler`
        when there is none."""
        t = node if isinstance(node, type) else type(node)
        fn = self._handlers.get(t)
        if fn is None:
            raise MissingHandler(self.what, t.__name__, self.supported(),
                                 None if isinstance(node, type) else getattr(node, "name", None))
        return fn

    def __contains__(self, node) -> bool:
        return (node if isinstance(node, type) else type(node)) in self._handlers

    def __iter__(self) -> Iterator[type]:
        return iter(self._handlers)

    def types(self) -> tuple[type, ...]:
        return tuple(self._handlers)

    def supported(self) -> list[str]:
        """Names of the node types that have a handler, sorted."""
        return sorted(t.__name__ for t in self._handlers)

    def missing(self, nodes) -> list[tuple[str, str]]:
        """``(name, type)`` of every node in ``nodes`` that has no handler, in order
        (to report them all at once)."""
        return [(x.name, x.op) for x in nodes if type(x) not in self._handlers]
