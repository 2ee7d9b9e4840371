"""The node types of the graph IR.

Every node is a frozen dataclass; weights are numpy arrays. Shapes never include
the batch dimension, and image tensors are channels-first: ``(C, L)`` or ``(C, H, W)``.
Axes in ``Concat`` and ``Transpose`` *do* count the batch dimension as axis 0 (as in
torch), so ``Concat(axis=1)`` joins channels.

The IR imports neither torch nor any backend (docs/design.md §1).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import ClassVar

import numpy as np

from .options import ResetMode

Shape = tuple[int, ...]

# and the node classes below
__all__ = ["ResetMode", "Shape", "Node", "NODE_TYPES", "types_with"]


@dataclass(frozen=True, eq=False)
class Node:
    """Base class: a named operation with named inbound edges.

    **Traits** (class-level, read by ir/facts.py, the passes, the simulators and the
    backends instead of tuples of node types; docs/design.md §2):
    """

    #: a synaptic operation: its input events are delivered along synapses and counted
    #: as synaptic operations (Conv, ConvTranspose, Dense, AvgPool, Scale)
    synaptic: ClassVar[bool] = False
    #: carries a ``weight`` (and optional ``bias``) that can absorb scale factors
    weighted: ClassVar[bool] = False
    #: multiplies its input by constant arrays of its own (the weighted nodes and Scale)
    multiplicative: ClassVar[bool] = False
    #: a neuron population: integrates a current, keeps a membrane, emits spikes
    population: ClassVar[bool] = False
    #: keeps state from one step to the next (populations, spiking max pooling)
    stateful: ClassVar[bool] = False
    #: routes values without arithmetic: binary spikes in give binary spikes out
    passes_spikes: ClassVar[bool] = False
    #: positively homogeneous with no constants of its own: f(a·x) = a·f(x) for a > 0,
    #: so a scale on its inputs passes through it unchanged
    homogeneous: ClassVar[bool] = False
    #: every output element is a copy of an input element of the same channel, or zero
    channel_copy: ClassVar[bool] = False
    #: the same elements in the same C order: a view of its input, no computation
    alias: ClassVar[bool] = False
    #: moves elements to other positions, possibly of other channels, without arithmetic
    reorders: ClassVar[bool] = False
    #: joins several inputs into one output (a sum or a concatenation)
    joins: ClassVar[bool] = False
    #: exists in the spiking graph only as part of the ANN it came from (it is replaced
    #: or folded by the conversion passes)
    analog_only: ClassVar[bool] = False
    #: implemented in integer mode (the integer simulator and the C backend)
    integer: ClassVar[bool] = False
    #: a rectifying activation (output in [0, clip]) that conversion turns into a neuron
    #: population (ReLU, QCFS)
    rectifier: ClassVar[bool] = False

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

    integer: ClassVar[bool] = True

    shape: Shape = ()


@dataclass(frozen=True, eq=False)
class Conv(Node):
    """N-d convolution (1-d or 2-d): ``y = W ⊛ x + b``.

    ``weight`` is ``(C_out, C_in/groups, *kernel)``. ``bias`` is ``(C_out,)``, or a
    full map ``(C_out, *spatial_out)`` when a batch norm before a zero-padded
    convolution was folded into it exactly (the padded border sees no shift).
    """

    synaptic: ClassVar[bool] = True
    weighted: ClassVar[bool] = True
    multiplicative: ClassVar[bool] = True
    integer: ClassVar[bool] = True

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

    synaptic: ClassVar[bool] = True
    weighted: ClassVar[bool] = True
    multiplicative: ClassVar[bool] = True

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

    synaptic: ClassVar[bool] = True
    weighted: ClassVar[bool] = True
    multiplicative: ClassVar[bool] = True
    integer: ClassVar[bool] = True

    weight: np.ndarray = field(default_factory=lambda: np.zeros((1, 1)))
    bias: np.ndarray | None = None


@dataclass(frozen=True, eq=False)
class BatchNorm(Node):
    """Inference batch norm as a per-channel affine map: ``y = x * scale + shift``.

    Frontends compute ``scale = gamma / sqrt(var + eps)``, ``shift = beta - mean * scale``.
    """

    analog_only: ClassVar[bool] = True

    scale: np.ndarray = field(default_factory=lambda: np.ones(1))
    shift: np.ndarray = field(default_factory=lambda: np.zeros(1))


@dataclass(frozen=True, eq=False)
class Scale(Node):
    """Elementwise multiplication by a constant ``factor`` (broadcast to the input).

    Inserted by normalization where an identity shortcut joins another branch:
    the synapse weight ``λ_in / λ_out`` of docs/design.md §4.
    """

    synaptic: ClassVar[bool] = True
    multiplicative: ClassVar[bool] = True
    integer: ClassVar[bool] = True

    factor: np.ndarray = field(default_factory=lambda: np.ones(1))


@dataclass(frozen=True, eq=False)
class ReLU(Node):
    """``y = clip(x, 0, max_value)`` (``max_value=None``: no upper clip)."""

    analog_only: ClassVar[bool] = True
    rectifier: ClassVar[bool] = True

    max_value: float | None = None


@dataclass(frozen=True, eq=False)
class QCFS(Node):
    """Quantization-clip-floor-shift (Bu et al., ICLR 2022), ``L = levels``:
    ``y = λ/L · clip(floor(x·L/λ + 1/2), 0, L)``; ``lam`` is ``(1,)`` or ``(C,)`` per
    channel. Conversion makes λ the population's threshold and v0 = 1/2 (docs/low-latency.md).
    """

    analog_only: ClassVar[bool] = True
    rectifier: ClassVar[bool] = True

    lam: np.ndarray = field(default_factory=lambda: np.ones(1))
    levels: int = 4


@dataclass(frozen=True, eq=False)
class Softmax(Node):
    """Softmax over the class axis; in the SNN replaced by the membrane readout."""

    analog_only: ClassVar[bool] = True


@dataclass(frozen=True, eq=False)
class AvgPool(Node):
    """Average pooling (1-d or 2-d); linear, so in the SNN it acts on spikes."""

    synaptic: ClassVar[bool] = True
    homogeneous: ClassVar[bool] = True
    integer: ClassVar[bool] = True

    kernel: tuple[int, ...] = (2,)
    stride: tuple[int, ...] = (2,)
    padding: tuple[int, ...] = (0,)
    count_include_pad: bool = True
    ceil_mode: bool = False


@dataclass(frozen=True, eq=False)
class MaxPool(Node):
    """Max pooling (1-d or 2-d); in the SNN a :class:`SpikingMaxPool` or an AvgPool."""

    homogeneous: ClassVar[bool] = True
    channel_copy: ClassVar[bool] = True
    analog_only: ClassVar[bool] = True

    kernel: tuple[int, ...] = (2,)
    stride: tuple[int, ...] = (2,)
    padding: tuple[int, ...] = (0,)
    dilation: tuple[int, ...] = (1,)
    ceil_mode: bool = False


@dataclass(frozen=True, eq=False)
class GlobalAvgPool(Node):
    """Mean over all spatial positions: ``(C, *spatial) -> (C,)``."""

    homogeneous: ClassVar[bool] = True
    integer: ClassVar[bool] = True


@dataclass(frozen=True, eq=False)
class Upsample(Node):
    """Nearest-neighbour upsampling by integer factors per spatial axis."""

    passes_spikes: ClassVar[bool] = True
    homogeneous: ClassVar[bool] = True
    channel_copy: ClassVar[bool] = True
    integer: ClassVar[bool] = True

    scale: tuple[int, ...] = (2, 2)


@dataclass(frozen=True, eq=False)
class Pad(Node):
    """Zero padding of the spatial axes; ``pads[i] = (before, after)`` per spatial axis.

    Negative values crop (Keras Cropping2D).
    """

    passes_spikes: ClassVar[bool] = True
    homogeneous: ClassVar[bool] = True
    channel_copy: ClassVar[bool] = True
    integer: ClassVar[bool] = True

    pads: tuple[tuple[int, int], ...] = ((0, 0),)


@dataclass(frozen=True, eq=False)
class Flatten(Node):
    """Flatten everything but the batch axis (C-order, channels-first)."""

    passes_spikes: ClassVar[bool] = True
    homogeneous: ClassVar[bool] = True
    alias: ClassVar[bool] = True
    integer: ClassVar[bool] = True
    reorders: ClassVar[bool] = True


@dataclass(frozen=True, eq=False)
class Reshape(Node):
    """Reshape to ``shape`` (no batch dimension; C-order)."""

    passes_spikes: ClassVar[bool] = True
    homogeneous: ClassVar[bool] = True
    alias: ClassVar[bool] = True
    integer: ClassVar[bool] = True
    reorders: ClassVar[bool] = True

    shape: Shape = ()


@dataclass(frozen=True, eq=False)
class Transpose(Node):
    """Permute axes; ``perm`` includes the batch axis, which must stay first."""

    passes_spikes: ClassVar[bool] = True
    homogeneous: ClassVar[bool] = True
    integer: ClassVar[bool] = True
    reorders: ClassVar[bool] = True

    perm: tuple[int, ...] = (0,)


@dataclass(frozen=True, eq=False)
class Concat(Node):
    """Concatenate the inputs along ``axis`` (batch axis is 0, channels 1)."""

    passes_spikes: ClassVar[bool] = True
    homogeneous: ClassVar[bool] = True
    integer: ClassVar[bool] = True
    joins: ClassVar[bool] = True

    axis: int = 1


@dataclass(frozen=True, eq=False)
class Add(Node):
    """Elementwise sum of the inputs (residual connections)."""

    integer: ClassVar[bool] = True
    joins: ClassVar[bool] = True


@dataclass(frozen=True, eq=False)
class Identity(Node):
    """No-op (Dropout at inference, Identity)."""

    passes_spikes: ClassVar[bool] = True
    homogeneous: ClassVar[bool] = True
    channel_copy: ClassVar[bool] = True
    alias: ClassVar[bool] = True
    integer: ClassVar[bool] = True


# --- spiking populations ---------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class IF(Node):
    """A population of integrate-and-fire neurons (docs/design.md §3).

    Per step: ``v <- v + I`` (optionally ``v <- v·(1-leak)`` first), ``s = [v >= θ]``,
    then reset by subtraction ``v <- v - θ·s`` or to zero ``v <- v·(1-s)``. The
    membrane starts at ``v0·θ``. ``multi_spike > 1`` allows up to that many spikes per
    step: ``s = clip(floor(v/θ), 0, multi_spike)``. Canonical form: ``threshold = 1``.

    ``membrane_readout=True`` marks an output layer that only integrates (no spikes;
    prediction argmax v), used in place of a softmax.

    ``thresholds``: integer mode with per-channel thresholds (ann2snn.quantize): the
    integer θ of every channel, which then replaces ``threshold`` (``threshold`` is θ
    only where they are all equal). ``None``: ``threshold`` holds for every neuron.
    Read it through :func:`ann2snn.ir.quant.if_thresholds`.
    """

    population: ClassVar[bool] = True
    stateful: ClassVar[bool] = True
    integer: ClassVar[bool] = True

    threshold: float = 1.0
    reset: ResetMode = ResetMode.SUBTRACT
    v0: float = 0.0
    leak: float = 0.0
    multi_spike: int = 1
    membrane_readout: bool = False
    thresholds: tuple[int, ...] | None = None

    @property
    def binary(self) -> bool:
        """Its outputs are always 0/1 spikes (one spike per step at most, and it spikes)."""
        return self.multi_spike == 1 and not self.membrane_readout


@dataclass(frozen=True, eq=False)
class SpikingMaxPool(Node):
    """Passes, per pooling window and step, the spikes of the input with the largest
    cumulative spike count so far (ties: lowest index). Parameters as :class:`MaxPool`."""

    passes_spikes: ClassVar[bool] = True
    homogeneous: ClassVar[bool] = True
    channel_copy: ClassVar[bool] = True
    stateful: ClassVar[bool] = True
    integer: ClassVar[bool] = True

    kernel: tuple[int, ...] = (2,)
    stride: tuple[int, ...] = (2,)
    padding: tuple[int, ...] = (0,)
    dilation: tuple[int, ...] = (1,)
    ceil_mode: bool = False


#: Every node type by name (serialization reads it).
NODE_TYPES: dict[str, type[Node]] = {
    cls.__name__: cls
    for cls in (
        Input, Conv, ConvTranspose, Dense, BatchNorm, Scale, ReLU, QCFS, Softmax, AvgPool,
        MaxPool, GlobalAvgPool, Upsample, Pad, Flatten, Reshape, Transpose, Concat, Add,
        Identity, IF, SpikingMaxPool,
    )
}


def types_with(trait: str) -> list[type[Node]]:
    """The node types that have ``trait`` (a class-level flag of :class:`Node`), in
    :data:`NODE_TYPES` order: ``types_with("integer")`` are those integer mode supports."""
    if not isinstance(getattr(Node, trait, None), bool):
        raise AttributeError(f"node types have no trait {trait!r}")
    return [cls for cls in NODE_TYPES.values() if getattr(cls, trait)]
