"""NIR agreement on MNIST: an average-pooling CNN converted by ann2snn, exported to NIR,
read back by nirtorch 2.6 (the reader of tests/equivalence/test_nir_readers.py) and by
ann2snn itself; output spike counts compared sample by sample. Also measures the two
reader differences docs/backends.md shows (nirtorch's default Affine, snnTorch's IF).

Run by hand (not a test; needs MNIST and ann2snn[nir], nirtorch, snntorch):
    ANN2SNN_DATA=/path/to/data python benchmarks/nir_agreement.py --num-samples 1000
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

import ann2snn
from ann2snn.ir import nodes as n
from ann2snn.passes.to_spiking import with_neuron_params

ROOT = Path(__file__).resolve().parents[1]


def _reader():
    path = ROOT / "tests" / "equivalence" / "test_nir_readers.py"
    spec = importlib.util.spec_from_file_location("nir_readers", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["nir_readers"] = mod
    spec.loader.exec_module(mod)
    return mod


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--num-samples", type=int, default=1000)
    ap.add_argument("--timesteps", type=int, default=32)
    args = ap.parse_args()
    if not os.environ.get("ANN2SNN_DATA"):
        sys.exit("set ANN2SNN_DATA to the folder holding mnist/")
    r = _reader()
    import nir
    from snntorch.import_nir import import_from_nir

    snn, test = r.mnist_cnn()
    x, y = test.x[:args.num_samples], test.y[:args.num_samples]
    t = args.timesteps
    with tempfile.TemporaryDirectory() as d, r.one_thread():
        path = Path(d) / "mnist.nir"
        ann2snn.export(snn, "nir", path)
        ours = snn.run_batch(x, t).readout.numpy()
        back = ann2snn.load(path).run_batch(x, t).readout.numpy()
        theirs = r.reader_counts(path, x, t)
        default = r.counts(r.module(path), x, t)  # nirtorch's own Affine mapping
        print(f"MNIST average-pooling CNN, {len(x)} test samples, T = {t}")
        print(f"  ann2snn accuracy: {(ours.argmax(1) == y).mean() * 100:.2f}%")
        same = lambda a: int((a == ours).all(1).sum())  # noqa: E731
        print(f"  read back by ann2snn: identical output counts on {same(back)}/{len(x)}")
        print(f"  nirtorch 2.6 + NIR equations: identical output counts on "
              f"{same(theirs)}/{len(x)}")
        print(f"  nirtorch 2.6 default Affine (bias not loaded): identical on "
              f"{same(default)}/{len(x)}, same prediction on "
              f"{int((default.argmax(1) == ours.argmax(1)).sum())}/{len(x)}")
        # the same CNN with reset to zero (NIR's IF node), read by snnTorch
        z = ann2snn.SNN(with_neuron_params(snn.graph, reset=ann2snn.ResetMode.ZERO))
        ann2snn.export(z, "nir", Path(d) / "zero.nir")
        oz = z.run_batch(x, t).readout.numpy()
        tz = r.reader_counts(Path(d) / "zero.nir", x, t)
        print(f"  reset to zero (NIR IF nodes): ann2snn accuracy "
              f"{(oz.argmax(1) == y).mean() * 100:.2f}%; nirtorch 2.6 + NIR equations: "
              f"identical output counts on {int((tz == oz).all(1).sum())}/{len(x)}")
        net = import_from_nir(nir.read(str(Path(d) / "zero.nir"), type_check=False))
        try:
            with torch.no_grad():
                net(torch.from_numpy(x[0]), None)
            print("  snnTorch 1.0 import_from_nir ran the reset-to-zero network")
        except TypeError as e:
            print(f"  snnTorch 1.0 import_from_nir builds the network but running it fails: "
                  f"TypeError: {e}")
        leaky = next(m for m in net.modules() if type(m).__name__ == "Leaky")
        print(f"  snnTorch's module for NIR's IF: Leaky(beta={float(leaky.beta):g}, "
              f"threshold={float(leaky.threshold):.9g}, reset={leaky.reset_mechanism!r})")
        single_neuron(leaky, t)


def single_neuron(leaky, t: int) -> None:
    """One neuron, constant current 0.25, θ = 1: ann2snn (reset to zero) vs snnTorch's
    reading of the exported IF node."""
    g = ann2snn.Graph([n.Input("x", shape=(1,)),
                       n.Dense("fc", ("x",), weight=np.full((1, 1), 0.25, np.float32),
                               bias=None),
                       n.IF("out", ("fc",), reset=ann2snn.ResetMode.ZERO)], "out")
    ours = int(ann2snn.SNN(g).run_batch(np.ones((1, 1), np.float32), t).readout.sum())
    mem, spikes = leaky.init_leaky(), 0
    with torch.no_grad():
        for _ in range(t):
            spk, mem = leaky(torch.full((1,), 0.25), mem)
            spikes += int(spk.sum())
    print(f"  one neuron, current 0.25 for {t} steps: ann2snn {ours} spikes, "
          f"snnTorch's Leaky {spikes}")


if __name__ == "__main__":
    main()
