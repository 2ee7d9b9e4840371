"""The exception hierarchy.

Every error a user can cause derives from :class:`Ann2SnnError`; the CLI prints its
message without a traceback and exits with code 2. Anything else is a bug (exit 1).
"""

from __future__ import annotations


class Ann2SnnError(Exception):
    """Base class of every error caused by the user's input (model, data, config)."""


class ConversionError(Ann2SnnError):
    """The model cannot be converted (unsupported layer, bad structure, NaN weights)."""


class UnsupportedLayerError(ConversionError):
    """One or more layers have no handler.

    ``layers`` lists every offending layer as ``(name, type)``, all at once, and
    ``supported`` lists what is supported, so a user fixes everything in one go.
    """

    def __init__(self, layers: list[tuple[str, str]], supported: list[str], source: str = "model"):
        self.layers = list(layers)
        self.supported = sorted(set(supported))
        lines = [f"{len(self.layers)} unsupported layer(s) in the {source}:"]
        lines += [f"  - {name} ({kind})" for name, kind in self.layers]
        lines.append("Supported: " + ", ".join(self.supported))
        lines.append(
            "Replace these layers (for example GELU, SiLU, Sigmoid or Tanh -> ReLU; an "
            "LSTM -> convolutions) and retrain, or open an issue."
        )
        super().__init__("\n".join(lines))


class ModelFileError(Ann2SnnError):
    """A model file is missing, truncated, corrupt or of an unknown format."""


class DatasetError(Ann2SnnError):
    """A dataset is missing, corrupt, or its contents are invalid (NaN, wrong shape)."""


class ConfigError(Ann2SnnError):
    """A configuration file or option is invalid (unknown key, bad value)."""


class SimulationError(Ann2SnnError):
    """The simulation cannot run as asked (bad input shape, NaN input, no CUDA)."""


def install_hint(extra: str) -> str:
    """The pip command that installs the optional dependencies ``extra``: from a source
    checkout (the package runs from a tree with ann2snn's pyproject.toml) that is
    ``pip install -e "<checkout>[extra]"``, else ``pip install "ann2snn[extra]"``."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    project = root / "pyproject.toml"
    try:
        checkout = project.is_file() and 'name = "ann2snn"' in project.read_text()
    except OSError:
        checkout = False
    pypi = f"pip install 'ann2snn[{extra}]'"
    if checkout:
        where = "." if root == Path.cwd().resolve() else str(root)
        return f'pip install -e "{where}[{extra}]" (this source checkout; else {pypi})'
    return pypi
