"""torch.onnx.export round trips (legacy TorchScript and dynamo exporters): IR == torch."""

from __future__ import annotations

import contextlib
import io
import logging
import warnings

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

pytest.importorskip("onnx")

from ann2snn.frontends import load_model  # noqa: E402
from ann2snn.ir import nodes as n  # noqa: E402
from ann2snn.sim.ops import ann_forward  # noqa: E402


class LeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1, self.b1 = nn.Conv2d(1, 6, 5, padding=2), nn.BatchNorm2d(6)
        self.c2, self.b2 = nn.Conv2d(6, 16, 5), nn.BatchNorm2d(16)
        self.f1, self.bf = nn.Linear(16 * 5 * 5, 32), nn.BatchNorm1d(32)
        self.f2 = nn.Linear(32, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.b1(self.c1(x))), 2)
        x = F.max_pool2d(F.relu(self.b2(self.c2(x))), 2)
        x = F.relu(self.bf(self.f1(torch.flatten(x, 1))))
        return self.f2(x)


class BasicBlockNet(nn.Module):
    """A stem and one ResNet basic block (residual add), global average pooling, a head."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.c1, self.b1 = nn.Conv2d(8, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8)
        self.c2, self.b2 = nn.Conv2d(8, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        x = F.relu(self.stem(x))
        y = self.b2(self.c2(F.relu(self.b1(self.c1(x)))))
        x = F.relu(x + y)
        return self.fc(self.pool(x).view(x.size(0), -1))


class CatNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(2, 3, 3, padding=1)
        self.b = nn.Conv2d(2, 4, 1)
        self.fc = nn.Linear(7 * 6 * 6, 5)

    def forward(self, x):
        y = torch.cat([F.relu(self.a(x)), F.relu(self.b(x))], dim=1)
        return self.fc(y.reshape(y.shape[0], -1))


class MiscNet(nn.Module):
    """Upsampling, transposed conv, ReLU6, average pooling, dropout and a softmax."""

    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(2, 4, 3, stride=2, padding=1)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.t = nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1, output_padding=1)
        self.pool = nn.AvgPool2d(2)
        self.drop = nn.Dropout(0.3)
        self.fc = nn.Linear(3 * 8 * 8, 6)

    def forward(self, x):
        x = self.pool(F.relu6(self.t(self.up(F.relu(self.c(x))))))
        return torch.softmax(self.fc(self.drop(torch.flatten(x, 1))), dim=-1)


MODELS = {"lenet": (LeNet, (1, 28, 28)), "basic_block": (BasicBlockNet, (3, 8, 8)),
          "cat": (CatNet, (2, 6, 6)), "misc": (MiscNet, (2, 8, 8))}


def _randomize_bn(model: nn.Module) -> None:
    """Non-trivial running statistics, so that folded batch norms are really checked."""
    gen = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.2)
            m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=gen) * 0.1)


def _export(name: str, tmp_path, dynamo: bool, dynamic_batch: bool, opset: int | None = None):
    torch.manual_seed(0)
    cls, shape = MODELS[name]
    model = cls()
    _randomize_bn(model)
    model.eval()
    sample = torch.randn(2, *shape)
    path = tmp_path / f"{name}.onnx"
    kwargs: dict = {"input_names": ["x"], "dynamo": dynamo}
    if opset is not None:
        kwargs["opset_version"] = opset
    if dynamic_batch:
        if dynamo:
            kwargs["dynamic_shapes"] = {"x": {0: torch.export.Dim("batch", min=1, max=64)}}
        else:
            kwargs["dynamic_axes"] = {"x": {0: "batch"}}
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        logging.getLogger("torch.onnx").setLevel(logging.ERROR)
        torch.onnx.export(model, (sample,), str(path), **kwargs)
    return model, shape, path


def _roundtrip(name, tmp_path, dynamo, dynamic_batch, opset=None):
    model, shape, path = _export(name, tmp_path, dynamo, dynamic_batch, opset)
    graph = load_model(path)
    assert graph.input_shape == shape
    x = torch.randn(2, *shape)  # exports with a static batch accept only that batch size
    with torch.no_grad():
        ref = model(x).numpy()
    np.testing.assert_allclose(ann_forward(graph, x.numpy()), ref, atol=1e-5, rtol=1e-4)
    return graph


@pytest.mark.parametrize("dynamic_batch,opset", [(True, None), (False, None), (True, 11)])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_legacy_exporter(name, tmp_path, dynamic_batch, opset):
    graph = _roundtrip(name, tmp_path, False, dynamic_batch, opset)
    if name == "basic_block":
        assert graph.of_type(n.Add) and graph.of_type(n.GlobalAvgPool)
    if name == "cat":
        assert graph.of_type(n.Concat)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_dynamo_exporter(name, tmp_path):
    pytest.importorskip("onnxscript")
    graph = _roundtrip(name, tmp_path, True, dynamic_batch=name != "misc")
    if name == "lenet":
        assert graph.of_type(n.MaxPool)
    if name == "basic_block":
        assert graph.of_type(n.Add) and graph.of_type(n.GlobalAvgPool)
