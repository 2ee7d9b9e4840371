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
    p.add_argument("--target", choices=["loihi"],
                   help="also report the chip resources of a .snn: loihi (Loihi 1: cores, "
                        "compartments, synapses and axons per layer against its per-core "
                        "limits, and every register limit a quantized network breaks; "
                        "docs/backends.md)")
    p.epilog = "Example: ann2snn info net_loihi.snn --target loihi"
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
        qcfs = snn.graph.meta.get("qcfs")
        if qcfs:
            print(f"QCFS: {len(qcfs['layers'])} populations take their thresholds from the "
                  f"trained λ (L = {', '.join(map(str, sorted(set(qcfs['layers'].values()))))},"
                  f" no percentile), v0 = θ/2")
        print(_burst_and_calibration(snn.graph.meta))
        print(f"initial membrane v0: {_v0s(snn.graph)} of the threshold")
        if args.target:
            from .info_target import report

            return report(snn.graph, args.target)
        return 0
    if args.target:
        from ..errors import ConfigError

        raise ConfigError(f"--target {args.target} reports a spiking network: pass the .snn "
                          "file that 'ann2snn convert' (or quantize) wrote")
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


def _burst_and_calibration(meta: dict) -> str:
    """One line: the burst and the calibration the network was converted with."""
    k = int(meta.get("burst", 1))
    burst = (f"burst: up to {k} spikes per step in hidden populations (thresholds λ/{k})"
             if k > 1 else "burst: off (binary spikes)")
    cal = meta.get("calibration")
    if not cal:
        return f"{burst}; calibration: off"
    v0 = [e["v0"] for e in cal["layers"].values() if "v0" in e]
    rng = f", v0 {min(v0):.3g}..{max(v0):.3g}" if v0 else ""
    return (f"{burst}; calibration: for T = {cal['timesteps']} on {cal['num_samples']} "
            f"training images (bias per channel, v0 per layer{rng})")


def _v0s(graph) -> str:
    """The populations' v0 (fractions of θ): one value, or each distinct one."""
    vals = sorted({float(x.v0) for x in graph if x.population})
    return ", ".join(f"{v:g}" for v in vals) or "-"
