"""The Keras layer handlers, by Keras class name: registered by frontends/keras/layers*.py.

A handler gets the model's :class:`~.context.Layout` and the :class:`~.context.KLayer`
and returns the IR nodes that compute the layer (the last one is its output), or the
name of an existing IR value (an identity at inference). An optional check reads the
layer's config alone, before Keras deserializes anything.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .context import KLayer, Layout

if TYPE_CHECKING:
    from ...ir import nodes as n

Handler = Callable[[Layout, KLayer], "list[n.Node] | str"]
Check = Callable[[dict], "str | None"]
HANDLERS: dict[str, tuple[Handler, Check | None]] = {}


def register(*kinds: str, check: Check | None = None):
    """Register a handler (and an optional config check) for Keras layer class names."""

    def deco(fn: Handler) -> Handler:
        for k in kinds:
            if k in HANDLERS:
                raise ValueError(f"Keras handler for {k} registered twice")
            HANDLERS[k] = (fn, check)
        return fn

    return deco


def supported_layers() -> list[str]:
    return sorted([*HANDLERS, "InputLayer"])


def config_problem(kind: str, cfg: dict) -> str | None:
    """Why a layer of class ``kind`` with ``cfg`` cannot be converted (None: it can,
    as far as the config alone tells). Used before Keras deserializes anything."""
    if kind == "InputLayer":
        return None
    if kind not in HANDLERS:
        return "not supported"
    check = HANDLERS[kind][1]
    return check(cfg) if check else None
