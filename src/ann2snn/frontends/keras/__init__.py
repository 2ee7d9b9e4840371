"""Keras frontend: ``.keras`` / ``.h5`` files and ``keras.Model`` objects -> Graph.

Keras 3 is used with the torch backend (``KERAS_BACKEND`` defaults to ``torch`` here;
no TensorFlow needed). Legacy ``.h5`` files, including those written by tf.keras 2.x,
load through Keras 3's HDF5 reader, with small compatibility shims for config keys
that Keras 3 no longer accepts (``groups=1`` in DepthwiseConv2D, ...).

Before Keras deserializes anything, the model config is read straight from the file
and checked (:mod:`.files`), so every unsupported layer (Lambda, custom layers,
LSTM, LeakyReLU ...) is reported at once, and no code stored in a file ever runs
(``safe_mode`` stays on).

Modules: :mod:`.context` (what a handler sees: the layer, the layout), :mod:`.registry`
(handlers by Keras class), :mod:`.geometry` (padding and windows), :mod:`.layers` and
:mod:`.layers_shape` (the handlers, registered on import here), :mod:`.files` (reading
and checking the config in a file), :mod:`.convert` (:func:`load_keras`,
:func:`from_keras_model`).
"""

from __future__ import annotations

from . import layers, layers_shape  # noqa: F401  (register the layer handlers)
from .convert import from_keras_model, load_keras
from .registry import HANDLERS, supported_layers

__all__ = ["load_keras", "from_keras_model", "supported_layers", "HANDLERS"]
