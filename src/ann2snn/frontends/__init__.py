"""Frontends: model files and objects -> Graph. Files dispatch on their suffix, objects
on their type (:func:`import_model`)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from ..errors import ConversionError, ModelFileError
from ..ir import Graph

_LOADERS: dict[str, Callable[[Path], Graph]] = {}


def register_loader(suffix: str, fn: Callable[[Path], Graph]) -> None:
    """Register a loader for a file suffix (".pt2"); registering twice is an error."""
    if suffix in _LOADERS:
        raise ValueError(f"loader for {suffix} registered twice")
    _LOADERS[suffix] = fn


def _pt2(path: Path) -> Graph:
    from .torch import load_pt2

    return load_pt2(path)


register_loader(".pt2", _pt2)


def _keras(path: Path) -> Graph:
    from .keras import load_keras

    return load_keras(path)


register_loader(".keras", _keras)
register_loader(".h5", _keras)


def _onnx(path: Path) -> Graph:
    from .onnx import load_onnx

    return load_onnx(path)


register_loader(".onnx", _onnx)


def _nir(path: Path) -> Graph:  # a spiking network already: docs/backends.md, "NIR"
    from ..backends.nir.read import read_nir

    return read_nir(path)


register_loader(".nir", _nir)


def check_model_file(path: str | os.PathLike) -> Path:
    """A model file's format is known (by suffix) and the file exists."""
    path = Path(path)
    if path.suffix.lower() == ".snn":
        raise ModelFileError(f"{path} is already a converted spiking network; give the "
                             "trained model (.pt2, .onnx, .keras, .h5 or file.py:ClassName)")
    if path.suffix.lower() not in _LOADERS:
        raise ModelFileError(f"{path}: unknown model format '{path.suffix}'; supported: "
                             + ", ".join(sorted(_LOADERS)) + " or file.py:ClassName")
    if not path.is_file():
        raise ModelFileError(f"{path}: no such file")
    return path


def load_model(path: str | os.PathLike) -> Graph:
    """Load a model file into a Graph, picking the frontend by suffix."""
    path = check_model_file(path)
    return _LOADERS[path.suffix.lower()](path)


def import_model(model, sample=None) -> Graph:
    """Any supported model (nn.Module, ExportedProgram, Keras model, Graph, or a model
    file) -> Graph. A torch module is exported with ``sample[:2]`` (numpy, (N, ...))."""
    if isinstance(model, Graph):
        return model
    if isinstance(model, (str, os.PathLike)):
        return load_model(model)
    import torch

    if isinstance(model, torch.export.ExportedProgram):
        from .torch import from_exported

        return from_exported(model)
    if type(model).__module__.startswith("keras"):
        from .keras import from_keras_model

        return from_keras_model(model, type(model).__name__)
    if isinstance(model, torch.nn.Module):
        from .torch import from_module

        if sample is None:
            raise ConversionError("a torch module needs sample data to be exported")
        return from_module(model, torch.as_tensor(sample[:2]))
    raise ConversionError(f"cannot convert a {type(model).__name__}; pass an nn.Module, an "
                          "ExportedProgram, or a model file (.pt2, .onnx, .keras, .h5)")
