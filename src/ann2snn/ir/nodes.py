"""The node types of the graph IR.

Every node is a frozen dataclass; weights are numpy arrays. Shapes never include
the batch dimension, and image tensors are channels-first: ``(C, L)`` or ``(C, H, W)``.
Axes in ``Concat`` and ``Transpose`` *do* count the batch dimension as axis 0 (as in
torch), so ``Concat(axis=1)`` joins channels.

The IR imports neither torch nor any backend (DESIGN §1).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, fields

import numpy as np

Shape = tuple[int, ...]


class ResetMode(enum.Enum):
    """What happens to the membrane after a spike (DESIGN §3)."""

    SUBTRACT = "subtract"  #: v <- v - theta * s  (reset by subtraction, the default)
    ZERO = "zero"  #: v <- v * (1 - s)


@dataclass(frozen=True, eq=False)
class Node:
    """Base class: a named operation with named inbound edges."""

    name: str
    inputs: tuple[str, ...] = ()

    @property
    def op(self) -> str:
        return type(self).__name__

    def arrays(self) -> dict[str, np.ndarray]:
        """The node's array-valued fields (weights), by field name."""
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if isinstance(getattr(self, f.name), np.ndarray)
        }


# --- analog and synaptic operations -------------------------------------------------


@dataclass(frozen=True, eq=False)
class Input(Node):
    """The network input: a tensor of ``shape`` (no batch dimension)."""

    shape: Shape = ()


@dataclass(frozen=True, eq=False)
class Conv(Node):
    """N-d convolution (1-d or 2-d): ``y = W ⊛ x + b``.

    ``weight`` is ``(C_out, C_in/groups, *kernel)``. ``bias`` is ``(C_out,)``, or a
    full map ``(C_out, *spatial_out)`` when a batch norm before a zero-padded
    convolution was folded into it exactly (the padded border sees no shift).
    """

    weight: np.ndarray = field(default_factory=lambda: np.zeros((1, 1, 1)))
    bias: np.ndarray | None = None
    stride: tuple[int, ...] = (1,)
    padding: tuple[int, ...] = (0,)
    dilation: tuple[int, ...] = (1,)
    groups: int = 1

    @property
    def ndim(self) -> int:
        return self.weight.ndim - 2


@dataclass(frozen=True, eq=False)
class ConvTranspose(Node):
    """Transposed convolution; ``weight`` is ``(C_in, C_out/groups, *kernel)``."""

    weight: np.ndarray = field(default_factory=lambda: np.zeros((1, 1, 1)))
    bias: np.ndarray | None = None
    stride: tuple[int, ...] = (1,)
    padding: tuple[int, ...] = (0,)
    output_padding: tuple[int, ...] = (0,)
    dilation: tuple[int, ...] = (1,)
    groups: int = 1

    @property
    def ndim(self) -> int:
        return self.weight.ndim - 2


@dataclass(frozen=True, eq=False)
class Dense(Node):
    """Fully connected: ``y = W x + b`` with ``weight`` ``(out, in)``, on a flat input."""

    weight: np.ndarray = field(default_factory=lambda: np.zeros((1, 1)))
    bias: np.ndarray | None = None


@dataclass(frozen=True, eq=False)
class BatchNorm(Node):
    """Inference batch norm as a per-channel affine map: ``y = x * scale + shift``.

    Frontends compute ``scale = gamma / sqrt(var + eps)``, ``shift = beta - mean * scale``.
    """

    scale: np.ndarray = field(default_factory=lambda: np.ones(1))
    shift: np.ndarray = field(default_factory=lambda: np.zeros(1))


@dataclass(frozen=True, eq=False)
class Scale(Node):
    """Elementwise multiplication by a constant ``factor`` (broadcast to the input).

    Inserted by normalization where an identity shortcut joins another branch:
    the synapse weight ``λ_in / λ_out`` of DESIGN §4.
    """

    factor: np.ndarray = field(default_factory=lambda: np.ones(1))


@dataclass(frozen=True, eq=False)
class ReLU(Node):
    """``y = clip(x, 0, max_value)`` (``max_value=None``: no upper clip)."""

    max_value: float | None = None


@dataclass(frozen=True, eq=False)
class Softmax(Node):
    """Softmax over the class axis; in the SNN replaced by the membrane readout."""


@dataclass(frozen=True, eq=False)
class AvgPool(Node):
    """Average pooling (1-d or 2-d); linear, so in the SNN it acts on spikes."""

    kernel: tuple[int, ...] = (2,)
    stride: tuple[int, ...] = (2,)
    padding: tuple[int, ...] = (0,)
    count_include_pad: bool = True
    ceil_mode: bool = False


@dataclass(frozen=True, eq=False)
class MaxPool(Node):
    """Max pooling (1-d or 2-d); in the SNN a :class:`SpikingMaxPool` or an AvgPool."""

    kernel: tuple[int, ...] = (2,)
    stride: tuple[int, ...] = (2,)
    padding: tuple[int, ...] = (0,)
    dilation: tuple[int, ...] = (1,)
    ceil_mode: bool = False


@dataclass(frozen=True, eq=False)
class GlobalAvgPool(Node):
    """Mean over all spatial positions: ``(C, *spatial) -> (C,)``."""


@dataclass(frozen=True, eq=False)
class Upsample(Node):
    """Nearest-neighbour upsampling by integer factors per spatial axis."""

    scale: tuple[int, ...] = (2, 2)


@dataclass(frozen=True, eq=False)
class Pad(Node):
    """Zero padding of the spatial axes; ``pads[i] = (before, after)`` per spatial axis.

    Negative values crop (Keras Cropping2D).
    """

    pads: tuple[tuple[int, int], ...] = ((0, 0),)


@dataclass(frozen=True, eq=False)
class Flatten(Node):
    """Flatten everything but the batch axis (C-order, channels-first)."""


@dataclass(frozen=True, eq=False)
class Reshape(Node):
    """Reshape to ``shape`` (no batch dimension; C-order)."""

    shape: Shape = ()


@dataclass(frozen=True, eq=False)
class Transpose(Node):
    """Permute axes; ``perm`` includes the batch axis, which must stay first."""

    perm: tuple[int, ...] = (0,)


@dataclass(frozen=True, eq=False)
class Concat(Node):
    """Concatenate the inputs along ``axis`` (batch axis is 0, channels 1)."""

    axis: int = 1


@dataclass(frozen=True, eq=False)
class Add(Node):
    """Elementwise sum of the inputs (residual connections)."""


@dataclass(frozen=True, eq=False)
class Identity(Node):
    """No-op (Dropout at inference, Identity)."""


# --- spiking populations ---------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class IF(Node):
    """A population of integrate-and-fire neurons (DESIGN §3).

    Per step: ``v <- v + I`` (optionally ``v <- v·(1-leak)`` first), ``s = [v >= θ]``,
    then reset by subtraction ``v <- v - θ·s`` or to zero ``v <- v·(1-s)``. The
    membrane starts at ``v0·θ``. ``multi_spike > 1`` allows up to that many spikes per
    step: ``s = clip(floor(v/θ), 0, multi_spike)``. Canonical form: ``threshold = 1``.

    ``readout=True`` marks the output population whose spike counts are the network's
    prediction. ``membrane_readout=True`` marks an output layer that only integrates
    (no spikes; prediction argmax v), used in place of a softmax.
    """

    threshold: float = 1.0
    reset: ResetMode = ResetMode.SUBTRACT
    v0: float = 0.0
    leak: float = 0.0
    multi_spike: int = 1
    membrane_readout: bool = False


@dataclass(frozen=True, eq=False)
class SpikingMaxPool(Node):
    """Passes, per pooling window and step, the spikes of the input with the largest
    cumulative spike count so far (ties: lowest index). Parameters as :class:`MaxPool`."""

    kernel: tuple[int, ...] = (2,)
    stride: tuple[int, ...] = (2,)
    padding: tuple[int, ...] = (0,)
    dilation: tuple[int, ...] = (1,)
    ceil_mode: bool = False


NODE_TYPES: dict[str, type[Node]] = {
    cls.__name__: cls
    for cls in (
        Input, Conv, ConvTranspose, Dense, BatchNorm, Scale, ReLU, Softmax, AvgPool,
        MaxPool, GlobalAvgPool, Upsample, Pad, Flatten, Reshape, Transpose, Concat, Add,
        Identity, IF, SpikingMaxPool,
    )
}

#: Operations that carry weights and so can absorb scale factors.
PARAM_OPS = (Conv, ConvTranspose, Dense)
