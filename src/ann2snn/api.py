"""The public Python API: convert a model, load a saved network, simulate a data set.

The pieces live where they belong: model import in :mod:`ann2snn.frontends`, the passes
in :mod:`ann2snn.passes`, the network in :mod:`ann2snn.network`, the data set loop in
:mod:`ann2snn.analysis.evaluate`. Options are enums; each accepts its string value too.
"""

from __future__ import annotations

import time

from .arrays import samples
from .errors import ConversionError
from .frontends import import_model
from .ir import Graph, ResetMode
from .ir.options import NormMethod, Readout, SoftmaxReadout, coerce
from .network import SNN, load
from .passes import (
    fold_batchnorm,
    max_to_avg,
    normalize,
    relu_before_maxpool,
    remove_identities,
    to_spiking,
)
from .results import SimulationResult

__all__ = ["convert", "load", "simulate", "import_model", "prepare_ann", "SNN"]


def prepare_ann(graph: Graph, max_to_avg_pool: bool = False) -> Graph:
    """The analog canonical form: identities removed, batch norm folded, pooling ordered."""
    graph = remove_identities(graph)
    graph = fold_batchnorm(graph)
    graph = relu_before_maxpool(graph)
    if max_to_avg_pool:
        graph = max_to_avg(graph)
    return graph


def convert(model, calibration_data, *, percentile: float = 99.9,
            method: NormMethod | str = NormMethod.PERCENTILE, per_channel: bool = True,
            max_to_avg_pool: bool = False, reset: ResetMode | str = ResetMode.SUBTRACT,
            v0: float = 0.5, softmax_readout: SoftmaxReadout | str = SoftmaxReadout.MEMBRANE,
            input_scale: float = 1.0, quantize=None,
            calibrate_timesteps: int | None = None,
            burst: int = 1,
            readout: Readout | str | None = None) -> SNN:
    """Convert a trained ReLU network into a spiking network.

    ``calibration_data`` (N, ...) — training images, never the test set — sets the
    per-layer scales: the ``percentile`` of each layer's non-zero activations, or their
    ``max``, per channel (default) or per layer. ``v0``: the initial membrane as a
    fraction of θ (0.5 by default: spike counts round instead of truncating). These
    defaults were chosen by measurement on residual networks (docs/low-latency.md);
    ``per_channel=False, v0=0`` is snntoolbox's INIsim. See docs/design.md for the
    semantics.
    ``quantize`` (a QuantSpec) returns the integer-mode network (docs/integer-mode.md).

    ``calibrate_timesteps`` T: training-free calibration for T steps on the same
    calibration data (v0 = 0.5, then biases and initial potentials corrected layer by
    layer; docs/low-latency.md). ``burst`` k > 1: hidden populations emit up to k spikes
    per step, their thresholds λ/k (docs/low-latency.md, "Burst spikes").
    ``readout`` (``"membrane"`` or ``"spike_count"``, any output layer): what the
    prediction is read from; ``None``: a softmax output follows ``softmax_readout``,
    any other output counts spikes (docs/low-latency.md, "Reading out the membrane").
    """
    from .lowlatency.burst import burst_populations, check_burst
    from .lowlatency.calibrate import calibrate, check_timesteps

    burst = check_burst(burst)
    if calibrate_timesteps is not None:
        check_timesteps(calibrate_timesteps)
    method = coerce(NormMethod, method, "normalization method")
    reset = coerce(ResetMode, reset, "reset")
    softmax_readout = coerce(SoftmaxReadout, softmax_readout, "softmax_readout")
    if readout is not None:
        readout = coerce(Readout, readout, "readout")
    calib = samples(calibration_data, "calibration data")
    graph = import_model(model, calib)
    if any(x.population for x in graph):
        raise ConversionError("the model is a spiking network already (a NIR file?): read it "
                              "with ann2snn.load(path), which needs no calibration data")
    if tuple(calib.shape[1:]) != tuple(graph.input_shape):
        raise ConversionError(f"calibration data has shape {calib.shape[1:]} per sample; the "
                              f"model expects {graph.input_shape}")
    t0 = time.perf_counter()
    ann = prepare_ann(graph, max_to_avg_pool)
    norm, _ = normalize(ann, calib, method=method, percentile=percentile,
                        per_channel=per_channel, input_scale=input_scale, burst=burst)
    snn = to_spiking(norm, reset=reset, v0=v0, softmax_readout=softmax_readout,
                     readout=readout)
    if burst > 1:
        snn = burst_populations(snn, burst)
    if calibrate_timesteps is not None:
        snn = calibrate(snn, norm, calib, calibrate_timesteps)
    snn.meta["conversion_time_s"] = time.perf_counter() - t0
    if quantize is not None:  # a QuantSpec: integer mode
        from .quantize import quantize as _quantize

        return _quantize(SNN(snn, norm), quantize, calib)
    return SNN(snn, norm)


def simulate(snn: SNN, data, labels=None, *, backend: str = "ann2snn",
             **options) -> SimulationResult:
    """Simulate ``data`` on ``snn`` with ``backend`` (the built-in simulator by default;
    ``ann2snn.backends.BACKENDS`` lists them); the options are those of
    :meth:`SNN.simulate`. The backend checks the network and options first."""
    from .backends import simulate as run_on
    from .validate import simulation_options

    simulation_options(options)  # positive counts, a device this machine has
    if labels is not None:
        options["labels"] = labels
    return run_on(snn, data, backend, **options)
