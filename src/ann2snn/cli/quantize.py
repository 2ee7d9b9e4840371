"""ann2snn quantize net.snn --weight-bits 8 --state-bits 32 -o net_q.snn"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..validate import positive, writable_output


def add_parser(sub):
    p = sub.add_parser(
        "quantize", help="integer mode: integer weights, thresholds and membranes",
        description="Quantize a spiking network for integer-only simulation and the C backend "
                    "(docs/integer-mode.md): weights to signed integers with one scale per "
                    "layer (or channel), integer thresholds, saturating membranes, inputs "
                    "quantized to --input-bits. With --dataset, also simulate the test split "
                    "and print the accuracy of the float and the integer network.",
        epilog="Examples:\n"
               "  ann2snn quantize net.snn --weight-bits 8 -o net_q.snn --dataset mnist\n"
               "  ann2snn quantize net.snn --target loihi -o net_loihi.snn --dataset mnist",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("snn", metavar="NET.snn", help="a file written by 'ann2snn convert'")
    p.add_argument("-o", "--output", required=True, help="the quantized network file to write")
    p.add_argument("--weight-bits", type=int, default=8, help="signed weight width (default 8)")
    p.add_argument("--state-bits", type=int, default=32,
                   help="membrane width; membranes saturate at ±(2^(bits-1)-1) (default 32)")
    p.add_argument("--input-bits", type=int, default=8, help="input width (default 8)")
    p.add_argument("--per-channel", action=argparse.BooleanOptionalAction, default=None,
                   help="one integer threshold per channel (default: as the network was "
                        "normalized, which is per channel unless converted with "
                        "--no-per-channel)")
    p.add_argument("--pow2", action="store_true", help="thresholds (scales) are powers of two")
    p.add_argument("--target", choices=["loihi"],
                   help="quantize within a chip's limits: loihi (Loihi 1: 8-bit weights, one "
                        "integer threshold per layer, reset to zero, 18-bit membranes, "
                        "synaptic delay 1; sets the widths, so --weight-bits, --state-bits, "
                        "--per-channel and --pow2 must be left out; docs/backends.md)")
    p.add_argument("--input-range", type=float,
                   help="largest input value (default: from the training data with --dataset, "
                        "else 1)")
    from .common import add_dataset_args

    add_dataset_args(p, required=False)
    p.add_argument("--timesteps", "-T", type=positive, default=32,
                   help="time steps for the accuracy check (default 32)")
    p.add_argument("--num-samples", type=positive, metavar="N",
                   help="test samples for the accuracy check (default: all)")
    p.add_argument("--batch-size", type=positive, default=256)
    return p


def run(args) -> int:
    from .. import load
    from ..ir import QuantScale
    from ..ir.quant import thresholds
    from ..quantize import QuantSpec, quantize
    from .common import print_table

    if args.target:
        from ..errors import ConfigError
        from ..quantize.targets import get_target

        given = [f for f, d in (("--weight-bits", args.weight_bits != 8),
                                ("--state-bits", args.state_bits != 32),
                                ("--per-channel", args.per_channel is not None),
                                ("--pow2", args.pow2)) if d]
        if given:
            raise ConfigError(f"--target {args.target} sets the widths and scales: leave out "
                              + ", ".join(given))
        spec = QuantSpec(**get_target(args.target).spec, input_bits=args.input_bits,
                         input_range=args.input_range)
    else:
        spec = QuantSpec(weight_bits=args.weight_bits, state_bits=args.state_bits,
                         input_bits=args.input_bits, per_channel=args.per_channel,
                         scale=QuantScale.POW2 if args.pow2 else QuantScale.INTEGER,
                         input_range=args.input_range)
    spec.validate()  # the widths, before any work
    writable_output(args.output, "-o")
    snn = load(args.snn)
    calib = None
    if args.dataset:
        from ..data import calibration_data

        calib = calibration_data(args.dataset, n=1000, data_dir=args.data_dir,
                                 standardize=args.standardize)
    if args.target:
        qsnn = quantize(snn, calibration=calib, target=args.target,
                        input_bits=args.input_bits, input_range=args.input_range)
    else:
        qsnn = quantize(snn, spec, calib)
    out = qsnn.save(Path(args.output))
    q, ths = qsnn.graph.quant, thresholds(qsnn.graph)
    rows = []
    for x in qsnn.graph:
        arrs = x.arrays()
        w = arrs.get("weight", arrs.get("factor"))
        th = ths.get(x.name)
        rows.append({"name": x.name, "type": x.op, "shape": qsnn.graph.shapes[x.name],
                     "weights": None if w is None else f"{int(w.min())}..{int(w.max())}",
                     "threshold": None if th is None else (
                         str(th[0]) if len(th) == 1 else f"{min(th)}..{max(th)}")})
    print_table(rows, [("name", "name"), ("type", "type"), ("shape", "output shape"),
                       ("weights", "int weights"), ("threshold", "threshold")])
    print(f"\nwrote {out}: {spec.weight_bits}-bit weights, {spec.state_bits}-bit membranes, "
          f"{spec.input_bits}-bit input (x_int = round(x * {q.input_scale:.6g})), "
          f"{q.weight_bytes} bytes of weights")
    if args.target:
        print(f"target {args.target}: reset to zero, synaptic delay 1 (simulate with "
              f"--backend {args.target}, or the built-in simulator with --synaptic-delay 1); "
              f"'ann2snn info {out} --target {args.target}' reports the chip resources")
    if args.dataset:
        from ..data import load_dataset

        test = load_dataset(args.dataset, "test", data_dir=args.data_dir,
                            standardize=args.standardize)
        kw = dict(timesteps=args.timesteps, num_samples=args.num_samples,
                  batch_size=args.batch_size, evaluate_ann=False)
        acc_f = snn.simulate(test, **kw).snn_accuracy
        acc_i = qsnn.simulate(test, synaptic_delay=qsnn.graph.meta.get("synaptic_delay", 0),
                              **kw).snn_accuracy
        n = min(len(test), args.num_samples or len(test))
        print(f"accuracy at T = {args.timesteps} on {n} test samples: float "
              f"{acc_f * 100:.2f}%, integer {acc_i * 100:.2f}% "
              f"(cost {(acc_f - acc_i) * 100:+.2f} percentage points)")
    return 0
