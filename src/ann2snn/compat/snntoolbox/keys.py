"""Every key of an SNN Toolbox (snntoolbox 0.6.0) INI config, its default and its fate.

The defaults are those of snntoolbox 0.6.0 (its ``config_defaults`` file). Each key is
one of three kinds:

- ``MAPPED``: translated into the :class:`~ann2snn.config.RunConfig` by
  :mod:`ann2snn.compat.snntoolbox`, which also checks the values that ann2snn cannot honour;
- ``IGNORED``: has no effect on INIsim's results (it is read only by another simulator,
  another spike code, the GUI, or the plotting code) or ann2snn does the equivalent
  by itself. A value other than the default is named in one warning;
- ``UNSUPPORTED``: a value other than the default would change the results and ann2snn
  has no equivalent; it is an error whose message says what to do instead.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any

MAPPED, IGNORED, UNSUPPORTED = "mapped", "ignored", "unsupported"


@dataclass(frozen=True)
class Key:
    """One config key: how to read it, its snntoolbox default, and what ann2snn does."""

    type: str  #: "str", "bool", "int", "float" or "literal" (a Python literal)
    default: Any
    kind: str = MAPPED
    note: str = ""  #: why it is ignored, or what to use instead


_AEDAT = "only used with dataset_format = aedat (DVS input)"
_PYNN = "only used by the pyNN, Brian2 and Loihi simulators; INIsim does not read it"
_PLOTS = "ann2snn writes metrics.json and its own plots into the run folder instead"
_MODELS = ("ann2snn keeps no intermediate Keras models on disk; the converted network is "
           "saved as net.snn in the run folder")

SECTIONS: dict[str, dict[str, Key]] = {
    "paths": {
        "path_wd": Key("str", ""),
        "dataset_path": Key("str", ""),
        "log_dir_of_current_run": Key("str", ""),
        "runlabel": Key("str", "test"),
        "filename_ann": Key("str", ""),
        "filename_parsed_model": Key("str", "", IGNORED, _MODELS),
        "filename_snn": Key("str", "", IGNORED, _MODELS),
        "filename_clamp_indices": Key(
            "str", "", UNSUPPORTED, "membrane clamping is not implemented; remove the key"),
        "filepath_custom_objects": Key(
            "str", "", UNSUPPORTED, "custom Keras objects are never loaded (no code from a "
            "model file runs); replace custom layers and activations by built-in ones"),
        "class_idx_path": Key(
            "str", "", UNSUPPORTED, "classes are numbered by sorted folder name; rename the "
            "class folders so that their sorted order gives the class indices"),
    },
    "input": {
        "model_lib": Key("str", "keras"),
        "dataset_format": Key("str", "npz"),
        "datagen_kwargs": Key("literal", {}),
        "dataflow_kwargs": Key("literal", {}),
        "poisson_input": Key("bool", False),
        "input_rate": Key("float", 1000.0),
        "num_poisson_events_per_sample": Key(
            "int", -1, UNSUPPORTED, "the number of input spikes is never capped; remove the "
            "key (or set -1)"),
        "num_dvs_events_per_sample": Key("int", 2000, IGNORED, _AEDAT),
        "eventframe_width": Key("int", 10, IGNORED, _AEDAT),
        "label_dict": Key("literal", {}, IGNORED, _AEDAT),
        "chip_size": Key("literal", None, IGNORED, _AEDAT),
        "frame_gen_method": Key("str", "", IGNORED, _AEDAT),
        "is_x_first": Key("str", "", IGNORED, _AEDAT),
        "is_x_flipped": Key("str", "", IGNORED, _AEDAT),
        "is_y_flipped": Key("str", "", IGNORED, _AEDAT),
        "maxpool_subsampling": Key("bool", True, IGNORED, _AEDAT),
        "do_clip_three_sigma": Key("bool", True, IGNORED, _AEDAT),
        "keras_dataset": Key(
            "str", "", UNSUPPORTED, "save the data set as npz files (x_test.npz, y_test.npz, "
            "x_norm.npz) and set dataset_format = npz"),
        "max_num_input_spikes": Key(
            "str", "", UNSUPPORTED, "the simulation always runs for the full duration; "
            "remove the key"),
    },
    "tools": {
        "evaluate_ann": Key("bool", True),
        "parse": Key("bool", True, IGNORED, "ann2snn always reads filename_ann itself and "
                     "keeps no parsed model on disk"),
        "normalize": Key(
            "bool", True, UNSUPPORTED, "ann2snn always normalizes on the calibration data "
            "(x_norm.npz); simulating unnormalized weights is not offered. Remove the key"),
        "convert": Key("bool", True),
        "simulate": Key("bool", True),
        "serialise_only": Key("bool", False, IGNORED, "ann2snn has no serialise-only mode"),
    },
    "normalization": {
        "percentile": Key("float", 99.9),
        "normalization_schedule": Key(
            "bool", False, UNSUPPORTED, "per-layer percentile schedules are not implemented; "
            "remove the key (note that snntoolbox truncates the scheduled percentile to an "
            "integer: 99.9 becomes 99)"),
        "online_normalization": Key(
            "bool", False, UNSUPPORTED, "online threshold adaptation is not implemented; "
            "remove the key"),
        "diff_to_max_rate": Key("float", 200.0, IGNORED, "not read by INIsim"),
        "diff_to_min_rate": Key("float", 100.0, IGNORED, "not read by INIsim"),
        "timestep_fraction": Key("int", 10, IGNORED, "not read by INIsim"),
        "num_samples": Key("int", None),  # read with a fallback, for jpg data
    },
    "conversion": {
        "softmax_to_relu": Key("bool", False),
        "maxpool_type": Key(
            "str", "fir_max", IGNORED, "INIsim's TensorFlow backend always gates max pooling "
            "by the largest spike count so far (fir_max); only its Theano backend reads it"),
        "max2avg_pool": Key("bool", False),
        "spike_code": Key("str", "temporal_mean_rate"),
        "num_bits": Key("int", 32, IGNORED, "only used with spike_code = temporal_pattern"),
        "append_softmax": Key(
            "bool", False, UNSUPPORTED, "a softmax is never appended; add it to the model "
            "itself (ann2snn reads a softmax output through the membrane potential)"),
    },
    "simulation": {
        "simulator": Key("str", "INI"),
        "duration": Key("int", 200),
        "dt": Key("float", 1.0),
        "batch_size": Key("int", 1),
        "num_to_test": Key("int", 1),
        "sample_idxs_to_test": Key("literal", []),
        "reset_between_nth_sample": Key(
            "int", 1, UNSUPPORTED, "every sample starts from reset neurons; remove the key"),
        "top_k": Key("int", 1),
        "keras_backend": Key("str", "tensorflow"),
        "early_stopping": Key(
            "bool", False, UNSUPPORTED, "the simulation always runs for the full duration; "
            "remove the key"),
    },
    "spinnaker": {
        "number_of_neurons_per_core": Key("int", 64, IGNORED, "only used by SpiNNaker"),
    },
    "cell": {
        "v_thresh": Key("float", 1.0),
        "tau_refrac": Key("float", 0.0),
        "v_reset": Key("float", 0.0, IGNORED, _PYNN),
        "v_rest": Key("float", 0.0, IGNORED, _PYNN),
        "cm": Key("float", 1.0, IGNORED, _PYNN),
        "tau_m": Key("float", 1000.0, IGNORED, _PYNN),
        "tau_syn_E": Key("float", 0.01, IGNORED, _PYNN),
        "tau_syn_I": Key("float", 0.01, IGNORED, _PYNN),
        "delay": Key("float", 0.0, IGNORED, _PYNN),
        "binarize_weights": Key(
            "bool", False, UNSUPPORTED, "weight binarization is not implemented; remove the key"),
        "quantize_weights": Key(
            "bool", False, UNSUPPORTED, "Qm.f weight quantization is not implemented; remove "
            "the key"),
        "scaling_factor": Key("int", 10000000, IGNORED, "only used by MegaSim"),
        "payloads": Key("bool", False, UNSUPPORTED, "spikes with payloads are not "
                        "implemented; remove the key"),
        "reset": Key("str", "Reset by subtraction"),
        "leak": Key("bool", False, UNSUPPORTED, "INIsim's leak (subtract 0.1*dt from positive "
                    "membranes each step) is not implemented; remove the key"),
        "bias_relaxation": Key("bool", False, UNSUPPORTED, "bias relaxation is not "
                               "implemented; remove the key"),
    },
    "parameter_sweep": {
        "param_values": Key("literal", [], UNSUPPORTED, "parameter sweeps are not run; run "
                            "ann2snn once per value"),
        "param_name": Key("str", "v_thresh", IGNORED, "only used with param_values"),
        "param_logscale": Key("bool", False, IGNORED, "only used with param_values"),
    },
    "output": {
        "log_vars": Key("literal", {}, IGNORED, _PLOTS),
        "plot_vars": Key("literal", {}, IGNORED, _PLOTS),
        "verbose": Key("int", 1, IGNORED, "use ann2snn -v for details, -q for no progress bar"),
        "overwrite": Key("bool", True, IGNORED, "ann2snn always overwrites the files of its "
                         "run folder"),
        "use_simple_labels": Key("bool", True, IGNORED, _PLOTS),
        "plotproperties": Key("str", "", IGNORED, _PLOTS),
    },
}

#: Sections accepted as a whole and ignored (snntoolbox internals, other simulators).
IGNORED_SECTIONS = {
    "restrictions": "snntoolbox's own validation tables",
    "loihi": "only used by the Loihi simulator",
}

BOOLEAN_STATES = {"1": True, "yes": True, "true": True, "on": True,
                  "0": False, "no": False, "false": False, "off": False}


class LiteralError(ValueError):
    """A value that is not a plain Python literal."""


_BINOPS = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b,
           ast.Mult: lambda a, b: a * b, ast.Div: lambda a, b: a / b,
           ast.FloorDiv: lambda a, b: a // b}
_MAX_RANGE = 10_000_000
_CALLS = {"range": range, "list": list, "tuple": tuple, "set": set, "dict": dict}


def parse_literal(text: str) -> Any:
    """Evaluate ``text`` like snntoolbox's ``eval``, but only for plain data.

    Accepts literals (numbers, strings, lists, tuples, sets, dicts, True/False/None),
    arithmetic on numbers (``1/255``) and ``range``/``list``/``tuple``/``set``/``dict``
    calls on such values. Anything else (names, attributes, other calls) is refused:
    a config file must not run code.
    """
    text = text.strip()
    if text == "":
        return None
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as e:
        raise LiteralError(f"not a Python literal ({e.msg})") from None
    return _eval(tree.body)


def _eval(node: ast.AST) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        items = [_eval(e) for e in node.elts]
        return {ast.List: list, ast.Tuple: tuple, ast.Set: set}[type(node)](items)
    if isinstance(node, ast.Dict):
        if any(k is None for k in node.keys):
            raise LiteralError("'**' is not allowed in a config value")
        return {_eval(k): _eval(v) for k, v in zip(node.keys, node.values)}
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        v = _number(_eval(node.operand))
        return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        a, b = _number(_eval(node.left)), _number(_eval(node.right))
        try:
            return _BINOPS[type(node.op)](a, b)
        except ZeroDivisionError:
            raise LiteralError("division by zero") from None
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id in _CALLS and not node.keywords):
        args = [_eval(a) for a in node.args]
        if node.func.id == "range":
            r = range(*[int(_number(a)) for a in args])
            if len(r) > _MAX_RANGE:
                raise LiteralError(f"range of {len(r)} values is too long")
            return list(r)
        return _CALLS[node.func.id](*args)
    raise LiteralError(f"'{ast.unparse(node)}' is not a plain value (only literals, "
                       "arithmetic and range()/list()/set() are read; no code is run)")


def _number(v: Any) -> int | float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise LiteralError(f"{v!r} is not a number")
    return v
