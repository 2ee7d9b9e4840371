"""The "loihi" backend: run an integer-mode network in nengo-loihi's emulator of Loihi 1.

``ann2snn simulate net_loihi.snn --backend loihi`` / ``ann2snn.simulate(snn, data,
backend="loihi")``, for a network quantized with ``--target loihi`` (profile.py, which
:meth:`check` applies: every register limit, all problems at once). The result is the
built-in simulator's SimulationResult at synaptic delay 1 (runner.py). The emulator is
pure Python, slow next to the built-in simulator (docs/backends.md has the figures), so
``max_samples`` (default 1000) caps a run that names no ``num_samples``.
"""

from __future__ import annotations

import logging

from ...errors import ConfigError
from ...ir import nodes as n
from ...ir.options import Readout, ResetMode, SynapticDelay
from ..base import Arithmetic, Backend, Problem, Supports
from ..connections import EXPAND
from . import profile

log = logging.getLogger(__name__)

MAX_SAMPLES = 1000
BATCH = 16

_NODES = frozenset(t for t in EXPAND.types()
                   if t.integer and not t.analog_only and not t.stateful) | {n.Input, n.IF}


class LoihiBackend(Backend):
    def extra_problems(self, graph, **options) -> list[Problem]:
        out = []
        if len(graph.inputs) != 1:
            out.append(Problem(f"{len(graph.inputs)} inputs: the loihi backend feeds one"))
        dev = str(options.get("device", "cpu"))
        if dev != "cpu":
            out.append(Problem(f"device {dev!r}: nengo-loihi's emulator runs on the CPU",
                               "drop --device (device='cpu')"))
        from ...ir import is_quantized

        if not is_quantized(graph):
            return out  # the arithmetic problem says it
        return out + [p for p in profile.problems(graph)
                      if "resets by subtraction" not in p.text]  # said by the reset check

    def run(self, snn, data, *, labels=None, num_samples: int | None = None,
            max_samples: int | None = MAX_SAMPLES, batch_size: int = BATCH,
            progress: bool = False, device: str = "cpu", **options):
        """Simulate ``data`` in the emulator; the options of ``SNN.simulate`` (at
        synaptic delay 1), plus ``max_samples`` (the cap when no ``num_samples`` is
        given; None: no cap)."""
        from ...arrays import labelled_samples
        from .runner import LoihiSNN

        if device != "cpu":
            raise ConfigError(f"device {device!r}: the loihi backend runs on the CPU")
        graph = getattr(snn, "graph", snn)
        net = LoihiSNN(graph, getattr(snn, "ann_graph", None))
        x, y = labelled_samples(data, labels, num_samples, tuple(graph.input_shape))
        if num_samples is None and max_samples is not None and len(x) > max_samples:
            log.warning("the loihi backend runs the first %d of %d samples (pass "
                        "num_samples / --num-samples to choose)", max_samples, len(x))
            x, y = x[:max_samples], y[:max_samples]
        options["synaptic_delay"] = SynapticDelay(1)
        try:
            return net.simulate(x, y, batch_size=batch_size, progress=progress, **options)
        finally:
            net.close()


BACKEND = LoihiBackend(
    name="loihi",
    description="Loihi 1 in nengo-loihi's emulator (integer mode, quantize --target "
                "loihi; synaptic delay 1), docs/backends.md",
    supports={Arithmetic.INTEGER: Supports(nodes=_NODES, reset=frozenset({ResetMode.ZERO}),
                                           readout=frozenset({Readout.SPIKE_COUNT}),
                                           synaptic_delay=frozenset({1}))},
    requires=("nengo_loihi",),
    extra="loihi",
    traces=True,
)
