"""The C backend on the backend interface ("c", export only): ``export_c`` behind
:class:`ann2snn.backends.Backend`. Integer mode by default; ``float_mode=True`` exports
a float network (agreement within a tolerance, docs/c-export.md)."""

from __future__ import annotations

from ...ir.options import SynapticDelay
from ..base import Arithmetic, Backend, Problem, Supports, arithmetic_of
from . import export_c
from .emit import C_OPS


class CBackend(Backend):
    def export(self, snn, out, **options):
        return export_c(snn, out, **options)

    def arithmetic(self, graph, **options) -> Arithmetic:
        return Arithmetic.FLOAT if options.get("float_mode") else Arithmetic.INTEGER

    def extra_problems(self, graph, **options) -> list[Problem]:
        have, want = arithmetic_of(graph), self.arithmetic(graph, **options)
        if have is want:
            return []
        if want is Arithmetic.INTEGER:
            return [Problem("the network is not quantized",
                            "run 'ann2snn quantize' first (or export --float, "
                            "float_mode=True, for a float C model)")]
        return [Problem("float_mode (--float) needs the float network, not a quantized one")]


_SUPPORTS = Supports(nodes=frozenset(C_OPS.types()), synaptic_delay=frozenset(SynapticDelay))
BACKEND = CBackend(
    name="c",
    description="portable C99 source (integer mode bit-exact, or --float), docs/c-export.md",
    supports={Arithmetic.INTEGER: _SUPPORTS, Arithmetic.FLOAT: _SUPPORTS},
)
