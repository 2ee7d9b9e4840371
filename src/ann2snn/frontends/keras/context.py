"""What the Keras layer handlers see: one layer call (:class:`KLayer`), the model's
tensor layout (:class:`Layout`), and the error a handler raises (:class:`Unsupported`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

Shape = tuple[int, ...]
Pads = tuple[tuple[int, int], ...]


class Unsupported(Exception):
    """Raised by a handler or check: this layer (with this config) has no IR equivalent."""


@dataclass
class KLayer:
    """One Keras layer call, as the handlers see it."""

    name: str  #: IR name of the layer's main node (the Keras layer name)
    kind: str  #: Keras class name ("Conv2D")
    cfg: dict  #: the layer's config
    inputs: list[str]  #: IR names of the inbound tensors
    shapes: list[Shape]  #: IR (channels-first) shapes of the inbound tensors, no batch axis
    weights: list[np.ndarray] = field(default_factory=list)


class Layout:
    """Maps between the Keras tensor layout of a model and the channels-first IR.

    ``fmt`` is ``"channels_last"``, ``"channels_first"``, or ``None`` (no layer has a
    data format, so tensors are taken as they are).
    """

    def __init__(self, fmt: str | None):
        self.fmt = fmt

    def to_ir(self, rank: int) -> tuple[int, ...]:
        """perm with ``IR = keras.permute(perm)``; ``rank`` counts the batch axis."""
        if self.fmt == "channels_last" and rank >= 3:
            return (0, rank - 1, *range(1, rank - 1))
        return tuple(range(rank))

    def to_keras(self, rank: int) -> tuple[int, ...]:
        """perm with ``keras = IR.permute(perm)``."""
        if self.fmt == "channels_last" and rank >= 3:
            return (0, *range(2, rank), 1)
        return tuple(range(rank))

    def ir_shape(self, keras_shape: Shape) -> Shape:
        """IR shape (no batch) of a Keras shape (no batch)."""
        full = (1, *keras_shape)
        return tuple(full[p] for p in self.to_ir(len(full))[1:])

    def keras_shape(self, ir_shape: Shape) -> Shape:
        full = (1, *ir_shape)
        return tuple(full[p] for p in self.to_keras(len(full))[1:])

    def ir_axis(self, axis: int, rank: int) -> int:
        """The IR axis holding Keras axis ``axis`` of a tensor of ``rank`` (with batch)."""
        return self.to_ir(rank).index(axis % rank)
