"""Keras frontend, file side: read and check a model's config without running Keras,
and the compatibility shims that let Keras 3 read tf.keras 2.x HDF5 files.

The config check runs before Keras deserializes anything, so every unsupported layer
(Lambda, custom layers, LSTM, ...) is reported at once and no code stored in a file
ever runs.
"""

from __future__ import annotations

import inspect
import json
import logging
import shutil
import zipfile
from pathlib import Path

from ...errors import ConversionError, ModelFileError, UnsupportedLayerError, install_hint
from .registry import HANDLERS, config_problem, supported_layers

log = logging.getLogger(__name__)

MODELS = ("Functional", "Sequential", "Model")
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def first_line(e: BaseException) -> str:
    """``Type: first line of the message`` (for error messages that stay short)."""
    text = str(e).strip()
    return f"{type(e).__name__}: {text.splitlines()[0][:300]}" if text else type(e).__name__


# --- reading the config straight from the file ----------------------------------------


def read_config(path: Path) -> tuple[dict, str]:
    """The model config stored in ``path`` and the container (``"keras"`` or ``"h5"``).

    Corrupt, truncated, empty and non-model files raise ModelFileError.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError as e:
        raise ModelFileError(f"{path}: cannot read ({first_line(e)})") from None
    if not head:
        raise ModelFileError(f"{path}: the file is empty")
    if head.startswith(b"PK"):
        return _config_from_zip(path), "keras"
    if head == _HDF5_MAGIC:
        return _config_from_h5(path), "h5"
    raise ModelFileError(f"{path}: not a Keras model (neither a .keras zip archive nor an "
                         "HDF5 file); save it with model.save('model.keras')")


def _config_from_zip(path: Path) -> dict:
    try:
        with zipfile.ZipFile(path) as z:
            bad = z.testzip()
            if bad is not None:
                raise ModelFileError(f"{path}: the archive is corrupt (member '{bad}')")
            if "config.json" not in z.namelist():
                raise ModelFileError(f"{path}: a zip archive without config.json is not a "
                                     ".keras model")
            cfg = json.loads(z.read("config.json").decode("utf-8"))
    except ModelFileError:
        raise
    except Exception as e:  # BadZipFile, zlib.error, JSON and Unicode errors, ...
        raise ModelFileError(f"{path}: not a readable .keras archive (truncated or corrupt?): "
                             f"{first_line(e)}") from None
    if not isinstance(cfg, dict):
        raise ModelFileError(f"{path}: config.json does not describe a Keras model")
    return cfg


def _config_from_h5(path: Path) -> dict:
    try:
        import h5py
    except ImportError:
        raise ModelFileError("reading .h5 models needs h5py: " + install_hint("keras")
                             ) from None
    try:
        with h5py.File(path, "r") as f:
            raw = f.attrs.get("model_config")
            if raw is None:
                raise ModelFileError(
                    f"{path}: the HDF5 file holds no model config (weights only?); save the "
                    "whole model with model.save('model.keras') or model.save('model.h5')")
            if hasattr(raw, "decode"):
                raw = raw.decode("utf-8")
            cfg = json.loads(raw)
    except ModelFileError:
        raise
    except Exception as e:  # OSError from h5py on truncated files, JSON errors
        raise ModelFileError(f"{path}: not a readable HDF5 Keras model (truncated or "
                             f"corrupt?): {first_line(e)}") from None
    if not isinstance(cfg, dict):
        raise ModelFileError(f"{path}: model_config does not describe a Keras model")
    return cfg


def _layer_entries(cfg: dict, prefix: str = ""):
    """Yield ``(name, class_name, layer_config, is_custom)`` for every layer,
    descending into nested models. Handles Keras 3 and tf.keras 1.x/2.x nesting."""
    inner = cfg.get("config")
    layers = inner.get("layers") if isinstance(inner, dict) else inner
    for layer in layers if isinstance(layers, list) else []:
        if not isinstance(layer, dict):
            continue
        lcfg = layer.get("config") if isinstance(layer.get("config"), (dict, list)) else {}
        cls = str(layer.get("class_name", "?"))
        name = str(layer.get("name") or (lcfg.get("name") if isinstance(lcfg, dict) else "?"))
        if cls in MODELS:
            yield from _layer_entries(layer, f"{prefix}{name}.")
        else:
            registered, module = layer.get("registered_name"), layer.get("module")
            custom = cls != "InputLayer" and (registered not in (None, cls) or (
                isinstance(module, str) and not module.startswith(("keras", "tf_keras"))))
            yield prefix + name, cls, lcfg if isinstance(lcfg, dict) else {}, custom


def check_config(cfg: dict, source: str) -> None:
    """Raise UnsupportedLayerError listing every layer the config shows unsupported."""
    top = cfg.get("class_name")
    if top not in MODELS:
        raise ConversionError(
            f"{source}: the model is a '{top}', not a Functional or Sequential model; "
            "subclassed Keras models cannot be converted. Rebuild it with the functional "
            "API (keras.Model(inputs, outputs)) or keras.Sequential")
    bad = []
    for name, cls, lcfg, custom in _layer_entries(cfg):
        why = "custom layer" if custom else config_problem(cls, lcfg)
        if why:
            bad.append((name, cls if why == "not supported" else f"{cls}: {why}"))
    if bad:
        raise UnsupportedLayerError(bad, supported_layers(), source)


# --- loading ----------------------------------------------------------------------------


def compat_objects(keras) -> dict[str, type]:
    """Subclasses of the supported Keras layers that drop config keys Keras 3 rejects
    but tf.keras 2.x wrote (``groups: 1`` in DepthwiseConv2D / Conv2DTranspose,
    ``kernel_initializer`` in SeparableConv2D, ...). Only for legacy .h5 loading."""
    out: dict[str, type] = {}
    for kind in HANDLERS:
        base = getattr(keras.layers, kind, None)
        if isinstance(base, type):
            out[kind] = _compat_class(base)
    return out


def _accepted(base: type) -> set[str]:
    """The keyword arguments a Keras layer class accepts (its own and its bases')."""
    keys = {"input_shape", "input_dim"}
    for klass in base.__mro__:
        init = klass.__dict__.get("__init__")
        if init is not None:
            keys |= set(inspect.signature(init).parameters)
    return keys


def _compat_class(base: type) -> type:
    accepted = _accepted(base)

    def __init__(self, *args, **kw):
        dropped = {k: kw.pop(k) for k in list(kw) if k not in accepted}
        if dropped.get("batch_input_shape"):
            kw.setdefault("input_shape", tuple(dropped["batch_input_shape"])[1:])
        if dropped.get("groups", 1) not in (1, None):
            raise ValueError(f"{base.__name__} with groups={dropped['groups']}")
        if dropped:
            log.info("%s '%s': ignoring legacy config keys %s", base.__name__,
                     kw.get("name"), sorted(dropped))
        base.__init__(self, *args, **kw)

    return type(base.__name__, (base,), {"__init__": __init__, "_ann2snn_compat": True})


def _layer_dicts(cfg: dict):
    inner = cfg.get("config")
    layers = inner.get("layers") if isinstance(inner, dict) else inner
    for layer in layers if isinstance(layers, list) else []:
        if isinstance(layer, dict):
            if layer.get("class_name") in MODELS:
                yield from _layer_dicts(layer)
            else:
                yield layer


def drop_legacy_keys(cfg: dict, keras) -> list[str]:
    """Remove, in place, the layer config keys the installed Keras rejects (what
    tf.keras 2.13-2.15 wrote into .keras files, e.g. ``groups: 1`` in DepthwiseConv2D).
    Returns ``"layer: keys"`` for each layer changed."""
    changed = []
    for layer in _layer_dicts(cfg):
        cls, lc = layer.get("class_name"), layer.get("config")
        base = getattr(keras.layers, str(cls), None) if cls in HANDLERS else None
        if not isinstance(base, type) or not isinstance(lc, dict):
            continue
        ok = _accepted(base)
        bad = sorted(k for k in lc if k not in ok and not (k == "groups" and lc[k] not in
                                                             (1, None)))
        for k in bad:
            del lc[k]
        if bad:
            changed.append(f"{lc.get('name', cls)}: {', '.join(bad)}")
    return changed


def write_keras_zip(src: Path, dst: Path, cfg: dict) -> None:
    """Copy the .keras archive ``src`` to ``dst`` with ``cfg`` as its config.json."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            if info.filename == "config.json":
                zout.writestr("config.json", json.dumps(cfg))
                continue
            with zin.open(info) as f, zout.open(info.filename, "w", force_zip64=True) as g:
                shutil.copyfileobj(f, g)
