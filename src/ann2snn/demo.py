"""The embedded default job: a small CNN on scikit-learn's bundled 8x8 digits."""

from __future__ import annotations

import logging

import numpy as np
import torch
from torch import nn

log = logging.getLogger(__name__)


class DigitsCNN(nn.Module):
    """Conv-BN-ReLU-MaxPool, Conv-ReLU-AvgPool, Linear: every common layer, in seconds."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(16)
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.pool2 = nn.AvgPool2d(2)
        self.drop = nn.Dropout(0.1)
        self.fc = nn.Linear(32 * 2 * 2, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool1(torch.relu(self.bn1(self.conv1(x))))
        x = self.pool2(torch.relu(self.conv2(x)))
        return self.fc(self.drop(torch.flatten(x, 1)))


def train_digits_cnn(x: np.ndarray, y: np.ndarray, epochs: int = 40, seed: int = 0,
                     progress: bool = False) -> nn.Module:
    """Train :class:`DigitsCNN` with Adam; deterministic for a given seed. ``progress``
    draws a bar over the epochs with the last epoch's mean loss and training accuracy."""
    from tqdm.auto import tqdm

    from .validate import positive_int

    epochs = positive_int(epochs, "epochs")
    torch.manual_seed(seed)
    model = DigitsCNN()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    xt, yt = torch.as_tensor(x), torch.as_tensor(y)
    gen = torch.Generator().manual_seed(seed)
    bar = tqdm(range(epochs), disable=not progress, unit="epoch", desc="training",
               leave=False)
    for _ in bar:
        model.train()
        loss_sum, correct = 0.0, 0
        for idx in torch.randperm(len(xt), generator=gen).split(64):
            opt.zero_grad()
            out = model(xt[idx])
            loss = nn.functional.cross_entropy(out, yt[idx])
            loss.backward()
            opt.step()
            loss_sum += loss.item() * len(idx)
            correct += int((out.argmax(1) == yt[idx]).sum())
        sched.step()
        bar.set_postfix(loss=f"{loss_sum / len(xt):.3f}", acc=f"{correct / len(xt):.1%}")
    bar.close()
    return model.eval()
