"""The checks of numeric and path arguments, shared by the CLI (argparse ``type=``), the
Python API (``SNN.simulate``, ``ann2snn.simulate``, the run pipeline) and the configs
(config/schema.py states the same bounds as pydantic ``Field(ge=1)``).

Every check runs before any work starts and raises :class:`~ann2snn.errors.ConfigError`
naming the argument, the value and what to give instead, so the CLI exits 2 with one line.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from .errors import Ann2SnnError, ConfigError
from .files import probe_writable


def positive_int(value, name: str) -> int:
    """``value`` as an int >= 1 (time steps, batch size, sample counts, epochs)."""
    try:
        ok = not isinstance(value, bool) and int(value) == value
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok:
        raise ConfigError(f"{name} must be a whole number >= 1, got {value!r}")
    if int(value) < 1:
        raise ConfigError(f"{name} must be >= 1, got {int(value)}")
    return int(value)


def optional_positive_int(value, name: str) -> int | None:
    """None (meaning "all"), or :func:`positive_int`."""
    return None if value is None else positive_int(value, name)


def device_name(name: str) -> str:
    """A torch device string this machine has: ``cpu``, ``cuda`` or ``cuda:N``."""
    import torch

    try:
        dev = torch.device(name)
    except (RuntimeError, TypeError, ValueError):
        raise ConfigError(f"device {name!r} is not a device; use cpu or cuda (cuda:0, ...)"
                          ) from None
    if dev.type not in ("cpu", "cuda"):
        raise ConfigError(f"device {name!r}: ann2snn runs on cpu or cuda; use one of them")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device {name!r} was asked for but CUDA is not available here; "
                              "use cpu")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ConfigError(f"device {name!r}: this machine has {torch.cuda.device_count()} "
                              "CUDA device(s)")
    from .sim import kernels

    try:
        kernels.check(dev)  # the kernel choice ($ANN2SNN_KERNELS) fits this device
    except Ann2SnnError as e:
        raise ConfigError(str(e)) from None
    return name


def writable_output(path: str | os.PathLike, name: str = "output", *,
                    directory: bool = False) -> Path:
    """Check, before any work, that ``path`` can be written: the nearest existing folder
    above it is a folder in which a file can be created (probed with a temporary file,
    removed at once, so read-only file systems and permissions are both caught), and
    ``path`` itself is not a folder where a file is expected (or a file where a folder
    is, with ``directory``). Nothing is left behind."""
    path = Path(path)
    if path.exists():
        if directory and not path.is_dir():
            raise ConfigError(f"{name} {path} is a file; give a folder to write into")
        if not directory and path.is_dir():
            raise ConfigError(f"{name} {path} is a folder; give a file name")
    parent = path if directory and path.is_dir() else path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise ConfigError(f"{name} {path}: {parent} is a file, not a folder; choose another "
                          "location")
    try:
        probe_writable(parent)
    except OSError as e:
        raise ConfigError(f"{name} {path} cannot be written ({parent}: "
                          f"{e.strerror or e}); choose a folder you can write to") from None
    return path


# -- argparse types: the same checks, reported as argparse errors (exit 2, one line) ----------

def positive(text: str) -> int:
    """``type=`` for an int option that must be >= 1 (argparse names the option)."""
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}")
    return value


def device_arg(text: str) -> str:
    """``type=`` for --device."""
    try:
        return device_name(text)
    except ConfigError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def simulation_options(options: dict) -> dict:
    """Check the numeric and device options of a simulation (``SNN.simulate``,
    ``ann2snn.simulate``), those present in ``options``, in place; returns it."""
    for key in ("timesteps", "batch_size"):
        if key in options:
            options[key] = positive_int(options[key], key)
    for key in ("num_samples", "window"):
        if key in options:
            options[key] = optional_positive_int(options[key], key)
    if options.get("device") is not None:
        options["device"] = device_name(str(options["device"]))
    return options
