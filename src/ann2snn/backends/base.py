"""The backend interface: a named target that exports a spiking network or runs it.

A backend declares what it implements — node types and the semantic options of
docs/design.md §3 (reset mode, readout, input encoding, synaptic delay), per kind of
arithmetic (float or integer mode) — and offers ``export(graph_or_snn, out, **options)``
and/or ``run(snn, data, **options)``. ``run`` returns what the built-in simulator
returns: a :class:`ann2snn.results.SimulationResult`, and traces through the same
``probe`` (an :class:`ann2snn.analysis.trace.TraceRecorder`) where ``traces`` is true.

:meth:`Backend.check` compares a graph and options with the declaration and raises one
:class:`BackendMismatch` listing every problem, so a user fixes everything at once.
A backend that needs a third-party package names it in ``requires`` (imported by
:meth:`Backend.require` inside ``run``/``export``, never when the backend is registered)
and its pip extra in ``extra``, for an "install ann2snn[brian2]" error.
"""

from __future__ import annotations

import enum
import importlib
import importlib.util
from dataclasses import dataclass, field
from typing import ClassVar

from ..errors import Ann2SnnError, UnsupportedLayerError, install_hint
from ..ir import is_quantized
from ..ir import nodes as n
from ..ir.options import Encoding, Readout, ResetMode, SynapticDelay, coerce


class Arithmetic(enum.Enum):
    """What the network computes in: float, or integer mode (``ann2snn quantize``)."""

    FLOAT = "float"
    INTEGER = "integer"


def arithmetic_of(graph) -> Arithmetic:
    """Integer mode when the graph was quantized (docs/integer-mode.md)."""
    return Arithmetic.INTEGER if is_quantized(graph) else Arithmetic.FLOAT


@dataclass(frozen=True)
class Supports:
    """What a backend implements for one kind of arithmetic."""

    nodes: frozenset[type[n.Node]]
    reset: frozenset[ResetMode] = frozenset(ResetMode)
    readout: frozenset[Readout] = frozenset(Readout)
    encoding: frozenset[Encoding] = frozenset({Encoding.ANALOG})
    #: synaptic delays in steps (0: a spike reaches the next population in the same step)
    synaptic_delay: frozenset[int] = frozenset({0})


#: What to use instead of a node type a backend lacks (by type name).
NODE_HINTS = {
    "SpikingMaxPool": "convert with max_to_avg_pool=True (CLI: convert --max-to-avg)",
    "MaxPool": "convert with max_to_avg_pool=True (CLI: convert --max-to-avg)",
    "BatchNorm": "pass the converted network: conversion folds it into the weights",
    "ReLU": "pass the converted network: conversion turns it into IF neurons",
    "Softmax": "pass the converted network: conversion replaces it by the readout",
}
_OPTION_HINTS = {
    "reset": "convert with reset={v!r} (CLI: convert --reset {v})",
    "encoding": "simulate with encoding={v!r} (CLI: --encoding {v})",
    "readout": "convert with readout='spike_count' (CLI: convert --readout spike_count) "
               "for a spiking output layer",
    "synaptic_delay": "use synaptic_delay={v} (CLI: --synaptic-delay {v})",
}


@dataclass(frozen=True)
class Problem:
    """One reason a network cannot go to a backend; ``layers`` are ``(name, type)``."""

    text: str
    hint: str | None = None
    layers: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        return self.text + (f"; {self.hint}" if self.hint else "")


class BackendMismatch(UnsupportedLayerError):
    """The network or the options do not fit a backend: every problem, all at once.

    ``layers`` lists the unsupported nodes as ``(name, type)`` (as
    :class:`~ann2snn.errors.UnsupportedLayerError`), ``problems`` every problem."""

    def __init__(self, backend: str, problems: list[Problem], supported: list[str]):
        self.backend, self.problems = backend, list(problems)
        self.layers = [lay for p in problems for lay in p.layers]
        self.supported = sorted(set(supported))
        lines = [f"the network does not fit the '{backend}' backend "
                 f"({len(problems)} problem(s)):", *(f"  - {p}" for p in problems)]
        if self.layers:
            lines.append(f"The '{backend}' backend supports: " + ", ".join(self.supported))
        Ann2SnnError.__init__(self, "\n".join(lines))


class BackendUnavailable(Ann2SnnError):
    """A backend's third-party package is not installed."""


def _names(values) -> str:
    return ", ".join(repr(getattr(v, "value", v)) for v in
                     sorted(values, key=lambda v: str(getattr(v, "value", v))))


@dataclass
class Backend:
    """A named target. Subclasses override :meth:`export` and/or :meth:`run`."""

    name: str
    description: str  #: one line, shown by ``--help``
    supports: dict[Arithmetic, Supports]
    requires: tuple[str, ...] = ()  #: third-party modules, imported by :meth:`require`
    extra: str | None = None  #: the pip extra that installs them: ann2snn[extra]
    traces: bool = False  #: ``run`` feeds a ``probe`` as the built-in simulator does
    hints: dict[str, str] = field(default_factory=dict)  #: type name -> what to use instead

    #: option names :meth:`check` reads (others go to export/run untouched)
    SEMANTIC: ClassVar[tuple[str, ...]] = ("encoding", "synaptic_delay")

    # -- what a backend offers -----------------------------------------------------------
    def export(self, snn, out, **options):
        """Write ``snn`` (an SNN or a spiking Graph) to ``out``; returns the paths written."""
        raise NotImplementedError(f"the '{self.name}' backend does not export")

    def run(self, snn, data, **options):
        """Simulate ``data`` (a Dataset, or an array with ``labels=``): a SimulationResult."""
        raise NotImplementedError(f"the '{self.name}' backend does not run networks")

    @property
    def can_export(self) -> bool:
        return type(self).export is not Backend.export

    @property
    def can_run(self) -> bool:
        return type(self).run is not Backend.run

    def require(self, load: bool = True) -> None:
        """Import the third-party packages, or say how to install them. ``load=False``
        only checks that they are installed (importlib.util.find_spec), for a check
        before any work that must not load a simulator in this process (the nest
        backend runs NEST in a worker process only: backends/nest/worker.py)."""
        for mod in self.requires:
            try:
                if load:
                    importlib.import_module(mod)
                elif importlib.util.find_spec(mod) is None:
                    raise ImportError(f"No module named '{mod}'")
            except ImportError as e:
                how = install_hint(self.extra) if self.extra else f"install {mod}"
                raise BackendUnavailable(f"the '{self.name}' backend needs the {mod} package, "
                                         f"which cannot be imported ({e}): {how}") from e

    # -- checking --------------------------------------------------------------------------
    def arithmetic(self, graph, **options) -> Arithmetic:
        """The arithmetic the backend is asked for (default: the graph's)."""
        return arithmetic_of(graph)

    def delays(self, graph) -> frozenset[int]:
        """The synaptic delays this backend implements for ``graph``'s arithmetic."""
        sup = self.supports.get(self.arithmetic(graph)) or next(iter(self.supports.values()))
        return frozenset(int(d) for d in sup.synaptic_delay)

    def problems(self, graph, **options) -> list[Problem]:
        """Every way ``graph`` with ``options`` does not fit this backend."""
        out: list[Problem] = []
        arith = self.arithmetic(graph, **options)
        sup = self.supports.get(arith)
        if sup is None:
            other = "quantize it first (ann2snn quantize)" if arith is Arithmetic.FLOAT else \
                "pass the float network, not the quantized one"
            out.append(Problem(f"{arith.value} networks are not supported (supported: "
                               f"{_names(a for a in self.supports)})", other))
            sup = next(iter(self.supports.values()))
        by_type: dict[str, list[tuple[str, str]]] = {}
        for x in graph:
            if type(x) not in sup.nodes:
                by_type.setdefault(x.op, []).append((x.name, x.op))
        for op, layers in by_type.items():
            names = ", ".join(f"'{a}'" for a, _ in layers)
            out.append(Problem(f"layer{'s' if len(layers) > 1 else ''} {names} ({op}): "
                               "not supported",
                               self.hints.get(op, NODE_HINTS.get(op)), tuple(layers)))
        resets: dict[ResetMode, list[str]] = {}
        for p in graph:
            if p.population and p.reset not in sup.reset:
                resets.setdefault(p.reset, []).append(p.name)
        for mode, pops in resets.items():
            out.append(self._option("reset", mode, sup.reset, f" (populations {', '.join(pops)})"))
        readout = graph.readout
        if readout not in sup.readout:
            out.append(self._option("readout", readout, sup.readout))
        enc = coerce(Encoding, options.get("encoding", Encoding.ANALOG), "encoding")
        if enc not in sup.encoding:
            out.append(self._option("encoding", enc, sup.encoding))
        delay = coerce(SynapticDelay, options.get("synaptic_delay",
                                                  graph.meta.get("synaptic_delay", 0)),
                       "synaptic_delay")
        if delay not in sup.synaptic_delay:
            out.append(self._option("synaptic_delay", delay, sup.synaptic_delay))
        return out + self.extra_problems(graph, **options)

    def extra_problems(self, graph, **options) -> list[Problem]:
        """Backend-specific checks (geometry limits, ...); none by default."""
        return []

    def check(self, graph, **options) -> None:
        """Raise one :class:`BackendMismatch` listing every problem, if there is any."""
        graph = getattr(graph, "graph", graph)
        found = self.problems(graph, **options)
        if found:
            nodes = self.supports.get(self.arithmetic(graph, **options)) or \
                next(iter(self.supports.values()))
            raise BackendMismatch(self.name, found, [t.__name__ for t in nodes.nodes])

    @staticmethod
    def _option(option: str, value, supported, where: str = "") -> Problem:
        choices = sorted(supported, key=lambda v: str(getattr(v, "value", v)))
        if option == "readout":  # only a membrane readout has an alternative
            hint = _OPTION_HINTS[option] if value is Readout.MEMBRANE else None
        else:
            hint = _OPTION_HINTS[option].format(v=getattr(choices[0], "value", choices[0]))
        return Problem(f"{option} {getattr(value, 'value', value)!r}{where} is not supported "
                       f"(supported: {_names(supported)})", hint)
