"""Batch-norm folding leaves the ANN's outputs unchanged (float32, atol 1e-5)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from ann2snn.api import prepare_ann
from ann2snn.frontends.torch import from_module
from ann2snn.ir import nodes as n
from ann2snn.sim.ops import ann_forward


def randomize_bn(model: nn.Module, seed: int = 0) -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            c = m.num_features
            m.running_mean.copy_(torch.randn(c, generator=g))
            m.running_var.copy_(torch.rand(c, generator=g) + 0.5)
            m.weight.data.copy_(torch.randn(c, generator=g))
            m.bias.data.copy_(torch.randn(c, generator=g))
    return model.eval()


CASES = {
    "conv-bn-relu": lambda: nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4),
                                          nn.ReLU(), nn.Flatten(), nn.Linear(4 * 36, 3)),
    "relu-bn-paddedconv": lambda: nn.Sequential(
        nn.Conv2d(2, 4, 3), nn.ReLU(), nn.BatchNorm2d(4), nn.Conv2d(4, 5, 3, padding=1),
        nn.ReLU(), nn.Flatten(), nn.Linear(5 * 16, 3)),
    "relu-bn-maxpool-conv": lambda: nn.Sequential(
        nn.Conv2d(2, 4, 3), nn.ReLU(), nn.BatchNorm2d(4), nn.AvgPool2d(2),
        nn.Conv2d(4, 5, 1), nn.ReLU(), nn.Flatten(), nn.Linear(5 * 4, 3)),
    "relu-bn-flatten-linear": lambda: nn.Sequential(
        nn.Conv2d(2, 4, 3), nn.ReLU(), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4 * 16, 3)),
    "grouped-conv-bn": lambda: nn.Sequential(
        nn.Conv2d(2, 4, 3), nn.ReLU(), nn.BatchNorm2d(4), nn.Conv2d(4, 4, 3, padding=2,
                                                                    groups=2, dilation=2),
        nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 16, 3)),
    "linear-bn1d": lambda: nn.Sequential(nn.Flatten(), nn.Linear(72, 8), nn.BatchNorm1d(8),
                                         nn.ReLU(), nn.Linear(8, 3)),
    "input-bn": lambda: nn.Sequential(nn.BatchNorm2d(2), nn.Conv2d(2, 3, 3, padding=1),
                                      nn.ReLU(), nn.Flatten(), nn.Linear(3 * 36, 3)),
    "conv1d-bn": lambda: nn.Sequential(nn.Flatten(2), nn.Conv1d(2, 4, 3, padding=1),
                                       nn.BatchNorm1d(4), nn.ReLU(), nn.Flatten(),
                                       nn.Linear(4 * 36, 3)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_folding_preserves_outputs(case, rng):
    torch.manual_seed(0)
    model = randomize_bn(CASES[case]())
    x = rng.random((8, 2, 6, 6)).astype(np.float32)
    graph = from_module(model, torch.as_tensor(x))
    folded = prepare_ann(graph)
    assert not folded.of_type(n.BatchNorm)
    with torch.no_grad():
        ref = model(torch.as_tensor(x)).numpy()
    np.testing.assert_allclose(ann_forward(folded, x), ref, atol=1e-5, rtol=1e-5)


def test_padded_conv_after_bn_gets_exact_bias_map(rng):
    torch.manual_seed(1)
    model = randomize_bn(CASES["relu-bn-paddedconv"]())
    x = rng.random((2, 2, 6, 6)).astype(np.float32)
    folded = prepare_ann(from_module(model, torch.as_tensor(x)))
    conv = [c for c in folded.of_type(n.Conv) if c.padding == (1, 1)][0]
    assert conv.bias.shape == (5, 4, 4)  # border outputs see fewer shifted inputs


def test_unfoldable_batchnorm_is_a_clear_error():
    from ann2snn.errors import ConversionError

    model = randomize_bn(nn.Sequential(nn.Conv2d(2, 3, 3), nn.ReLU(), nn.BatchNorm2d(3)))
    graph = from_module(model, torch.rand(2, 2, 6, 6))
    with pytest.raises(ConversionError, match="BatchNorm '2' cannot be folded"):
        prepare_ann(graph)
