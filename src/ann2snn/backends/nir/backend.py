"""The NIR backend on the backend interface ("nir", export only): export.py behind
:class:`ann2snn.backends.Backend`, checks.py for what NIR cannot express (integer.py for
integer-mode networks)."""

from __future__ import annotations

from ...ir.options import Encoding, Readout, ResetMode
from ..base import Arithmetic, Backend, Problem, Supports
from . import checks


class NirBackend(Backend):
    def export(self, snn, out, **options):
        from .export import export_nir

        return export_nir(snn, out, **options)

    def extra_problems(self, graph, **options) -> list[Problem]:
        found = checks.problems(graph)
        if graph.quant is not None:
            from .integer import problems

            found += problems(graph.prune(), options.get("timesteps"))
        return found


BACKEND = NirBackend(
    name="nir",
    description="a NIR file (nir >= 1.0.8) for Lava, snnTorch, Norse, SpiNNaker2, ...; "
                "exact IF semantics, docs/backends.md",
    supports={a: Supports(
        nodes=checks.NODES, reset=frozenset(ResetMode), readout=frozenset(Readout),
        encoding=frozenset({Encoding.ANALOG}), synaptic_delay=frozenset({0}))
        for a in (Arithmetic.FLOAT, Arithmetic.INTEGER)},
    requires=("nir",), extra="nir", hints=checks.HINTS,
)
