"""The "nengo" backend: run a converted network in Nengo's reference simulator.

``ann2snn simulate net.snn --backend nengo`` / ``ann2snn.simulate(snn, data,
backend="nengo")``. The network is built once (build.py) and every sample runs in it
(runner.py); the result is the built-in simulator's :class:`SimulationResult` with the
same diagnostics, so the run folder and ``ann2snn diff`` of traces work unchanged.
Nengo is slow next to the built-in simulator (docs/backends.md has the figures), so
``max_samples`` (default 1000) caps a run that names no ``num_samples``.
"""

from __future__ import annotations

import logging

from ...errors import ConfigError
from ...ir import nodes as n
from ...ir.options import Encoding
from ..base import Arithmetic, Backend, Problem, Supports
from ..connections import EXPAND

log = logging.getLogger(__name__)

#: samples run when the caller names no ``num_samples``
MAX_SAMPLES = 1000
#: samples per batch of the data-set loop (its progress bar moves once per batch)
BATCH = 16

_LINEAR = frozenset(t for t in EXPAND.types() if not t.analog_only and not t.stateful)
_NODES = _LINEAR | {n.Input, n.IF}


class NengoBackend(Backend):
    def extra_problems(self, graph, **options) -> list[Problem]:
        out = []
        if len(graph.inputs) != 1:
            out.append(Problem(f"{len(graph.inputs)} inputs ({', '.join(graph.inputs)}): the "
                               "nengo backend feeds one input node"))
        dev = str(options.get("device", "cpu"))
        if dev != "cpu":
            out.append(Problem(f"device {dev!r}: Nengo's reference simulator runs on the CPU",
                               "drop --device (device='cpu')"))
        return out

    def run(self, snn, data, *, labels=None, num_samples: int | None = None,
            max_samples: int | None = MAX_SAMPLES, batch_size: int = BATCH,
            lanes: int | None = None, progress: bool = False, device: str = "cpu",
            **options):
        """Simulate ``data`` in Nengo; the options of ``SNN.simulate`` (``window`` only
        cuts the replay of the counts), plus ``max_samples`` (the cap when no
        ``num_samples`` is given; None: no cap) and ``lanes`` (samples per Nengo run)."""
        from ...arrays import labelled_samples
        from .runner import NengoSNN

        if device != "cpu":
            raise ConfigError(f"device {device!r}: the nengo backend runs on the CPU")
        graph = getattr(snn, "graph", snn)
        net = NengoSNN(graph, getattr(snn, "ann_graph", None), lanes=lanes, progress=False)
        x, y = labelled_samples(data, labels, num_samples, tuple(graph.input_shape))
        if num_samples is None and max_samples is not None and len(x) > max_samples:
            log.warning("the nengo backend runs the first %d of %d samples (pass "
                        "num_samples / --num-samples to choose)", max_samples, len(x))
            x, y = x[:max_samples], y[:max_samples]
        try:
            return net.simulate(x, y, batch_size=min(batch_size, BATCH) if lanes is None
                                else batch_size, progress=progress, **options)
        finally:
            net.close()


BACKEND = NengoBackend(
    name="nengo",
    description="Nengo's reference simulator (custom IF neuron type, no synaptic delay), "
                "docs/backends.md",
    supports={
        Arithmetic.FLOAT: Supports(nodes=_NODES, encoding=frozenset(Encoding)),
        Arithmetic.INTEGER: Supports(nodes=frozenset(t for t in _NODES if t.integer)),
    },
    requires=("nengo",),
    extra="nengo",
    traces=True,
)
