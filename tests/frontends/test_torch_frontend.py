"""torch.export frontend: every supported layer reproduces torch's output in the IR."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ann2snn.errors import ConversionError, ModelFileError, UnsupportedLayerError
from ann2snn.frontends import load_model
from ann2snn.frontends.torch import from_module
from ann2snn.ir import nodes as n
from ann2snn.sim.ops import ann_forward


class Fn(nn.Module):
    def __init__(self, fn, *mods):
        super().__init__()
        self.mods = nn.ModuleList(mods)
        self.fn = fn

    def forward(self, x):
        return self.fn(self, x)


LAYERS = {
    "linear": ((12,), lambda: nn.Sequential(nn.Linear(12, 5))),
    "conv1d": ((3, 10), lambda: nn.Sequential(nn.Conv1d(3, 4, 3, stride=2, padding=1))),
    "conv2d": ((3, 9, 9), lambda: nn.Sequential(nn.Conv2d(3, 4, 3, stride=2, padding=1,
                                                           dilation=2))),
    "conv2d-same": ((3, 9, 9), lambda: nn.Sequential(nn.Conv2d(3, 4, 3, padding="same"))),
    "depthwise": ((4, 8, 8), lambda: nn.Sequential(nn.Conv2d(4, 8, 3, groups=4))),
    "convtranspose": ((3, 5, 5), lambda: nn.Sequential(nn.ConvTranspose2d(3, 2, 3, stride=2,
                                                                          padding=1))),
    "bn2d": ((3, 5, 5), lambda: nn.Sequential(nn.BatchNorm2d(3))),
    "bn1d": ((6,), lambda: nn.Sequential(nn.BatchNorm1d(6))),
    "relu": ((6,), lambda: nn.Sequential(nn.ReLU())),
    "relu6": ((6,), lambda: nn.Sequential(nn.ReLU6())),
    "hardtanh0": ((6,), lambda: nn.Sequential(nn.Hardtanh(0.0, 2.0))),
    "avgpool1d": ((3, 10), lambda: nn.Sequential(nn.AvgPool1d(2))),
    "avgpool2d": ((3, 9, 9), lambda: nn.Sequential(nn.AvgPool2d(3, stride=2, padding=1))),
    "maxpool1d": ((3, 10), lambda: nn.Sequential(nn.MaxPool1d(2))),
    "maxpool2d": ((3, 9, 9), lambda: nn.Sequential(nn.MaxPool2d(3, stride=2, padding=1,
                                                                ceil_mode=True))),
    "gap": ((3, 4, 4), lambda: nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())),
    "adaptive2": ((3, 4, 4), lambda: nn.Sequential(nn.AdaptiveAvgPool2d(2))),
    "mean": ((3, 4, 4), lambda: Fn(lambda s, x: x.mean((2, 3)))),
    "flatten": ((3, 4, 4), lambda: nn.Sequential(nn.Flatten())),
    "view": ((3, 4, 4), lambda: Fn(lambda s, x: x.view(x.size(0), -1))),
    "reshape": ((12,), lambda: Fn(lambda s, x: x.reshape(-1, 3, 2, 2))),
    "dropout-identity": ((6,), lambda: nn.Sequential(nn.Dropout(0.5), nn.Identity())),
    "residual": ((3, 5, 5), lambda: Fn(lambda s, x: F.relu(s.mods[0](x) + x),
                                       nn.Conv2d(3, 3, 3, padding=1))),
    "cat": ((3, 5, 5), lambda: Fn(lambda s, x: torch.cat([s.mods[0](x), x], 1),
                                  nn.Conv2d(3, 2, 1))),
    "softmax": ((6,), lambda: nn.Sequential(nn.Linear(6, 4), nn.Softmax(dim=1))),
    "upsample": ((2, 3, 3), lambda: nn.Sequential(nn.Upsample(scale_factor=2))),
    "pad": ((2, 3, 3), lambda: nn.Sequential(nn.ZeroPad2d((1, 2, 0, 1)))),
    "permute": ((2, 3, 4), lambda: Fn(lambda s, x: x.permute(0, 2, 3, 1))),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_matches_torch(name, rng):
    shape, make = LAYERS[name]
    torch.manual_seed(0)
    model = make().eval()
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
    x = rng.normal(size=(4, *shape)).astype(np.float32)
    graph = from_module(model, torch.as_tensor(x))
    with torch.no_grad():
        ref = model(torch.as_tensor(x)).numpy()
    np.testing.assert_allclose(ann_forward(graph, x), ref, atol=1e-5, rtol=1e-5)


def test_names_come_from_the_module_tree():
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(2, 2, 3, padding=1)
            self.bn = nn.BatchNorm2d(2)

        def forward(self, x):
            return F.relu(self.bn(self.conv(x)) + x)

    model = nn.Sequential(Block(), Block()).eval()
    graph = from_module(model, torch.rand(2, 2, 4, 4))
    names = {x.name for x in graph}
    assert {"0.conv", "0.bn", "1.conv", "1.bn"} <= names
    assert len(graph.of_type(n.Add)) == 2


def test_all_unsupported_layers_are_listed_at_once():
    model = nn.Sequential(nn.Linear(4, 4), nn.GELU(), nn.Linear(4, 4), nn.Sigmoid(),
                          nn.Linear(4, 2), nn.Tanh()).eval()
    with pytest.raises(UnsupportedLayerError) as e:
        from_module(model, torch.rand(2, 4))
    msg = str(e.value)
    assert [name for name, _ in e.value.layers] == ["1", "3", "5"]
    assert "GELU" in msg and "Sigmoid" in msg and "Tanh" in msg
    assert "Supported:" in msg and "conv2d" in msg


def test_training_mode_batchnorm_is_exported_in_eval_mode():
    model = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4)).train()
    graph = from_module(model, torch.rand(3, 4))
    assert graph.of_type(n.BatchNorm)
    assert model.training  # the user's module is left as it was


def test_pt2_round_trip(tmp_path, rng):
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 16, 3))
    x = torch.as_tensor(rng.random((2, 1, 6, 6)), dtype=torch.float32)
    path = tmp_path / "m.pt2"
    torch.export.save(torch.export.export(model.eval(), (x,)), str(path))
    graph = load_model(path)
    np.testing.assert_allclose(ann_forward(graph, x.numpy()), model(x).detach().numpy(),
                               atol=1e-5)


@pytest.mark.parametrize("content", [b"", b"not a zip file at all", b"PK\x03\x04garbage"])
def test_corrupt_pt2_is_a_model_file_error(tmp_path, content):
    path = tmp_path / "bad.pt2"
    path.write_bytes(content)
    with pytest.raises(ModelFileError, match="bad.pt2"):
        load_model(path)


def test_truncated_pt2_is_a_model_file_error(tmp_path):
    model = nn.Sequential(nn.Linear(3, 2))
    path = tmp_path / "m.pt2"
    torch.export.save(torch.export.export(model, (torch.rand(2, 3),)), str(path))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError):
        load_model(path)


def test_untraceable_model_is_a_conversion_error():
    class DataDependent(nn.Module):
        def forward(self, x):
            if x.sum() > 0:
                return x
            return -x

    with pytest.raises(ConversionError, match="torch.export"):
        from_module(DataDependent(), torch.rand(2, 3))
