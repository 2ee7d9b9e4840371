"""ann2snn finetune MODEL --dataset D --levels 4 --epochs N -o model_qcfs.pt2"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..validate import positive

_DESCRIPTION = """\
QCFS fine-tuning (Bu et al., ICLR 2022): replace every ReLU (ReLU6, clamp at 0) of a
trained torch model by a quantization-clip-floor-shift activation with L levels and a
trainable threshold λ per layer (or per channel), train it on the TRAINING split of
--dataset (a held-out part of it is the validation set; the test split is never read),
and write the best epoch's model as a torch.export program. Converting that program
makes λ the populations' thresholds with v0 = θ/2, so the SNN is accurate at a few
time steps (T = L and up). A checkpoint after every epoch (--checkpoint) makes the run
resumable with --resume."""

_EPILOG = """\
Examples:
  ann2snn finetune lenet.pt2 --dataset mnist --levels 4 --epochs 3 -o lenet_qcfs.pt2
  ann2snn finetune net.py:LeNet --weights lenet.pth -d mnist --epochs 5 -o lenet_qcfs.pt2
  ann2snn finetune lenet.pt2 -d mnist --epochs 5 -o lenet_qcfs.pt2 --resume
  ann2snn convert lenet_qcfs.pt2 --dataset mnist -o lenet_qcfs.snn
  ann2snn simulate lenet_qcfs.snn --dataset mnist --timesteps 4
See docs/low-latency.md."""


def _fraction(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}") \
            from None
    if not 0 < v < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (exclusive), got {text}")
    return v


def _positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not v > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return v


def add_parser(sub):
    from .common import add_dataset_args

    p = sub.add_parser("finetune", help="QCFS fine-tuning: a ReLU network accurate at T <= 8",
                       description=_DESCRIPTION, epilog=_EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", metavar="MODEL",
                   help="the trained ReLU network: a torch.export program (.pt2) or "
                        "file.py:ClassName with --weights")
    p.add_argument("--weights", help="state_dict (.pth) for file.py:ClassName")
    p.add_argument("-o", "--output", required=True,
                   help="the fine-tuned model to write (.pt2; the best epoch's weights)")
    add_dataset_args(p)
    g = p.add_argument_group("fine-tuning")
    g.add_argument("--levels", type=positive, default=4, metavar="L",
                   help="quantization levels L of every QCFS activation (default 4; the SNN "
                        "is exact per layer at T = L)")
    g.add_argument("--epochs", type=positive, default=5, help="epochs (default 5)")
    g.add_argument("--per-channel", action="store_true", help="one λ per channel")
    g.add_argument("--optimizer", choices=("adam", "sgd"), default="adam",
                   help="adam (default, lr 1e-3) or sgd (momentum 0.9, lr 0.01); cosine decay")
    g.add_argument("--lr", type=_positive_float, default=None, help="learning rate")
    g.add_argument("--batch-size", type=positive, default=128, help="default 128")
    g.add_argument("--val-fraction", type=_fraction, default=0.1,
                   help="part of the training split held out for validation (default 0.1)")
    g.add_argument("--train-samples", type=positive, default=None, metavar="N",
                   help="use only the first N training images (quick runs)")
    g.add_argument("--seed", type=int, default=0, help="split, batch order and init (default 0)")
    g.add_argument("--checkpoint", metavar="FILE",
                   help="checkpoint written after every epoch (default: OUTPUT + .ckpt)")
    g.add_argument("--resume", action="store_true",
                   help="continue from the checkpoint (same settings, more --epochs)")
    return p


def run(args) -> int:
    from ..errors import ConfigError
    from ..pipeline import check_model_spec, is_python_class
    from ..validate import writable_output

    if not is_python_class(args.model) and Path(args.model).suffix.lower() != ".pt2":
        raise ConfigError(f"finetune trains a torch model: give a torch.export program (.pt2) "
                          f"or file.py:ClassName with --weights, not {args.model}")
    check_model_spec(args.model, args.weights)
    out = Path(args.output)
    if out.suffix.lower() != ".pt2":
        raise ConfigError(f"-o {out}: the fine-tuned model is a torch.export program; name "
                          "it *.pt2")
    writable_output(out, "-o")
    ckpt = Path(args.checkpoint) if args.checkpoint else out.with_name(out.name + ".ckpt")
    writable_output(ckpt, "--checkpoint")
    if args.resume and not ckpt.is_file():
        raise ConfigError(f"--resume: no checkpoint {ckpt} (it is written after every epoch; "
                          "give its path with --checkpoint)")
    from ..data import load_dataset

    train = load_dataset(args.dataset, "train", data_dir=args.data_dir,
                         standardize=args.standardize)
    if args.train_samples:
        train = train.subset(args.train_samples)
    model = _load_module(args.model, args.weights)
    sample = train.x[:2]
    from ..lowlatency import finetune

    def on_epoch(r):
        print(f"epoch {r['epoch']}/{args.epochs}: loss {r['loss']:.4f}, train accuracy "
              f"{r['train_accuracy'] * 100:.2f}%, validation accuracy "
              f"{r['val_accuracy'] * 100:.2f}% ({r['seconds']:.1f} s)", flush=True)

    res = finetune(model, train.x, train.y, levels=args.levels, epochs=args.epochs,
                   per_channel=args.per_channel, optimizer=args.optimizer, lr=args.lr,
                   batch_size=args.batch_size, val_fraction=args.val_fraction,
                   seed=args.seed, checkpoint=ckpt, resume=args.resume, progress=True,
                   on_epoch=on_epoch, on_best=lambda net, r: save_program(net, sample, out))
    print(f"wrote {out}: best epoch {res.best_epoch}, validation accuracy "
          f"{res.best_val_accuracy * 100:.2f}% (QCFS, L = {args.levels}); checkpoint {ckpt}")
    print(f"next: ann2snn convert {out} --dataset {args.dataset} -o "
          f"{out.with_suffix('.snn').name}")
    return 0


def _load_module(spec: str, weights: str | None):
    from ..pipeline import is_python_class, user_module

    if is_python_class(spec):
        return user_module(spec, weights)
    import torch

    from ..frontends.torch import load_program

    gm = load_program(spec).module(check_guards=False)
    gm._forward_pre_hooks.clear()  # its input check pins the batch size of the export
    try:  # a program exported with a fixed batch size (x.view(2, -1)) cannot train
        with torch.no_grad():
            gm(torch.zeros((3, *_input_shape(gm))))
    except Exception as e:
        from ..errors import ModelFileError

        raise ModelFileError(
            f"{spec} only runs with the batch size it was exported with ({type(e).__name__}); "
            "export it with a dynamic batch (torch.export.export(model, (x,), dynamic_shapes="
            "({0: torch.export.Dim('batch')},))), or give file.py:ClassName --weights") from None
    return gm


def _input_shape(gm) -> tuple[int, ...]:
    ph = next(n for n in gm.graph.nodes if n.op == "placeholder")
    return tuple(int(s) for s in ph.meta["val"].shape[1:])


def save_program(model, sample, path: Path) -> None:
    """Export ``model`` (eval mode) with ``sample`` and write it atomically."""
    import torch

    from ..files import atomic_path
    from ..lowlatency.finetune import set_training

    set_training(model, False)
    ep = torch.export.export(model, (torch.as_tensor(sample, dtype=torch.float32),),
                             strict=False)
    with atomic_path(path) as tmp:
        torch.export.save(ep, str(tmp))
