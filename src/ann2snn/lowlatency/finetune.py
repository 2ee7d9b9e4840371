"""The QCFS fine-tuning loop: a ReLU network becomes a QCFS network trained on the
training split (docs/low-latency.md, "QCFS fine-tuning").

A held-out part of the TRAINING split (``val_fraction``, a fixed permutation by
``seed``) is the validation set: the test split is never read. Every epoch reports its
loss, training and validation accuracy; the best epoch's weights are kept
(``on_best``, e.g. to write the model file); a checkpoint after every epoch makes the
run resumable (``resume=True``). Checkpoints are written atomically (files.py) and read
with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError
from ..files import atomic_path
from ..validate import positive_int
from .qcfs import qcfs

log = logging.getLogger(__name__)

__all__ = ["finetune", "FinetuneResult", "OPTIMIZERS"]

OPTIMIZERS = ("adam", "sgd")
_INIT_SAMPLES = 1000  # training images that set the initial λ


@dataclass
class FinetuneResult:
    """The fine-tuned QCFS model (the best epoch's weights) and the per-epoch record."""

    model: nn.Module
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    best_val_accuracy: float = 0.0


def split_train_val(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, validation) of a training split of ``n`` samples."""
    if not 0 < val_fraction < 1:
        raise ConfigError(f"val_fraction must be between 0 and 1 (exclusive), got {val_fraction}")
    perm = np.random.default_rng(seed).permutation(n)
    n_val = max(1, int(round(n * val_fraction)))
    if n_val >= n:
        raise ConfigError(f"{n} training samples are too few to hold out a validation part")
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 512) -> float:
    set_training(model, False)
    correct = sum(int((model(x[i:i + batch_size]).argmax(1) == y[i:i + batch_size]).sum())
                  for i in range(0, len(x), batch_size))
    return correct / max(1, len(x))


def set_training(model: nn.Module, mode: bool) -> None:
    """train()/eval(), where the module allows it (a torch.export module does not)."""
    try:
        model.train(mode)
    except (NotImplementedError, RuntimeError):  # a torch.export module keeps its mode
        pass


def _config(**kw) -> dict:
    return {k: (float(v) if isinstance(v, float) else v) for k, v in kw.items()}


def finetune(model: nn.Module, x: np.ndarray, y: np.ndarray, *, levels: int = 4,
             epochs: int = 5, per_channel: bool = False, optimizer: str = "adam",
             lr: float | None = None, batch_size: int = 128, val_fraction: float = 0.1,
             seed: int = 0, checkpoint: str | Path | None = None, resume: bool = False,
             progress: bool = False,
             on_epoch: Callable[[dict], None] | None = None,
             on_best: Callable[[nn.Module, dict], None] | None = None) -> FinetuneResult:
    """Replace ``model``'s ReLUs by QCFS (``levels`` steps, :func:`~.qcfs.qcfs`) and
    train it with cross-entropy on the training data ``x, y`` for ``epochs`` epochs.

    ``optimizer``: ``"adam"`` (default lr 1e-3) or ``"sgd"`` (momentum 0.9, default lr
    0.01), cosine learning-rate decay over the epochs. ``checkpoint``: a file written
    after every epoch; ``resume=True`` continues from it (same settings required).
    ``on_epoch(record)`` is called after each epoch, ``on_best(model, record)`` when the
    validation accuracy improves."""
    levels = positive_int(levels, "levels")
    epochs = positive_int(epochs, "epochs")
    batch_size = positive_int(batch_size, "batch_size")
    if optimizer not in OPTIMIZERS:
        raise ConfigError(f"optimizer {optimizer!r}: use one of {', '.join(OPTIMIZERS)}")
    lr = (1e-3 if optimizer == "adam" else 1e-2) if lr is None else float(lr)
    if not lr > 0:
        raise ConfigError(f"learning rate must be > 0, got {lr}")
    if resume and (checkpoint is None or not Path(checkpoint).is_file()):
        raise ConfigError(f"--resume: no checkpoint {checkpoint} to resume from")
    cfg = _config(levels=levels, per_channel=per_channel, optimizer=optimizer, lr=lr,
                  batch_size=batch_size, val_fraction=val_fraction, seed=seed,
                  num_samples=int(len(x)))
    tr, va = split_train_val(len(x), val_fraction, seed)
    xt, yt = torch.as_tensor(x[tr], dtype=torch.float32), torch.as_tensor(y[tr])
    xv, yv = torch.as_tensor(x[va], dtype=torch.float32), torch.as_tensor(y[va])
    init = xt[torch.randperm(len(xt), generator=torch.Generator().manual_seed(seed))
              [:_INIT_SAMPLES]]
    torch.manual_seed(seed)
    net = qcfs(model, levels, per_channel, sample=init.numpy())
    opt = (torch.optim.Adam(net.parameters(), lr=lr) if optimizer == "adam"
           else torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    res = FinetuneResult(net)
    best_state, start = None, 0
    if resume:
        ck = _load_checkpoint(Path(checkpoint), cfg, epochs)
        net.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        sched.load_state_dict(ck["scheduler"])
        best_state, start = ck["best_model"], int(ck["epoch"])
        res.history, res.best_epoch = list(ck["history"]), int(ck["best_epoch"])
        res.best_val_accuracy = float(ck["best_val_accuracy"])
        log.info("resuming from %s after epoch %d", checkpoint, start)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(start):  # the same batch order as an uninterrupted run
        torch.randperm(len(xt), generator=gen)
    from tqdm.auto import tqdm

    for epoch in range(start + 1, epochs + 1):
        t0 = time.perf_counter()
        set_training(net, True)
        loss_sum, correct = 0.0, 0
        order = torch.randperm(len(xt), generator=gen).split(batch_size)
        bar = tqdm(order, disable=not progress, unit="batch", leave=False,
                   desc=f"epoch {epoch}/{epochs}")
        for idx in bar:
            opt.zero_grad()
            out = net(xt[idx])
            loss = nn.functional.cross_entropy(out, yt[idx])
            loss.backward()
            opt.step()
            loss_sum += loss.item() * len(idx)
            correct += int((out.argmax(1) == yt[idx]).sum())
            bar.set_postfix(loss=f"{loss.item():.3f}")
        bar.close()
        sched.step()
        rec = {"epoch": epoch, "loss": loss_sum / len(xt), "train_accuracy": correct / len(xt),
               "val_accuracy": accuracy(net, xv, yv), "seconds": time.perf_counter() - t0,
               "lam": {k: v.detach().tolist() for k, v in net.named_parameters()
                       if k.endswith("lam")}}
        res.history.append(rec)
        improved = best_state is None or rec["val_accuracy"] > res.best_val_accuracy
        if improved:
            best_state = copy.deepcopy(net.state_dict())
            res.best_epoch, res.best_val_accuracy = epoch, rec["val_accuracy"]
            if on_best is not None:
                on_best(net, rec)
        if checkpoint is not None:
            _save_checkpoint(Path(checkpoint), {
                "config": cfg, "epoch": epoch, "model": net.state_dict(),
                "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                "best_model": best_state, "best_epoch": res.best_epoch,
                "best_val_accuracy": res.best_val_accuracy, "history": res.history})
        if on_epoch is not None:
            on_epoch(rec)
    if best_state is not None:
        net.load_state_dict(best_state)
    set_training(net, False)
    return res


def _save_checkpoint(path: Path, state: dict) -> None:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def _load_checkpoint(path: Path, cfg: dict, epochs: int) -> dict:
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated, not a torch file, pickle refused
        raise ConfigError(f"{path} is not a readable fine-tuning checkpoint: "
                          f"{type(e).__name__}") from None
    if not isinstance(ck, dict) or "config" not in ck:
        raise ConfigError(f"{path} is not a fine-tuning checkpoint of ann2snn finetune")
    diff = {k: (ck["config"].get(k), v) for k, v in cfg.items() if ck["config"].get(k) != v}
    if diff:
        raise ConfigError(f"{path} was written with other settings; resume with the same "
                          "ones: " + ", ".join(f"{k} {a!r} (now {b!r})"
                                               for k, (a, b) in diff.items()))
    if int(ck["epoch"]) >= epochs:
        raise ConfigError(f"{path} has finished {ck['epoch']} epochs already; ask for more "
                          f"with --epochs (> {ck['epoch']})")
    return ck
