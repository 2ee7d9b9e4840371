"""ann2snn export TARGET net.snn -o OUT [--dataset D --num-samples N]"""

from __future__ import annotations


def add_parser(sub):
    from ..backends import BACKENDS
    from ..validate import positive
    from .common import add_dataset_args, add_delay_arg, backend_help

    p = sub.add_parser(
        "export", help="deploy a network: standalone C99 code",
        description="Write a network for another target. 'c': portable C99 for a quantized "
                    "network (no dynamic memory, no recursion, no function pointers, static "
                    "state): snn_model.h/.c, main.c and a Makefile. With --dataset, also "
                    "inputs.bin and the integer simulator's outputs expected.bin, so that "
                    "'make -C DIR check' proves the C program bit-exact. See docs/c-export.md. "
                    "'nir': a NIR file (-o net.nir) that NIR tools read (snnTorch, Lava, "
                    "Norse, ...), with the IF semantics kept exactly; docs/backends.md.",
        epilog="Example: ann2snn export c net_q.snn -o snn_c --dataset mnist --num-samples 100"
               " && make -C snn_c check; ann2snn export nir net.snn -o net.nir")
    p.add_argument("target", choices=BACKENDS.names("export"), metavar="TARGET",
                   help="what to export to: " + backend_help("export"))
    p.add_argument("snn", metavar="NET.snn",
                   help="a quantized network ('ann2snn quantize'), or a float one with --float")
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="folder to write ('c'), file to write ('nir')")
    add_dataset_args(p, required=False)
    p.add_argument("--num-samples", type=positive, default=100, metavar="N",
                   help="test samples written to inputs.bin (default 100)")
    p.add_argument("--timesteps", "-T", type=positive, default=32,
                   help="time steps of expected.bin and the default of snn_main (default 32)")
    p.add_argument("--float", action="store_true",
                   help="export the float network (agreement within a tolerance, not exact)")
    add_delay_arg(p)
    return p


def run(args) -> int:
    from .. import load
    from ..backends import get_backend
    from ..validate import writable_output

    writable_output(args.output, "-o", directory=True)  # before any work
    backend = get_backend(args.target, "export")
    snn = load(args.snn)
    options = {"timesteps": args.timesteps}
    if args.float:
        options["float_mode"] = True
    if args.synaptic_delay:  # (a backend that has only delay 0 need not know the option)
        options["synaptic_delay"] = args.synaptic_delay
    backend.check(snn.graph, **options)  # before any data are loaded
    backend.require()
    if args.dataset:
        from ..data import load_dataset

        test = load_dataset(args.dataset, "test", data_dir=args.data_dir,
                            standardize=args.standardize)
        n = min(args.num_samples, len(test))
        options.update(x=test.x[:n], indices=list(range(n)))
    files = backend.export(snn, args.output, **options)
    print(f"wrote {', '.join(f.name for f in files)} to {args.output}")
    if args.target != "c":
        return 0
    if "x" in options:
        print(f"check it: make -C {args.output} check")
    else:
        print(f"build it: make -C {args.output}  (add --dataset D for inputs.bin and "
              "expected.bin)")
    return 0
