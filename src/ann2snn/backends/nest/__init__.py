"""The "nest" backend: NEST through PyNN (``pip install 'ann2snn[nest]'``).

plan.py turns the spiking graph into populations and connection lists (no PyNN needed),
network.py builds and runs them as a PyNN network, backend.py is the :class:`Backend`.
docs/backends.md, "NEST (PyNN)", states the mapping and its exactness.
"""

from .backend import BACKEND, NestBackend

__all__ = ["BACKEND", "NestBackend"]
