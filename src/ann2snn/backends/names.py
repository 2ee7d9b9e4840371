"""Names that backends derive from layer names: identifiers in generated code, and the
trace directory of each layer. One place, so every backend cleans names the same way."""

from __future__ import annotations

import re

from ..errors import ConversionError


def identifier(name: str, max_len: int = 40) -> str:
    """``name`` with every non-word character replaced by ``_``, cut to ``max_len``."""
    return re.sub(r"\W", "_", name)[:max_len]


def check_trace_name(name: str) -> str:
    """``name`` itself when it can be a trace directory (analysis/traceio.py writes one
    per layer), else a :class:`ConversionError`."""
    if "/" in name or name in (".", "..") or not name.isprintable():
        raise ConversionError(f"layer name {name!r} cannot be a trace directory")
    return name


def symbols(graph, prefix: str = "l", max_len: int = 40) -> dict[str, str]:
    """A unique identifier per node, ``{prefix}{position}_{cleaned name}``, checking that
    every name can be a trace directory (the first bad one raises)."""
    return {check_trace_name(x.name): f"{prefix}{i}_" + identifier(x.name, max_len)
            for i, x in enumerate(graph)}
