"""The NIR backend on the backend interface ("nir", export only): export.py behind
:class:`ann2snn.backends.Backend`, checks.py for what NIR cannot express."""

from __future__ import annotations

from ...ir.options import Encoding, Readout, ResetMode
from ..base import Arithmetic, Backend, Problem, Supports
from . import checks


class NirBackend(Backend):
    def export(self, snn, out, **options):
        from .export import export_nir

        return export_nir(snn, out, **options)

    def extra_problems(self, graph, **options) -> list[Problem]:
        return checks.problems(graph)


BACKEND = NirBackend(
    name="nir",
    description="a NIR file (nir >= 1.0.8) for Lava, snnTorch, Norse, SpiNNaker2, ...; "
                "exact IF semantics, docs/backends.md",
    supports={Arithmetic.FLOAT: Supports(
        nodes=checks.NODES, reset=frozenset(ResetMode), readout=frozenset(Readout),
        encoding=frozenset({Encoding.ANALOG}), synaptic_delay=frozenset({0}))},
    requires=("nir",), extra="nir", hints=checks.HINTS,
)
