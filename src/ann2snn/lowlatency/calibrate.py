"""Training-free calibration for a target number of steps T (docs/low-latency.md,
"Training-free calibration"): a variant of the "light calibration" of Li et al., "A Free
Lunch From ANN: Towards Efficient, Accurate Spiking Neural Networks Calibration", ICML
2021.

1. Shift: every spiking population starts at v0 = θ/2 (rounding instead of flooring).
2. Per population l, in topological order (earlier ones already calibrated), on the
   calibration data (training images):

   - bias correction: simulate the SNN for T steps, compare its firing rates r_l =
     spikes/T with the normalized ANN's activations a_l clipped to [0, k] (k the spikes
     a neuron may emit per step: 1, or the burst), and add the mean error
     E[a_l − r_l] of every channel (over samples and positions) to the bias of the layer
     that drives l. The bias is added every step, so the rate moves by that amount.
   - potential correction: simulate again and add T·E[a_l − r_l] over the whole layer
     to its initial potential, clipped to [0, 1]·θ. The IR keeps one v0 per population
     (``IF.v0`` is a scalar, as in the simulators and C), so this is a per-layer
     correction where Li et al. correct per neuron; the per-channel part is in the bias.

   A membrane-readout output is corrected in its bias only: its value is the mean
   current v(T)/T, compared with the ANN's (unclipped) output.

Nothing else is read: only ``data``, the calibration images convert() was given (from
the training split; ``convert`` documents it). A population whose current comes from no
weighted layer of its own (no bias to correct) keeps the shift alone, and the report
in ``meta["calibration"]`` says so.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import torch

from ..errors import ConversionError
from ..ir import Graph
from ..ir import nodes as n
from ..sim.ops import AnnModel
from ..sim.simulator import SpikingNetwork

log = logging.getLogger(__name__)

SHIFT = 0.5  #: the initial potential v0 of the shift, in units of θ


def check_timesteps(timesteps) -> int:
    """``timesteps`` as an int >= 1, or a ConversionError naming the option."""
    if isinstance(timesteps, bool) or not isinstance(timesteps, int) or timesteps < 1:
        raise ConversionError(f"calibrate_timesteps must be a whole number of steps >= 1 (the "
                              f"T the network is calibrated for), got {timesteps!r}")
    return timesteps


def calibrate(snn: Graph, ann: Graph, data: np.ndarray, timesteps: int,
              batch_size: int = 256) -> Graph:
    """Return ``snn`` calibrated for ``timesteps`` steps on ``data`` (calibration images,
    from the training split), with ``ann`` the normalized ANN it was converted from.

    Float graphs only (quantize after calibrating). ``meta["calibration"]`` records T,
    the samples used and, per population, the mean bias change and the final v0.
    """
    timesteps = check_timesteps(timesteps)
    if snn.quant is not None:
        raise ConversionError("calibrate a float network, then quantize it (integer mode)")
    data = np.asarray(data, dtype=np.float32)
    pops = [x.name for x in snn if x.population]
    g = snn.replace([dataclasses.replace(x, v0=SHIFT)
                     if x.population and not x.membrane_readout else x for x in snn])
    layers: dict[str, dict] = {}
    for name in pops:
        carrier = _bias_node(g, g[name])
        if carrier is None:
            layers[name] = {"v0": g[name].v0, "bias": "not corrected: no weighted layer of "
                            "its own drives it"}
            log.info("calibration: '%s' has no bias of its own; shift only", name)
            continue
        err = _channel_error(g, ann, data, name, timesteps, batch_size)
        g = _swap(g, _add_bias(g[carrier], err))
        entry = {"bias_layer": carrier, "bias_change_mean": float(err.mean()),
                 "bias_change_max_abs": float(np.abs(err).max(initial=0.0))}
        if not g[name].membrane_readout:
            resid = float(_channel_error(g, ann, data, name, timesteps, batch_size,
                                         weights=True).sum())
            v0 = float(np.clip(g[name].v0 + timesteps * resid, 0.0, 1.0))
            g = _swap(g, dataclasses.replace(g[name], v0=v0))
            entry["v0"] = v0
        layers[name] = entry
    meta = dict(g.meta)
    meta["calibration"] = {"method": "light calibration (Li et al. 2021): shift v0 = 0.5, "
                           "bias per channel, v0 per layer", "timesteps": timesteps,
                           "num_samples": int(len(data)), "layers": layers}
    return Graph(list(g), g.output, meta)


def _upto(g: Graph, name: str) -> Graph:
    """The part of ``g`` that computes ``name``, with ``name`` its output (less to run)."""
    need = {name}
    for x in reversed(list(g)):
        if x.name in need:
            need.update(x.inputs)
    return Graph([x for x in g if x.name in need], name, g.meta)


def _swap(g: Graph, node: n.Node) -> Graph:
    """``g`` with its node of ``node``'s name replaced by ``node``."""
    return g.replace([node if x.name == node.name else x for x in g])


def _bias_node(g: Graph, pop: n.Node) -> str | None:
    """The weighted layer whose bias drives ``pop``'s current alone: its input, or one
    weighted input of the Add in front of it; None where there is none."""
    src = g[pop.inputs[0]]
    cands = [src] if src.weighted else [g[i] for i in src.inputs] if isinstance(src, n.Add) \
        else []
    for c in cands:
        if c.weighted and len(g.consumers(c.name)) == 1:
            return c.name
    return None


def _add_bias(node: n.Node, delta: np.ndarray) -> n.Node:
    """``node`` with ``delta`` (one value per output channel) added to its bias."""
    bias = node.bias if node.bias is not None else np.zeros(len(delta), np.float32)
    new = (bias.astype(np.float64) + np.broadcast_to(delta, bias.shape)).astype(bias.dtype)
    return dataclasses.replace(node, bias=new)


@torch.no_grad()
def _channel_error(g: Graph, ann: Graph, data: np.ndarray, name: str, timesteps: int,
                   batch_size: int, weights: bool = False) -> np.ndarray:
    """E[a − r] per channel of population ``name`` over ``data`` (``weights``: each
    channel's mean times its share of the layer's elements, so the sum is the layer mean).
    """
    pop = g[name]
    target = name if name in ann.nodes else pop.inputs[0]
    net, model = SpikingNetwork(_upto(g, name)), AnnModel(_upto(ann, target))
    upper = float(pop.multi_spike)
    total, count = None, 0
    for i in range(0, len(data), batch_size):
        xb = torch.as_tensor(data[i:i + batch_size])
        out = net.run_batch(xb, timesteps, count_ops=False)
        if pop.membrane_readout:
            rate = out.readout.double() / timesteps - pop.v0 * pop.threshold / timesteps
            a = model(xb, {target})[1][target].double()
        else:
            rate = out.counts[name].double() / timesteps
            a = model(xb, {target})[1][target].double().clamp(0.0, upper)
        e = (a - rate).reshape(len(xb), a.shape[1] if a.dim() > 1 else 1, -1)
        s = e.sum(dim=(0, 2))
        total = s if total is None else total + s
        count += e.shape[0] * e.shape[2]
    mean = (total / count).numpy()
    if weights:
        return mean / len(mean)
    return mean
