"""The float simulator's fast pooling: 2×2 pooling on strided views, and spiking max
pooling that gates spikes with one plain max pool over a packed key.

Both are exact: the 2×2 reductions sum in the pooling kernels' order, and the key gate
picks the input that max pooling with indices picks (tests/sim/test_invariants.py).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..ir import nodes as n
from . import kernels
from .kernels.ops import is_2x2


def sum4(q: list[torch.Tensor]) -> torch.Tensor:
    return q[0].add(q[1]).add_(q[2]).add_(q[3])


def max4(q: list[torch.Tensor]) -> torch.Tensor:
    return torch.maximum(torch.maximum(q[0], q[1]), q[2]).maximum(q[3])


def quarters(x: torch.Tensor, reduce) -> torch.Tensor:
    """``reduce`` over the four strided views x[..., i::2, j::2] of a (N, C, H, W) tensor
    (row-major window order, as the pooling kernels): about 2x faster than torch's 2×2
    pooling on CPU, and the layout (channels-last) is kept."""
    h, w = x.shape[-2] // 2 * 2, x.shape[-1] // 2 * 2
    x = x[..., :h, :w]
    return reduce([x[..., i::2, j::2] for i in (0, 1) for j in (0, 1)])


def avg_pool_2x2(x: torch.Tensor) -> torch.Tensor:
    """2×2 average pooling, stride 2 (see :func:`quarters`)."""
    return quarters(x, sum4).mul_(0.25)


def spiking_maxpool(node: n.SpikingMaxPool, s: torch.Tensor, state: dict) -> torch.Tensor:
    """Gate through the spikes ``s`` (K, B, ...) of the input with the largest cumulative
    count so far (counting the current step; ties: lowest index, as torch's max pooling
    picks). ``state`` carries the counts between windows. Runs the fused gate
    (sim/kernels/) where it applies, else :func:`spiking_maxpool_torch`."""
    key = node.name + "::count"
    out = fused_gate(node, s, state, key)
    if out is not None:
        state[key + "::steps"] = state.get(key + "::steps", 0) + s.shape[0]
        return out
    return spiking_maxpool_torch(node, s, state)


def fused_gate(node: n.SpikingMaxPool, s: torch.Tensor, state: dict, key: str
               ) -> torch.Tensor | None:
    """The fused spiking max-pool gate (sim/kernels/: C on CPU, Triton on CUDA), keeping
    the counts in ``state[key]``; None where it does not apply (then the caller's torch path runs).
    Float and integer spikes alike."""
    r = kernels.fused("maxpool_gate", s.device, node, s, state.get(key))
    if r is None:
        return None
    state[key] = r[1]
    return r[0]


def fused_if_pool(pool: n.SpikingMaxPool, cur: torch.Tensor, v: torch.Tensor, threshold: float,
                  leak: float, multi_spike: int, reset_zero: bool, k: int, static: bool,
                  count: torch.Tensor, state: dict, inplace: bool = False,
                  reader_fan: torch.Tensor | None = None
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None] | None:
    """A float IF population (membrane ``v``, current ``cur``) and the spiking max pool
    ``pool`` that alone reads it, in one fused pass (sim/kernels/): (the pool's output
    spikes, the new membrane, the SOPs per step of the pool's reader, whose fan-out is
    ``reader_fan``, or None without it); ``count`` (the population's spike counts) and
    the pool's counts in ``state`` are updated as the two separate steps would;
    ``inplace``: ``v`` may be updated in place. None where the kernel does not apply (then
    the caller runs the population and the pool apart).

    The pool counts each input's spikes, which the population also counts: where both
    start from zero (the first window, ``count`` all zero) the pool gates with ``count``
    from then on ("::shared" in ``state``) and keeps no counts of its own, unless a later
    window runs apart: then its counts are ``count`` as it stands."""
    if not kernels.any_for(cur.device):
        return None
    key = pool.name + "::count"
    if key not in state and key + "::shared" not in state:  # the first window
        state[key + "::shared"] = not bool(count.any())
    shared = state[key + "::shared"]
    r = kernels.fused("if_pool_f32", cur.device, pool, cur, v, threshold, leak, multi_spike,
                      reset_zero, k, static, count, state.get(key), inplace, reader_fan,
                      shared)
    if r is None:
        if shared:  # run apart from now on: the pool's counts, so far the population's
            state[key], state[key + "::shared"] = count.clone(), False
        return None
    if not shared:
        state[key] = r[2]
    state[key + "::steps"] = state.get(key + "::steps", 0) + k
    return r[0], r[1], r[3]


def fused_if_avgpool(pool: n.AvgPool, cur: torch.Tensor, v: torch.Tensor, threshold: float,
                     leak: float, multi_spike: int, reset_zero: bool, k: int, static: bool,
                     count: torch.Tensor, fan: torch.Tensor | None
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None] | None:
    """A float IF population and the 2×2 average pool ``pool`` that alone reads it, in one
    fused pass (sim/kernels/): (the pool's output, the new membrane, updated in place, the
    pool's synaptic operations per step, or None without ``fan``); ``count`` is updated as
    the population's scan would. None where the kernel does not apply."""
    return kernels.fused("if_avgpool_f32", cur.device, pool, cur, v, threshold, leak,
                         multi_spike, reset_zero, k, static, count, fan, True)


def spiking_maxpool_torch(node: n.SpikingMaxPool, s: torch.Tensor, state: dict
                          ) -> torch.Tensor:
    """:func:`spiking_maxpool` in pure torch: counts per step, then one max over a packed
    key for the window (or max pooling with indices)."""
    k, b = s.shape[:2]
    key = node.name + "::count"
    cnt = torch.empty_like(s)  # counts after each step (in-place adds: cumsum is slower)
    run = state.get(key)
    for i in range(k):
        if run is None:
            cnt[i].copy_(s[i])
        else:
            torch.add(run, s[i], out=cnt[i])
        run = cnt[i]
    state[key] = run.clone()
    steps = state[key + "::steps"] = state.get(key + "::steps", 0) + k
    flat, sf = cnt.flatten(0, 1), s.flatten(0, 1)
    pos = window_positions(node, tuple(sf.shape[2:]), s.device)
    # the key's parity is the spike: binary spikes only (burst spikes take the indices)
    if pos is not None and (steps + 1) * 2 * pos[1] < 1 << 24 and not (sf > 1).any():
        out = gate_by_key(node, flat, sf, *pos)
    else:
        pool = F.max_pool1d if len(node.kernel) == 1 else F.max_pool2d
        _, idx = pool(flat, node.kernel, node.stride, node.padding, node.dilation,
                      node.ceil_mode, return_indices=True)
        out = torch.gather(sf.flatten(2), 2, idx.flatten(2)).view(idx.shape)
    return out.view(k, b, *out.shape[1:])


def window_positions(node: n.SpikingMaxPool, spatial: tuple[int, ...], device
                     ) -> tuple[torch.Tensor, int] | None:
    """(2·(P − 1 − position in its pooling window) per input element, P = window size)
    for non-overlapping windows without padding or dilation; None otherwise."""
    if tuple(node.kernel) != tuple(node.stride) or any(node.padding) or \
            any(d != 1 for d in node.dilation):
        return None
    area = math.prod(node.kernel)
    pos = torch.zeros(spatial, dtype=torch.float32)
    for axis, (size, kern) in enumerate(zip(spatial, node.kernel)):
        inner = math.prod(node.kernel[axis + 1:])
        shape = [1] * len(spatial)
        shape[axis] = size
        pos = pos + (torch.arange(size) % kern).to(torch.float32).view(shape) * inner
    return (2 * (area - 1 - pos)).to(device), area


def gate_by_key(node: n.SpikingMaxPool, cnt: torch.Tensor, s: torch.Tensor,
                pos: torch.Tensor, area: int) -> torch.Tensor:
    """Spiking max pooling with one plain max pool: key = 2P·count + 2(P−1−pos) + spike
    is largest for the highest count, then the lowest position in the window, and its
    parity is that input's spike. Exact while keys stay below 2^24 (float32 integers)."""
    key = torch.add(s, pos).add_(cnt, alpha=2 * area)
    if is_2x2(node) and key.device.type == "cpu":
        m = quarters(key, max4)
    else:
        pool = F.max_pool1d if len(node.kernel) == 1 else F.max_pool2d
        m = pool(key, node.kernel, node.stride, 0, 1, node.ceil_mode)
    return torch.frac(m.mul_(0.5)).mul_(2.0)  # the parity (remainder is 7x slower)
