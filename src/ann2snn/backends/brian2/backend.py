"""The Brian2 backend ("brian2", run only): a converted network simulated by Brian2.

Brian2 delivers a spike one step later at the earliest, so this backend implements
synaptic delay 1 only (docs/design.md §3) and is compared spike for spike with the
built-in simulator run with ``synaptic_delay=1``. Float networks and integer-mode ones
(integer values held exactly in float64, with the saturation of sim/integer.py), analog
input, reset by subtraction or to zero, spike-count or membrane readout; neither
multi-spike populations nor spiking max pooling. The data-set loop is the built-in's
(analysis/evaluate.py), so the SimulationResult, the run folder and the traces have
the same form. Build and semantics: build.py; batches: runner.py; docs/backends.md.
"""

from __future__ import annotations

import logging

from ...arrays import labelled_samples
from ...errors import SimulationError
from ...ir import nodes as n
from ...ir.options import Encoding, SynapticDelay, coerce
from ..base import Arithmetic, Backend, Problem, Supports
from ..connections import EXPAND

log = logging.getLogger(__name__)

#: Samples simulated when no ``num_samples`` is given (Brian2 is slow; docs/backends.md).
DEFAULT_MAX_SAMPLES = 1000


class Brian2Backend(Backend):
    """Runs a network in Brian2 (numpy code target by default: no compiler needed)."""

    def extra_problems(self, graph, **options) -> list[Problem]:
        out = []
        multi = [p.name for p in graph.of_type(n.IF) if p.multi_spike > 1]
        if multi:
            out.append(Problem(f"multi-spike populations ({', '.join(multi)}) are not "
                               "supported", "convert without multi_spike"))
        target = options.get("target", "numpy")
        from .runner import TARGETS

        if target not in TARGETS:
            out.append(Problem(f"Brian2 code target {target!r} is not one of "
                               + ", ".join(TARGETS)))
        return out

    def run(self, snn, data, labels=None, *, timesteps: int = 64, batch_size: int = 256,
            device: str = "cpu", num_samples: int | None = None,
            max_samples: int | None = DEFAULT_MAX_SAMPLES,
            encoding: Encoding | str = Encoding.ANALOG, input_rate: float = 1.0,
            seed: int = 0, window: int | None = None, evaluate_ann: bool = True,
            progress: bool = False, probe=None, config: dict | None = None,
            diagnostics: bool = True, example_sample: int | None = 0,
            synaptic_delay: int = 1, copies: int = 16, target: str = "numpy"):
        """Simulate ``data`` as ``SNN.simulate`` does, in Brian2.

        ``copies``: samples per Brian2 network (simulated side by side); ``target``:
        Brian2's code generation target, "numpy" (default) or "cython" (needs a C
        compiler and Cython). Without ``num_samples`` at most ``max_samples`` samples
        are simulated (None: all), with a warning when that cuts the data.
        """
        from ...analysis.evaluate import evaluate
        from .runner import Brian2Net

        graph = getattr(snn, "graph", snn)
        self.check(graph, encoding=encoding, synaptic_delay=synaptic_delay, target=target)
        if str(device) != "cpu":
            raise SimulationError(f"the brian2 backend runs on the CPU; got device {device!r}")
        if batch_size < 1 or copies < 1:
            raise SimulationError(f"batch size and copies must be >= 1, got {batch_size}, "
                                  f"{copies}")
        x, y = labelled_samples(data, labels, num_samples, tuple(graph.input_shape))
        if num_samples is None and max_samples is not None and len(x) > max_samples:
            log.warning("brian2: simulating the first %d of %d samples (pass num_samples "
                        "for more)", max_samples, len(x))
            x, y = x[:max_samples], y[:max_samples]
        net = Brian2Net(graph, getattr(snn, "ann_graph", None), copies, target)
        enc = coerce(Encoding, encoding, "encoding")
        cfg = config or {"timesteps": timesteps, "batch_size": batch_size, "device": "cpu",
                         "encoding": enc.value, "input_rate": input_rate, "seed": seed}
        cfg = {**cfg, "backend": self.name, "synaptic_delay": synaptic_delay,
               "brian2_target": target, "brian2_copies": copies}
        # batches of `copies`: one Brian2 network each, and a progress bar that moves
        return evaluate(net, x, y, timesteps=timesteps, batch_size=min(batch_size, copies),
                        dev=net.params_device(), encoding=enc, input_rate=input_rate,
                        seed=seed, window=window, evaluate_ann=evaluate_ann,
                        progress=progress, probe=probe, config=cfg,
                        diagnostics=diagnostics, example_sample=example_sample,
                        synaptic_delay=coerce(SynapticDelay, synaptic_delay, "synaptic_delay"))


def _nodes() -> frozenset:
    """Populations, the Input, and every node with a connection list (composed into
    Synapses between populations); not spiking max pooling (stateful)."""
    return frozenset({n.Input, n.IF} | {t for t in n.NODE_TYPES.values()
                                         if t in EXPAND.types() and not t.stateful
                                         and not t.analog_only})


_DESCRIPTION = "Brian2 (synaptic delay 1; numpy code, or --brian2-target cython)"


def _supports(integer: bool) -> Supports:
    nodes = _nodes()
    if integer:
        nodes = frozenset(t for t in nodes if t.integer)
    return Supports(nodes=nodes, synaptic_delay=frozenset({1}))


BACKEND = Brian2Backend(
    name="brian2",
    description=_DESCRIPTION,
    supports={Arithmetic.FLOAT: _supports(False), Arithmetic.INTEGER: _supports(True)},
    requires=("brian2",),
    extra="brian2",
    traces=True,
)
