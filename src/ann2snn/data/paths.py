"""Where ann2snn looks for data files, in order.

The search order is fixed and documented (docs/datasets.md) so that a user can predict
which copy is used: the ``data_dir`` argument, ``$ANN2SNN_DATA``, the user cache, and
for some data sets a system folder filled by a distribution package.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

logger = logging.getLogger(__name__)

ENV_VAR = "ANN2SNN_DATA"

#: Folders filled by distribution packages, per data set (Debian: dataset-fashion-mnist).
SYSTEM_DIRS: dict[str, tuple[Path, ...]] = {
    "fashion-mnist": (Path("/usr/share/datasets/fashion-mnist"),),
}

#: Extra sub-folder names tried inside each root, besides the data set's own name.
SUBDIR_ALIASES: dict[str, tuple[str, ...]] = {
    "fashion-mnist": ("fashion_mnist", "fashion-mnist"),
}


def cache_dir() -> Path:
    """The user cache folder: ``$XDG_CACHE_HOME/ann2snn``, else ``~/.cache/ann2snn``."""
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "ann2snn"


def env_dirs() -> list[Path]:
    """The folders named by ``$ANN2SNN_DATA`` (several may be joined by ``os.pathsep``)."""
    raw = os.environ.get(ENV_VAR, "")
    return [Path(p).expanduser() for p in raw.split(os.pathsep) if p.strip()]


def search_roots(name: str, data_dir: str | os.PathLike | None = None) -> list[Path]:
    """The root folders searched for data set ``name``, in priority order."""
    roots: list[Path] = []
    if data_dir is not None:
        roots.append(Path(data_dir).expanduser())
    roots.extend(env_dirs())
    roots.append(cache_dir())
    roots.extend(SYSTEM_DIRS.get(name, ()))
    return roots


def candidate_dirs(name: str, data_dir: str | os.PathLike | None = None) -> list[Path]:
    """Every folder that may hold the files of ``name``, in the order they are tried.

    In each root: ``root/<name>/``, then the aliases (``root/fashion_mnist/``...), then
    ``root/`` itself. Duplicates are dropped, keeping the first position.
    """
    out: list[Path] = []
    seen: set[str] = set()
    for root in search_roots(name, data_dir):
        subs = (name, *SUBDIR_ALIASES.get(name, ()))
        for d in [root / s for s in subs] + [root]:
            key = os.path.normpath(os.path.abspath(d))
            if key not in seen:
                seen.add(key)
                out.append(d)
    return out
