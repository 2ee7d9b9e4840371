"""Input encodings (docs/design.md §3): ANALOG, POISSON, TTFS.

Poisson input uses a counter-based hash instead of a stateful generator: the uniform
number for (seed, sample index, step, element) is a fixed function of those four
integers. Spikes therefore do not depend on the batch size or on how the time steps
are cut into windows, and a C implementation can reproduce them bit for bit.
"""

from __future__ import annotations

import torch

from ..ir.options import Encoding

_M32 = 0xFFFFFFFF
_MIX = 0x45D9F3B  # < 2**27: products of 32-bit values stay inside int64


__all__ = ["Encoding", "hash32", "element_keys", "uniform", "poisson_window", "ttfs_window"]


def hash32(h: torch.Tensor) -> torch.Tensor:
    """A 32-bit integer mixing function on int64 tensors holding values < 2**32."""
    h = h & _M32
    h = h ^ (h >> 16)
    h = (h * _MIX) & _M32
    h = h ^ (h >> 16)
    h = (h * _MIX) & _M32
    return h ^ (h >> 16)


def element_keys(seed: int, sample_index: torch.Tensor, numel: int) -> torch.Tensor:
    """Per-(sample, element) keys, shape (B, numel), int64 in [0, 2**32)."""
    elem = torch.arange(numel, device=sample_index.device, dtype=torch.int64)
    s = hash32(sample_index.to(torch.int64)[:, None] ^ hash32(torch.tensor(seed & _M32)))
    return hash32(s ^ elem[None, :])


def uniform(keys: torch.Tensor, step: int) -> torch.Tensor:
    """U[0,1) float32 (24-bit resolution, exactly representable) for one step."""
    h = hash32(keys ^ hash32(torch.tensor(step, dtype=torch.int64)))
    return (h >> 8).to(torch.float32) * (1.0 / (1 << 24))


def poisson_window(x: torch.Tensor, keys: torch.Tensor, t0: int, steps: int,
                   rate: float = 1.0) -> torch.Tensor:
    """Spikes (steps, B, ...) for steps t0 .. t0+steps-1 (0-based)."""
    p = torch.clamp(x * rate, 0.0, 1.0).reshape(x.shape[0], -1)
    out = torch.stack([(uniform(keys, t0 + k) < p) for k in range(steps)])
    return out.to(x.dtype).reshape(steps, *x.shape)


def ttfs_window(x: torch.Tensor, t0: int, steps: int, timesteps: int) -> torch.Tensor:
    """One spike per element at 0-based step round((1 − x)(T − 1)); x clipped to [0, 1]."""
    when = torch.round((1.0 - x.clamp(0.0, 1.0)) * (timesteps - 1))
    t = torch.arange(t0, t0 + steps, device=x.device, dtype=x.dtype)
    return (when[None] == t.view(-1, *([1] * x.ndim))).to(x.dtype)
