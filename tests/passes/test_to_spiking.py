"""The mapping onto IF populations: ReLU -> IF, MaxPool -> SpikingMaxPool, the output
population, and the readout of a softmax."""

from __future__ import annotations

import numpy as np
import pytest

from ann2snn.errors import ConfigError
from ann2snn.ir import Graph, Readout, ResetMode, SoftmaxReadout
from ann2snn.ir import nodes as n
from ann2snn.passes import to_spiking, with_neuron_params

f32 = np.float32


def ann(head: str) -> Graph:
    nodes = [n.Input("x", shape=(2, 4, 4)),
             n.Conv("c", ("x",), weight=np.ones((2, 2, 1, 1), f32), bias=None, stride=(1, 1),
                    padding=(0, 0), dilation=(1, 1)),
             n.ReLU("r", ("c",), max_value=0.5),
             n.MaxPool("mp", ("r",), kernel=(2, 2), stride=(2, 2), padding=(0, 0),
                       dilation=(1, 1), ceil_mode=False),
             n.Flatten("f", ("mp",)),
             n.Dense("fc", ("f",), weight=np.ones((3, 8), f32), bias=None)]
    if head == "relu":
        nodes.append(n.ReLU("out", ("fc",)))
    elif head == "softmax":
        nodes.append(n.Softmax("out", ("fc",)))
    return Graph(nodes, nodes[-1].name, {"source": "test"})


def test_relu_becomes_an_if_population_and_maxpool_a_spiking_max_pool():
    s = to_spiking(ann("relu"), reset=ResetMode.ZERO, v0=0.25)
    r = s["r"]
    assert type(r) is n.IF and r.inputs == ("c",)
    assert (r.threshold, r.reset, r.v0, r.membrane_readout) == (1.0, ResetMode.ZERO, 0.25, False)
    mp = s["mp"]
    assert type(mp) is n.SpikingMaxPool and (mp.kernel, mp.stride, mp.inputs) == \
        ((2, 2), (2, 2), ("r",))
    assert not s.of_type(n.ReLU, n.MaxPool)


def test_a_relu_output_is_the_output_population():
    s = to_spiking(ann("relu"))
    assert s.output == "out" and type(s["out"]) is n.IF
    assert s.meta["readout"] == "spike_count" and s.readout is Readout.SPIKE_COUNT
    assert s.meta["source"] == "test"


def test_an_output_that_is_not_a_relu_gets_a_population_added():
    s = to_spiking(ann("linear"))
    assert s.output == "fc.neurons"
    pop = s["fc.neurons"]
    assert type(pop) is n.IF and pop.inputs == ("fc",) and not pop.membrane_readout
    assert s.readout is Readout.SPIKE_COUNT


def test_a_softmax_becomes_a_membrane_readout_by_default():
    s = to_spiking(ann("softmax"))
    assert "out" not in s.nodes and not s.of_type(n.Softmax)
    assert s.output == "fc.neurons" and s["fc.neurons"].membrane_readout
    assert s.meta["readout"] == Readout.MEMBRANE.value == "membrane"
    assert s.readout is Readout.MEMBRANE


@pytest.mark.parametrize("how", [SoftmaxReadout.SPIKES, "spikes", "SPIKES"])
def test_a_softmax_can_become_a_spiking_population(how):
    s = to_spiking(ann("softmax"), softmax_readout=how)
    assert s.output == "fc.neurons" and not s["fc.neurons"].membrane_readout
    assert s.readout is Readout.SPIKE_COUNT


def test_a_bad_softmax_readout_is_a_config_error():
    with pytest.raises(ConfigError, match="softmax_readout must be one of 'membrane', "
                                          "'spikes', got 'argmax'"):
        to_spiking(ann("softmax"), softmax_readout="argmax")


def test_reset_as_a_string():
    assert to_spiking(ann("relu"), reset="zero")["r"].reset is ResetMode.ZERO


def test_with_neuron_params_changes_every_population_only():
    s = with_neuron_params(to_spiking(ann("linear")), leak=0.1, multi_spike=2)
    assert [(p.leak, p.multi_spike) for p in s.of_type(n.IF)] == [(0.1, 2), (0.1, 2)]
    assert s["mp"].inputs == ("r",)


@pytest.mark.parametrize("head", ["relu", "linear"])
def test_a_membrane_readout_for_an_output_without_softmax(head):
    s = to_spiking(ann(head), readout="membrane")
    out = s[s.output]
    assert type(out) is n.IF and out.membrane_readout
    assert [p.name for p in s.of_type(n.IF) if p.membrane_readout] == [s.output]
    assert s.readout is Readout.MEMBRANE and s.meta["readout"] == "membrane"


def test_a_spike_count_readout_overrides_the_softmax_membrane():
    s = to_spiking(ann("softmax"), readout=Readout.SPIKE_COUNT)
    assert s.output == "fc.neurons" and not s["fc.neurons"].membrane_readout
    assert s.readout is Readout.SPIKE_COUNT


def test_a_bad_readout_is_a_config_error():
    with pytest.raises(ConfigError, match="readout must be one of 'spike_count', "
                                          "'membrane', got 'argmax'"):
        to_spiking(ann("relu"), readout="argmax")
