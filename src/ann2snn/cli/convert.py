"""ann2snn convert MODEL --dataset D -o net.snn"""

from __future__ import annotations

from pathlib import Path


def add_parser(sub):
    p = sub.add_parser(
        "convert", help="convert a trained model into a spiking network file",
        description="Convert a trained ReLU network into a spiking network. The scales come "
                    "from training images of --dataset (never the test split).",
        epilog="Examples:\n  ann2snn convert model.pt2 --dataset mnist -o net.snn\n"
               "  ann2snn convert net.py:LeNet --weights lenet.pth --dataset mnist -o net.snn",
        formatter_class=__import__("argparse").RawDescriptionHelpFormatter)
    p.add_argument("model", metavar="MODEL",
                   help="a torch.export program (.pt2), file.py:ClassName, .onnx, .keras, .h5; "
                        "or a NIR file (.nir), already spiking: read as it is, no --dataset")
    p.add_argument("--weights", help="state_dict (.pth) for file.py:ClassName")
    p.add_argument("--random-weights", action="store_true",
                   help="convert file.py:ClassName with its random initial weights (for "
                        "tests and timing; accuracy is chance level)")
    p.add_argument("-o", "--output", required=True, help="the spiking network file to write")
    from .common import add_convert_args, add_dataset_args

    add_dataset_args(p, required=False)  # required unless MODEL is .nir (checked in run)
    add_convert_args(p)
    from ..validate import positive

    g = p.add_argument_group("low latency (docs/low-latency.md)")
    g.add_argument("--calibrate", type=positive, metavar="T",
                   help="training-free calibration for T steps: v0 = 0.5, then biases and "
                        "initial potentials corrected layer by layer on the --dataset "
                        "training images (Li et al. 2021); e.g. --calibrate 8")
    g.add_argument("--burst", type=positive, default=1, metavar="K",
                   help="hidden neurons emit up to K spikes per step (threshold λ/K: K times "
                        "finer rates at the same T); default 1, binary spikes")
    return p


def run(args) -> int:
    if Path(args.model).suffix.lower() == ".nir":
        return _from_nir(args)
    if not args.dataset:
        from ..errors import ConfigError

        raise ConfigError("convert needs --dataset D (its training images set the scales), "
                          "e.g. --dataset mnist")
    from ..api import convert
    from ..data import calibration_data
    from ..pipeline import check_model_spec, load_user_model
    from ..validate import writable_output

    check_model_spec(args.model, args.weights, args.random_weights)  # before any work
    writable_output(args.output, "-o")
    calib = calibration_data(args.dataset, n=args.calibration_samples, data_dir=args.data_dir,
                             standardize=args.standardize)
    graph = load_user_model(args.model, args.weights, calib, args.random_weights)
    snn = convert(graph, calib, percentile=args.percentile, method=args.method,
                  per_channel=args.per_channel, max_to_avg_pool=args.max_to_avg,
                  reset=args.reset, v0=args.v0,
                  calibrate_timesteps=args.calibrate,
                  burst=args.burst,
                  readout=args.readout)
    out = snn.save(Path(args.output))
    pops = sum(1 for r in snn.summary() if r["neurons"])
    print(f"wrote {out}: {pops} spiking populations, "
          f"{sum(r['neurons'] for r in snn.summary())} neurons")
    return 0


def _from_nir(args) -> int:
    """A NIR file is a spiking network already: read it (docs/backends.md, "NIR")."""
    from .. import load

    snn = load(args.model)
    out = snn.save(Path(args.output))
    pops = sum(1 for x in snn.graph if x.population)
    print(f"wrote {out}: read {pops} spiking populations from {args.model} (NIR)")
    return 0
