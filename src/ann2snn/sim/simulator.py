"""The float simulator: a spiking Graph as a torch module (docs/design.md §3, §5).

:class:`SpikingNetwork` runs a batch with the shared window loop (sim/windows.py), the
float ops (sim/ops.py), the IF scan (sim/functional.py) and the fast pooling
(sim/pooling.py); :func:`plan_windows` sizes the windows and sample chunks of a batch.
"""

from __future__ import annotations

import math

import torch

from ..errors import SimulationError
from ..ir import Encoding, Graph, ResetMode, SynapticDelay, coerce, facts
from ..ir import nodes as n
from . import kernels, pooling
from .encoders import element_keys, poisson_window, ttfs_window
from .functional import IFParams, IFState, if_init, if_scan, if_step
from .ops import GraphParams, apply
from .windows import BatchOutput, Probe, WindowOps, run_chunked, run_windows

__all__ = ["SpikingNetwork", "BatchOutput", "Probe", "plan_windows", "CPU_TENSOR_BYTES",
           "MIN_WINDOW"]

# The pooling helpers under the names tests/sim/test_invariants.py imports from here.
_gate_by_key, _window_positions = pooling.gate_by_key, pooling.window_positions
_quarters, _sum4 = pooling.quarters, pooling.sum4


class SpikingNetwork(torch.nn.Module):
    """A converted network. ``forward(x)`` returns the readout after ``timesteps`` steps.

    Use :meth:`simulate` (see ``ann2snn.api``) for datasets, accuracy per step and metrics.
    """

    #: ``run_batch`` takes ``labels`` (analysis/evaluate.py then keeps O(T) per batch)
    counts_correct = True

    def __init__(self, graph: Graph, timesteps: int = 64):
        super().__init__()
        if not facts.populations(graph):
            raise SimulationError("the graph has no IF population; convert it first")
        self.graph = graph
        self.timesteps = timesteps
        self.params = GraphParams(graph)
        self._fanout: dict[str, torch.Tensor] = {}
        self._binary = facts.binary_nodes(graph)

    # -- public API ---------------------------------------------------------------
    @property
    def readout_mode(self) -> str:
        """``"spike_count"`` or ``"membrane"`` (the value of :attr:`Graph.readout`)."""
        return self.graph.readout.value

    def forward(self, x: torch.Tensor, timesteps: int | None = None) -> torch.Tensor:
        return self.run_batch(x, timesteps or self.timesteps).readout

    @torch.no_grad()
    def run_batch(self, x: torch.Tensor, timesteps: int,
                  encoding: Encoding | str = Encoding.ANALOG, window: int | None = None,
                  seed: int = 0, sample_index=None, input_rate: float = 1.0,
                  probe: Probe | None = None, count_ops: bool = True,
                  memory_budget: int = 256 << 20,
                  synaptic_delay: SynapticDelay | int = SynapticDelay.NONE,
                  labels: torch.Tensor | None = None) -> BatchOutput:
        """Simulate one batch ``x`` (B, ...) for ``timesteps`` steps. ``encoding``: an
        :class:`Encoding` or its string value; ``synaptic_delay``: 0 or 1 step per
        connection out of a population (docs/design.md §3). ``labels`` (B,): return the
        correct predictions per step instead of every prediction (``run_windows``)."""
        encoding = coerce(Encoding, encoding, "encoding")
        delay = coerce(SynapticDelay, synaptic_delay, "synaptic_delay")
        dev = self.params_device()
        x = torch.as_tensor(x, dtype=torch.float32).to(dev)
        if tuple(x.shape[1:]) != tuple(self.graph.input_shape):
            raise SimulationError(f"input has shape {tuple(x.shape[1:])} per sample; the network "
                                  f"expects {tuple(self.graph.input_shape)}")
        if not torch.isfinite(x).all():
            raise SimulationError("input contains NaN or Inf")
        if timesteps < 1:
            raise SimulationError(f"timesteps must be >= 1, got {timesteps}")
        b = x.shape[0]
        if sample_index is None:
            sample_index = torch.arange(b)
        window, chunk = plan_windows(self.graph, b, timesteps, window, 4, dev,
                                     probe is None, memory_budget)
        if chunk < b:
            return run_chunked(lambda i, j: self.run_batch(
                x[i:j], timesteps, encoding, window, seed, sample_index[i:j], input_rate,
                None, count_ops, memory_budget, delay,
                None if labels is None else labels[i:j]), b, chunk)
        keys = element_keys(seed, torch.as_tensor(sample_index, device=dev), x[0].numel()) \
            if encoding is Encoding.POISSON else None

        def inputs(t0: int, k: int) -> tuple[torch.Tensor, bool]:
            if encoding is Encoding.ANALOG:
                return x, True
            if encoding is Encoding.POISSON:
                return poisson_window(x, keys, t0, k, input_rate), False
            return ttfs_window(x, t0, k, timesteps), False

        def init(node: n.IF, shape) -> IFState:
            return if_init(shape, IFParams.of(node), dev)

        def scan(node, cur, st, k, static, t0):
            return self._scan(cur, st, IFParams.of(node), k, static, probe, node.name, t0)

        def scan_counting(node, cur, st, k, static, t0, count):
            if probe is not None:
                s, st = scan(node, cur, st, k, static, t0)
                count += s.sum(0)
                return s, st
            return if_scan(cur, st, IFParams.of(node), k, static, count, inplace=True)

        def if_pool(node, pool, cur, st, state, k, static, count, fan):
            p = IFParams.of(node)
            args = (pool, cur, st.v, p.threshold, p.leak, p.multi_spike,
                    p.reset is ResetMode.ZERO, k, static, count)
            if isinstance(pool, n.AvgPool):
                r = pooling.fused_if_avgpool(*args, fan)
                return None if r is None else (r[0], IFState(r[1]), r[2])
            r = pooling.fused_if_pool(*args, state, True, fan)
            return None if r is None else (r[0], IFState(r[1]), r[2])

        ops = WindowOps(inputs, init, scan, pooling.spiking_maxpool, self._sim_apply,
                        self._fanout_of, scan_counting, if_pool)
        return run_windows(self.graph, ops, b, timesteps, window, probe,
                           self._binary if count_ops else None, int(delay), labels)

    def params_device(self) -> torch.device:
        for buf in self.params.buffers():
            return buf.device
        return torch.device("cpu")

    # -- internals ------------------------------------------------------------------
    def _sim_apply(self, node: n.Node, xs: list[torch.Tensor]) -> torch.Tensor:
        """:func:`ops.apply`, with 2-d convolutions in channels-last layout.

        oneDNN convolves channels-last tensors about 3x faster on CPU; the output is
        channels-last, and so are the IF populations and pools after it (their ops keep
        the layout), until a Flatten or Reshape reads it in logical order.
        """
        if xs and xs[0].device.type == "cpu":
            if isinstance(node, n.Conv) and node.ndim == 2:
                y = apply(node, [xs[0].contiguous(memory_format=torch.channels_last)],
                          self.params)
                # a one-channel input counts as both layouts, and oneDNN then answers in
                # NCHW: the fused kernels after it are fastest channels-last (the torch
                # code's pooling is not: it keeps what oneDNN gives)
                if kernels.library() is not None:
                    y = y.contiguous(memory_format=torch.channels_last)
                return y
            if isinstance(node, n.AvgPool) and pooling.is_2x2(node):
                return pooling.avg_pool_2x2(xs[0])
        return apply(node, xs, self.params)

    def _scan(self, cur, st: IFState, p: IFParams, k: int, static: bool, probe, name, t0):
        if probe is None:
            return if_scan(cur, st, p, k, static)
        # traced path: step by step to expose v before and after reset
        v_pre, v_post, spikes = [], [], []
        for i in range(k):
            c = cur if static else cur[i]
            pre = st.v * (1.0 - p.leak) + c if p.leak else st.v + c
            s, st = if_step(c, st, p)
            v_pre.append(pre)
            v_post.append(st.v)
            spikes.append(s)
        probe(name, "v_pre_reset", torch.stack(v_pre), t0)
        probe(name, "v", torch.stack(v_post), t0)
        out = torch.stack(spikes)
        if not p.membrane_readout:  # a membrane readout does not spike (docs/traces.md)
            probe(name, "spikes", out, t0)
        return out, st

    def _fanout_of(self, node: n.Node, in_shape) -> torch.Tensor:
        """Synapses leaving each input element (see analysis.counts.fanout), shape (numel,)."""
        if node.name not in self._fanout:
            from ..analysis.counts import fanout

            fan = fanout(self.graph, node.name).reshape(-1)
            self._fanout[node.name] = torch.as_tensor(fan, dtype=torch.float32,
                                                      device=self.params_device())
        return self._fanout[node.name]


#: Largest tensor a CPU window may allocate. glibc serves blocks up to 32 MiB from its
#: heap and reuses them; larger ones are fresh pages from the OS every window, and the
#: page faults on first touch cost more than the arithmetic (measured: 5.3 ms vs 3.4 ms
#: per sample for a two-conv MNIST net at batch 100, T = 100).
CPU_TENSOR_BYTES = 16 << 20
#: Windows shorter than this make the per-window overhead and small GEMMs dominate.
MIN_WINDOW = 8


def plan_windows(graph: Graph, b: int, timesteps: int, window: int | None, itemsize: int,
                 device: torch.device, can_chunk: bool, memory_budget: int = 256 << 20
                 ) -> tuple[int, int]:
    """(window, samples per chunk) for simulating a batch of ``b``.

    On CPU the largest per-window tensor (window × chunk × widest population) is kept
    under :data:`CPU_TENSOR_BYTES`, first by shortening the window down to
    :data:`MIN_WINDOW` steps, then by simulating the batch in chunks of samples (when
    ``can_chunk``: results do not depend on the batch, docs/design.md §5). On CUDA, where the
    caching allocator reuses memory, the window only bounds memory by ``memory_budget``.
    A given ``window`` is kept.
    """
    per_sample_step = itemsize * max(math.prod(s) for s in graph.shapes.values())
    if device.type != "cpu":
        if window is None:
            window = max(1, min(timesteps, memory_budget // max(3 * b * per_sample_step, 1)))
        return window, b
    if window is None:
        fit = CPU_TENSOR_BYTES // max(b * per_sample_step, 1)
        window = max(1, min(timesteps, max(fit, MIN_WINDOW)))
    chunk = b
    if can_chunk:
        chunk = max(1, min(b, CPU_TENSOR_BYTES // max(window * per_sample_step, 1)))
    return window, chunk
