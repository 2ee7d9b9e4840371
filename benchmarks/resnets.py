"""Small MNIST residual networks for the conversion-default measurements (issue 14).

``ResNetSmall`` is the network of the issue: a stem conv, two basic blocks with identity
shortcuts and a ReLU after the add, a strided conv, average pooling, global average
pooling and a linear head. ``ResNetDeep`` stacks three stages of two basic blocks each
(8, 16, 32 channels; strided convs between them), 15 convolutions deep. Both start
with a strided stem (14x14 maps), which keeps a 10,000-image simulation at T = 64 to
minutes on a 2-core CPU.

Trained briefly on CPU (``train``); ``load_or_train`` caches the state_dict so that the
measurement scripts (benchmarks/resnet_defaults.py, benchmarks/low_latency.py) reuse it.
Run by hand:  ANN2SNN_DATA=/path/to/data python benchmarks/resnets.py --arch small
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from torch import nn


def conv_bn(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    """3x3 convolution (padding 1, no bias) and batch norm (folded by the converter)."""
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout))


class BasicBlock(nn.Module):
    """conv-bn-relu-conv-bn, plus the identity shortcut, then ReLU after the add."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.a = conv_bn(c, c)
        self.relu_a = nn.ReLU()
        self.b = conv_bn(c, c)
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.b(self.relu_a(self.a(x))) + x)


class ResNetSmall(nn.Module):
    """stem conv (8, stride 2: 14x14) - 2 basic blocks - strided conv (16, 7x7) - 2x2
    average pooling (3x3) - GAP - linear."""

    def __init__(self, width: int = 8) -> None:
        super().__init__()
        self.stem = nn.Sequential(conv_bn(1, width, stride=2), nn.ReLU())
        self.blocks = nn.Sequential(BasicBlock(width), BasicBlock(width))
        self.down = nn.Sequential(conv_bn(width, 2 * width, stride=2), nn.ReLU())
        self.pool = nn.AvgPool2d(2)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(2 * width, 10)

    def forward(self, x):
        x = self.pool(self.down(self.blocks(self.stem(x))))
        return self.head(torch.flatten(self.gap(x), 1))


class ResNetDeep(nn.Module):
    """stem (8, stride 2: 14x14) - 2 blocks - strided conv (16, 7x7) - 2 blocks - strided
    conv (32, 4x4) - 2 blocks - GAP - linear: 16 weighted layers, 6 identity shortcuts."""

    def __init__(self, width: int = 8) -> None:
        super().__init__()
        w = width
        self.stem = nn.Sequential(conv_bn(1, w, stride=2), nn.ReLU())
        self.stage1 = nn.Sequential(BasicBlock(w), BasicBlock(w))
        self.down1 = nn.Sequential(conv_bn(w, 2 * w, stride=2), nn.ReLU())
        self.stage2 = nn.Sequential(BasicBlock(2 * w), BasicBlock(2 * w))
        self.down2 = nn.Sequential(conv_bn(2 * w, 4 * w, stride=2), nn.ReLU())
        self.stage3 = nn.Sequential(BasicBlock(4 * w), BasicBlock(4 * w))
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(4 * w, 10)

    def forward(self, x):
        x = self.stage1(self.stem(x))
        x = self.stage2(self.down1(x))
        x = self.stage3(self.down2(x))
        return self.head(torch.flatten(self.gap(x), 1))


ARCHS = {"small": ResNetSmall, "deep": ResNetDeep}


def train(arch: str, x, y, epochs: int, seed: int = 0, batch: int = 128) -> nn.Module:
    """Adam with a one-cycle schedule; returns the model in eval mode."""
    torch.manual_seed(seed)
    model = ARCHS[arch]()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    steps = epochs * ((len(x) + batch - 1) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 4e-3, total_steps=steps)
    xt, yt = torch.as_tensor(x), torch.as_tensor(y)
    for ep in range(epochs):
        model.train()
        t0 = time.perf_counter()
        for idx in torch.randperm(len(xt)).split(batch):
            opt.zero_grad()
            nn.functional.cross_entropy(model(xt[idx]), yt[idx]).backward()
            opt.step()
            sched.step()
        print(f"{arch}: epoch {ep + 1}/{epochs} in {time.perf_counter() - t0:.0f} s", flush=True)
    return model.eval()


@torch.no_grad()
def accuracy(model: nn.Module, x, y, batch: int = 1000) -> float:
    xt, yt = torch.as_tensor(x), torch.as_tensor(y)
    hits = sum(int((model(xt[i:i + batch]).argmax(1) == yt[i:i + batch]).sum())
               for i in range(0, len(xt), batch))
    return hits / len(xt)


def load_or_train(arch: str, weights: str | Path, train_set, epochs: int = 1) -> nn.Module:
    """The cached network at ``weights`` (a state_dict, read with weights_only=True), or a
    freshly trained one saved there."""
    model = ARCHS[arch]()
    path = Path(weights)
    if path.is_file():
        model.load_state_dict(torch.load(path, weights_only=True))
        return model.eval()
    model = train(arch, train_set.x, train_set.y, epochs)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)
    return model


def main() -> None:
    from ann2snn.data import load_dataset

    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", choices=sorted(ARCHS), default="small")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--weights", help="state_dict to write (default resnet_<arch>.pth)")
    ap.add_argument("--data-dir", help="folder with the MNIST IDX files (else $ANN2SNN_DATA)")
    args = ap.parse_args()
    train_set = load_dataset("mnist", "train", data_dir=args.data_dir)
    test = load_dataset("mnist", "test", data_dir=args.data_dir)
    t0 = time.perf_counter()
    model = train(args.arch, train_set.x, train_set.y, args.epochs)
    print(f"trained in {time.perf_counter() - t0:.0f} s; ANN test accuracy "
          f"{accuracy(model, test.x, test.y) * 100:.2f}% (10,000 images)")
    torch.save(model.state_dict(), args.weights or f"resnet_{args.arch}.pth")


if __name__ == "__main__":
    main()
