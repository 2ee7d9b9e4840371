"""ann2snn info MODEL_OR_SNN"""

from __future__ import annotations

from pathlib import Path

from .common import print_table


def add_parser(sub):
    p = sub.add_parser(
        "info", help="print a per-layer table of a model or a spiking network",
        description="Print name, type, output shape, parameters, neurons and threshold scale "
                    "for every layer of a spiking network (.snn) or a model file.")
    p.add_argument("model", metavar="MODEL_OR_SNN")
    p.add_argument("--weights", help="state_dict for file.py:ClassName")
    p.add_argument("--input-shape",
                   help="per-sample input shape for file.py:ClassName, e.g. 1,28,28")
    return p


def run(args) -> int:
    cols = [("name", "name"), ("type", "type"), ("shape", "output shape"), ("params", "params"),
            ("neurons", "neurons"), ("scale", "threshold scale")]
    if Path(args.model).suffix == ".snn":
        from .. import load

        snn = load(args.model)
        rows = snn.summary()
        print_table(rows, cols)
        print(f"\nreadout: {snn.readout_mode}; neurons: {sum(r['neurons'] for r in rows)}; "
              f"parameters: {sum(r['params'] for r in rows)}")
        print(f"initial membrane v0: {_v0s(snn.graph)} of the threshold")
        return 0
    import numpy as np

    from ..errors import ConfigError
    from ..pipeline import load_user_model

    sample = None
    if args.input_shape:
        try:
            shape = tuple(int(s) for s in args.input_shape.split(","))
        except ValueError:
            raise ConfigError(f"--input-shape {args.input_shape!r}: use e.g. 1,28,28") from None
        sample = np.zeros((2, *shape), np.float32)
    elif ":" in args.model and args.model.split(":")[0].endswith(".py"):
        raise ConfigError("file.py:ClassName needs --input-shape to be traced, e.g. 1,28,28")
    graph = load_user_model(args.model, args.weights, sample,
                            random_weights=True)  # shapes only: the weights do not matter
    rows = graph.summary()
    print_table(rows, cols[:4])
    return 0


def _v0s(graph) -> str:
    """The populations' v0 (fractions of θ): one value, or each distinct one."""
    vals = sorted({float(x.v0) for x in graph if x.population})
    return ", ".join(f"{v:g}" for v in vals) or "-"
