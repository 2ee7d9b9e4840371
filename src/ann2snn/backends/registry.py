"""The registry of named backends.

A backend is registered either as an object or lazily, as ``"module:attribute"`` with
its one-line description and what it offers (export, run), so that listing the
backends (``--help``) imports neither the backend's module nor its third-party package.
The module is imported on the first :meth:`BackendRegistry.get`; its package only when
the backend exports or runs (:meth:`Backend.require`).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from ..errors import ConfigError
from .base import Backend


class UnknownBackend(ConfigError, LookupError):
    """No backend of that name (or none of that name that does what was asked)."""


@dataclass
class _Entry:
    name: str
    description: str
    exports: bool
    runs: bool
    target: str | None = None  # "module:attribute", resolved on first use
    backend: Backend | None = None


_KINDS = {"export": "exports", "run": "runs"}


class BackendRegistry:
    """``name -> Backend``. Registering a name twice is an error; an unknown name raises
    :class:`UnknownBackend` naming the known ones."""

    def __init__(self):
        self._entries: dict[str, _Entry] = {}

    def _add(self, entry: _Entry) -> None:
        if entry.name in self._entries:
            raise ValueError(f"a backend named '{entry.name}' is registered twice")
        if not (entry.exports or entry.runs):
            raise ValueError(f"backend '{entry.name}' neither exports nor runs")
        self._entries[entry.name] = entry

    def register(self, backend: Backend) -> Backend:
        """Register a backend object (its name, description and offers are its own)."""
        self._add(_Entry(backend.name, backend.description, backend.can_export,
                         backend.can_run, backend=backend))
        return backend

    def register_lazy(self, name: str, target: str, description: str, *,
                      export: bool = False, run: bool = False) -> None:
        """Register ``target`` ("module:attribute", a :class:`Backend`) without importing
        it; ``export``/``run`` declare what it offers (checked when it is loaded)."""
        if ":" not in target:
            raise ValueError(f"backend '{name}': target {target!r} is not 'module:attribute'")
        self._add(_Entry(name, description, export, run, target=target))

    def names(self, kind: str | None = None) -> list[str]:
        """Registered names, in registration order; ``kind`` "export" or "run" keeps
        the backends that offer it."""
        return [e.name for e in self._select(kind)]

    def describe(self, kind: str | None = None) -> list[tuple[str, str]]:
        """``(name, one-line description)`` per backend (of ``kind``)."""
        return [(e.name, e.description) for e in self._select(kind)]

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def get(self, name: str, kind: str | None = None) -> Backend:
        """The backend ``name``, loading it on first use; ``kind`` "export"/"run" also
        requires that it offers that."""
        entry = self._entries.get(name)
        if entry is None or (kind is not None and not getattr(entry, _KINDS[kind])):
            known = ", ".join(self.names(kind)) or "(none)"
            if entry is None:
                raise UnknownBackend(f"unknown backend {name!r}; known backends"
                                     + (f" that can {kind}" if kind else "") + f": {known}")
            raise UnknownBackend(f"the '{name}' backend cannot {kind}; backends that can: {known}")
        if entry.backend is None:
            entry.backend = self._load(entry)
        return entry.backend

    def _select(self, kind: str | None) -> list[_Entry]:
        if kind is not None and kind not in _KINDS:
            raise ValueError(f"kind must be 'export' or 'run', not {kind!r}")
        return [e for e in self._entries.values() if kind is None or getattr(e, _KINDS[kind])]

    @staticmethod
    def _load(entry: _Entry) -> Backend:
        module, attr = entry.target.split(":", 1)
        backend = getattr(importlib.import_module(module), attr)
        if not isinstance(backend, Backend) or backend.name != entry.name:
            raise TypeError(f"{entry.target} is not the Backend '{entry.name}'")
        if backend.description != entry.description:
            raise TypeError(f"backend '{entry.name}': registered as {entry.description!r}, "
                            f"describes itself as {backend.description!r}")
        if (backend.can_export, backend.can_run) != (entry.exports, entry.runs):
            raise TypeError(f"backend '{entry.name}' was registered with export="
                            f"{entry.exports}, run={entry.runs} but offers export="
                            f"{backend.can_export}, run={backend.can_run}")
        return backend
