"""The QCFS activation as one torch operator, ``ann2snn::qcfs``, and its frontend handler.

QCFS (quantization-clip-floor-shift, Bu et al., ICLR 2022) with ``L = levels``:

    φ(x) = λ/L · clip(floor(x·L/λ + 1/2), 0, L)

λ (``lam``) is a tensor of shape ``(1,)`` (one per layer) or ``(C,)`` (one per channel,
channel axis 1). It is a ``torch.library.custom_op``, so ``torch.export`` keeps it as one
node, which the handler below reads as an :class:`ann2snn.ir.nodes.QCFS` (the converter
then makes λ the threshold). The gradient is the straight-through one of the QCFS
paper's code: floor passes the gradient unchanged, clip stops it outside [0, λ], so

    ∂φ/∂x = [0 ≤ x ≤ λ],   ∂φ/∂λ = q/L − x/λ on [0, λ], 1 above λ, 0 below 0

(q the integer level). Importing this module registers the operator (the torch frontend
does so before reading a ``.pt2`` file that contains it).
"""

from __future__ import annotations

import torch

from ..ir import nodes as n
from .torch_ops import _Ctx, register

__all__ = ["qcfs_op"]


def _lam(lam: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    if lam.numel() == 1:
        return lam.reshape(())
    return lam.reshape((1, -1) + (1,) * (x.ndim - 2))


@torch.library.custom_op("ann2snn::qcfs", mutates_args=())
def qcfs_op(x: torch.Tensor, lam: torch.Tensor, levels: int) -> torch.Tensor:
    """φ(x) = λ/L · clip(floor(x·L/λ + 1/2), 0, L) (module docstring)."""
    lam_b = _lam(lam, x).to(x.dtype)
    return lam_b / levels * torch.clamp(torch.floor(x * levels / lam_b + 0.5), 0, levels)


@qcfs_op.register_fake
def _fake(x, lam, levels):
    return torch.empty_like(x)


def _setup(ctx, inputs, output):
    x, lam, levels = inputs
    ctx.save_for_backward(x, lam)
    ctx.levels = levels


def _backward(ctx, grad):
    x, lam = ctx.saved_tensors
    lam_b = _lam(lam, x).to(x.dtype)
    u = x / lam_b
    inside = (u >= 0) & (u <= 1)
    q = torch.clamp(torch.floor(u * ctx.levels + 0.5), 0, ctx.levels) / ctx.levels
    d_lam = torch.where(inside, q - u, (u > 1).to(x.dtype)) * grad
    if lam.numel() == 1:
        g_lam = d_lam.sum().reshape(lam.shape)
    else:
        dims = [d for d in range(x.ndim) if d != 1]
        g_lam = d_lam.sum(dim=dims).reshape(lam.shape)
    return grad * inside.to(grad.dtype), g_lam.to(lam.dtype), None


qcfs_op.register_autograd(_backward, setup_context=_setup)


@register(torch.ops.ann2snn.qcfs.default)
def _qcfs(ctx: _Ctx, node):
    x, lam, levels = node.args[:3]
    lam_arr = ctx.arr(lam).reshape(-1)
    if (lam_arr <= 0).any():
        from ..errors import ConversionError

        raise ConversionError(f"QCFS activation '{node.name}' has a threshold λ <= 0 "
                              f"({float(lam_arr.min()):.4g}); λ must be positive")
    return n.QCFS(ctx.name(node, True), (ctx.src(x),), lam=lam_arr, levels=int(levels))
