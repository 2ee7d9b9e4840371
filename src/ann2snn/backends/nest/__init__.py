"""The "nest" backend: NEST through PyNN (``pip install 'ann2snn[nest]'``).

plan.py turns the spiking graph into populations and connection lists (no PyNN needed),
network.py builds and runs them as a PyNN network, worker.py runs that in a spawned
process, backend.py is the :class:`Backend`, trace.py records traces from NEST.
docs/backends.md, "NEST (PyNN)", states the mapping and its exactness. ``BACKEND`` is
imported lazily, so the worker process loads neither torch nor the backend.
"""

__all__ = ["BACKEND", "NestBackend"]


def __getattr__(name):
    if name in __all__:
        from . import backend

        return getattr(backend, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
