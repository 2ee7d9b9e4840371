"""Event-driven synapses against oneDNN's dense convolution, side by side in one run.

Why the simulator multiplies spikes densely (docs/design.md §5, issue 11). An
event-driven convolution adds, for every output pixel, the weight row of each input
spike in its window and skips the zeros; it does a fraction (the spike density) of the
dense arithmetic. This script builds one (C, compiled here with the simulator's own
flags; channels-last; per input pixel a bit mask of its spiking channels, per output
pixel the set bits of its window's masks, the output channels in vector registers),
checks that it is exact (equal, bit for bit, to the same sum taken in the same order
by torch: taps (ky, kx, c_in) ascending, then the bias), and times it against
torch.nn.functional.conv2d (oneDNN, channels-last) on random 0/1 spikes at several
densities, for the second convolution of the README's LeNet-5 (6 -> 16 channels, 5x5,
14x14 input; its input's density is about 8 % per step) and of the snntoolbox-style
CNN (16 -> 32, 3x3, 12x12). Both at the same torch thread count; --busy adds a
busy-loop process on one of our CPUs.

Run by hand (not a test):  python benchmarks/event_synapses.py [--threads N] [--busy]
"""

from __future__ import annotations

import argparse
import ctypes
import importlib.util
import subprocess
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F

from ann2snn.sim.kernels import native

HERE = Path(__file__).parent

SOURCE = r"""
#include <stdint.h>
#include <stdlib.h>
#define CONV_CO(CO)                                                                 \
static void pix_##CO(const uint64_t *restrict m, int64_t h, int64_t w,               \
    const float *restrict wt, const float *restrict bias, int64_t ci, int64_t kh,    \
    int64_t kw, int64_t oh, int64_t ow, float *restrict out) {                       \
  for (int64_t oy = 0; oy < oh; ++oy)                                               \
    for (int64_t ox = 0; ox < ow; ++ox) {                                           \
      float acc[CO];                                                                \
      for (int j = 0; j < CO; ++j) acc[j] = 0.0f;                                   \
      for (int64_t ky = 0; ky < kh; ++ky)                                           \
        for (int64_t kx = 0; kx < kw; ++kx) {                                       \
          uint64_t b = m[(oy + ky) * w + ox + kx];                                  \
          const float *restrict wk = wt + (ky * kw + kx) * ci * CO;                 \
          while (b) {                                                               \
            const float *restrict wc = wk + __builtin_ctzll(b) * CO;                \
            b &= b - 1;                                                             \
            for (int j = 0; j < CO; ++j) acc[j] = acc[j] + wc[j];                   \
          }                                                                         \
        }                                                                           \
      float *o = out + (oy * ow + ox) * CO;                                         \
      for (int j = 0; j < CO; ++j) o[j] = acc[j] + bias[j];                         \
    }                                                                               \
}
CONV_CO(16)
CONV_CO(32)
/* x (n, h, w, ci) 0/1, ci <= 64; wt (kh, kw, ci, co); out (n, oh, ow, co); no padding */
int conv_events(const float *x, int64_t n, int64_t h, int64_t w, int64_t ci,
                const float *wt, const float *bias, int64_t kh, int64_t kw, int64_t co,
                float *out, int nthreads) {
  if (ci > 64 || (co != 16 && co != 32)) return -1;
  const int64_t oh = h - kh + 1, ow = w - kw + 1;
#pragma omp parallel num_threads(nthreads)
  {
    uint64_t *m = malloc(sizeof(uint64_t) * (size_t)(h * w));
#pragma omp for schedule(static)
    for (int64_t s = 0; s < n; ++s) {
      const float *xs = x + s * h * w * ci;
      for (int64_t p = 0; p < h * w; ++p) {
        uint64_t b = 0;
        for (int64_t c = 0; c < ci; ++c) b |= (uint64_t)(xs[p * ci + c] != 0.0f) << c;
        m[p] = b;
      }
      float *os = out + s * oh * ow * co;
      if (co == 16) pix_16(m, h, w, wt, bias, ci, kh, kw, oh, ow, os);
      else pix_32(m, h, w, wt, bias, ci, kh, kw, oh, ow, os);
    }
    free(m);
  }
  return 0;
}
"""

#: (name, window x batch, input channels, input size, output channels, kernel size)
LAYERS = [("LeNet-5 conv2 (T 17 x batch 50)", 850, 6, 14, 16, 5),
          ("CNN conv2 (T 20 x batch 100)", 2000, 16, 12, 32, 3)]


def build(tmp: Path) -> ctypes.CDLL:
    cc = native.compiler()
    if cc is None:
        raise SystemExit("no C compiler (cc, gcc or clang) on the PATH")
    src, lib = tmp / "events.c", tmp / "events.so"
    src.write_text(SOURCE)
    subprocess.run([cc, *native.FLAGS, *native.NATIVE, *native.OPENMP, str(src), "-o",
                    str(lib)], check=True)
    dll = ctypes.CDLL(str(lib))
    p, i = ctypes.c_void_p, ctypes.c_int64
    dll.conv_events.argtypes = [p, i, i, i, i, p, p, i, i, i, p, ctypes.c_int]
    dll.conv_events.restype = ctypes.c_int
    return dll


def events(dll, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, threads: int):
    """The event-driven convolution of x (n, ci, h, w), returned as (n, co, oh, ow)."""
    n, ci, h, wd = x.shape
    co, _, kh, kw = w.shape
    xc = x.permute(0, 2, 3, 1).contiguous()
    wt = w.permute(2, 3, 1, 0).contiguous()
    out = torch.empty(n, h - kh + 1, wd - kw + 1, co)
    rc = dll.conv_events(xc.data_ptr(), n, h, wd, ci, wt.data_ptr(), b.data_ptr(), kh, kw,
                         co, out.data_ptr(), threads)
    assert rc == 0
    return out.permute(0, 3, 1, 2)


def tap_order(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The same sums in torch, in the kernel's order: taps (ky, kx, c_in), then the bias."""
    n, ci, h, wd = x.shape
    co, _, kh, kw = w.shape
    oh, ow = h - kh + 1, wd - kw + 1
    acc = torch.zeros(n, co, oh, ow)
    for ky in range(kh):
        for kx in range(kw):
            for c in range(ci):
                acc = acc + x[:, c:c + 1, ky:ky + oh, kx:kx + ow] * w[:, c, ky, kx].view(1, co,
                                                                                       1, 1)
    return acc + b.view(1, co, 1, 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--threads", type=int, default=None, help="default: torch's")
    ap.add_argument("--densities", default="0.05,0.08,0.15,0.25")
    ap.add_argument("--reps", type=int, default=7, help="timing repeats (best of)")
    ap.add_argument("--busy", action="store_true",
                    help="with a busy-loop process on one of our CPUs, started here")
    args = ap.parse_args()
    spec = importlib.util.spec_from_file_location("kc", HERE / "kernels_compare.py")
    kc = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(kc)
    threads = args.threads or torch.get_num_threads()
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        dll = build(Path(tmp))
        for name, _, ci, hw, co, k in LAYERS:  # exact: the same sums in the same order
            x = (torch.rand(4, ci, hw, hw) < 0.2).float()
            w, b = torch.randn(co, ci, k, k), torch.randn(co)
            e = events(dll, x, w, b, threads)
            same = torch.equal(e, tap_order(x, w, b))
            dev = (e - F.conv2d(x, w, b)).abs().max().item()
            print(f"{name}: equal to the tap-order sum: {same}; largest difference from "
                  f"conv2d {dev:.2g}")
        print(f"\n{threads} threads, {'busy' if args.busy else 'quiet'}; ms per call, "
              f"best of {args.reps}")
        print(f"{'layer':<34}{'density':>8}{'oneDNN':>9}{'GFLOP/s':>9}{'events':>9}"
              f"{'oneDNN/events':>15}")
        with kc.busy_loop(args.busy), torch.no_grad():
            for name, nb, ci, hw, co, k in LAYERS:
                w, b = torch.randn(co, ci, k, k), torch.randn(co)
                flop = 2.0 * nb * (hw - k + 1) ** 2 * co * ci * k * k
                for d in (float(s) for s in args.densities.split(",")):
                    x = (torch.rand(nb, ci, hw, hw) < d).float().contiguous(
                        memory_format=torch.channels_last)
                    td = kc.best_of(lambda x=x, w=w, b=b: F.conv2d(x, w, b), args.reps)
                    te = kc.best_of(lambda x=x, w=w, b=b: events(dll, x, w, b, threads),
                                 args.reps)
                    print(f"{name:<34}{d:>8.2f}{td * 1e3:>9.2f}{flop / td / 1e9:>9.0f}"
                          f"{te * 1e3:>9.2f}{td / te:>14.2f}x")


if __name__ == "__main__":
    main()
