"""SNN Toolbox INI configs -> RunConfig: every key's mapping, the warning, the errors."""

from __future__ import annotations

import logging
import textwrap

import numpy as np
import pytest

from ann2snn.compat.snntoolbox import config_from_ini
from ann2snn.compat.snntoolbox.keys import (
    IGNORED,
    SECTIONS,
    UNSUPPORTED,
    LiteralError,
    parse_literal,
)
from ann2snn.config import load_config
from ann2snn.errors import ConfigError

# The structure of snntoolbox 0.6.0's examples/mnist_keras_INI.py config, plus the
# keys this file maps (as configparser writes them: sets as Python literals).
REALISTIC = """\
[paths]
path_wd = {wd}
dataset_path = {wd}
filename_ann = mnist_cnn

[tools]
evaluate_ann = True
normalize = True

[simulation]
simulator = INI
duration = 50
num_to_test = 100
batch_size = 50
keras_backend = tensorflow

[output]
plot_vars = {{'spiketrains', 'spikerates', 'activations', 'correlation', 'v_mem', 'error_t'}}
"""


def write_npz(folder, n_test=10, n_norm=120):
    rng = np.random.default_rng(0)
    np.savez_compressed(folder / "x_test.npz", rng.random((n_test, 6, 6, 1), dtype=np.float32))
    np.savez_compressed(folder / "y_test.npz", np.eye(3, dtype=np.float32)[np.arange(n_test) % 3])
    np.savez_compressed(folder / "x_norm.npz", rng.random((n_norm, 6, 6, 1), dtype=np.float32))


@pytest.fixture
def wd(tmp_path):
    write_npz(tmp_path)
    (tmp_path / "mnist_cnn.h5").write_bytes(b"not read by config_from_ini")
    return tmp_path


def ini(wd, text: str, name="config"):
    p = wd / name
    p.write_text(textwrap.dedent(text))
    return p


def base(wd, **sections) -> str:
    """A minimal config; ``sections`` adds ``{"cell": "v_thresh = 1"}``-style lines."""
    parts = {"paths": f"path_wd = {wd}\ndataset_path = {wd}\nfilename_ann = mnist_cnn"}
    for sec, lines in sections.items():
        parts[sec] = (parts.get(sec, "") + "\n" + lines).strip()
    return "\n\n".join(f"[{s}]\n{body}" for s, body in parts.items()) + "\n"


def test_realistic_example_config(wd, caplog):
    p = ini(wd, REALISTIC.format(wd=wd))
    with caplog.at_level(logging.WARNING):
        cfg = load_config(p)  # no suffix: recognised as INI by its [paths] section
    assert cfg.model.path == str(wd / "mnist_cnn.h5")
    assert cfg.data.dataset == f"npz:{wd}"
    assert cfg.data.num_samples == 100 and cfg.data.sample_indices is None
    assert cfg.data.calibration_samples == 100  # 120 x_norm samples, whole batches of 50
    assert cfg.simulation.timesteps == 50 and cfg.simulation.batch_size == 50
    assert cfg.simulation.encoding == "analog"
    assert cfg.conversion.method == "percentile" and cfg.conversion.percentile == 99.9
    assert cfg.conversion.reset == "subtract" and cfg.conversion.v0 == 0.0
    assert cfg.conversion.softmax_readout == "membrane"
    assert cfg.conversion.max_to_avg_pool is False
    assert cfg.tools.evaluate_ann and cfg.tools.convert and cfg.tools.simulate
    assert cfg.output.dir == str(wd / "log" / "gui" / "test")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "[output] plot_vars" in warnings[0].getMessage()


def test_defaults_follow_snntoolbox(wd):
    cfg = config_from_ini(ini(wd, base(wd)))
    # snntoolbox 0.6.0 defaults: duration 200, batch_size 1, num_to_test 1, runlabel test
    assert cfg.simulation.timesteps == 200
    assert cfg.simulation.batch_size == 1
    assert cfg.data.num_samples == 1
    assert cfg.data.calibration_samples == 120
    assert cfg.output.dir.endswith("log/gui/test")


def test_ini_keeps_inisim_semantics_whatever_the_defaults(wd):
    """ann2snn converts per channel with v0 = 0.5 by default (issue 14); an INI config
    keeps INIsim's per-layer scales and v(0) = 0."""
    from ann2snn.config.schema import ConversionConfig

    assert ConversionConfig().v0 == 0.5 and ConversionConfig().per_channel is True
    cfg = config_from_ini(ini(wd, base(wd)))
    assert cfg.conversion.v0 == 0.0 and cfg.conversion.per_channel is False
    assert cfg.conversion.readout is None  # a softmax follows softmax_to_relu, else spikes


def test_every_mapped_key(wd, tmp_path):
    out = tmp_path / "runs" / "here"
    text = base(
        wd,
        paths=f"log_dir_of_current_run = {out}\nrunlabel = other",
        tools="evaluate_ann = False\nconvert = True\nsimulate = False",
        input="model_lib = keras\ndataset_format = npz\npoisson_input = True\ninput_rate = 500",
        normalization="percentile = 99.99",
        conversion="softmax_to_relu = True\nmax2avg_pool = True\n"
                   "spike_code = temporal_mean_rate",
        simulation="simulator = INI\nduration = 30\ndt = 1.0\nbatch_size = 4\n"
                   "num_to_test = 10\ntop_k = 1\nkeras_backend = tensorflow",
        cell="v_thresh = 1.0\ntau_refrac = 0\nreset = Reset to zero",
    )
    cfg = config_from_ini(ini(wd, text, "c.ini"))
    assert cfg.output.dir == str(out)
    assert (cfg.tools.evaluate_ann, cfg.tools.convert, cfg.tools.simulate) == (False, True, False)
    assert cfg.simulation.encoding == "poisson"
    assert cfg.simulation.input_rate == pytest.approx(0.5)  # 500 Hz at dt = 1 ms
    assert cfg.conversion.percentile == 99.99
    assert cfg.conversion.softmax_readout == "spikes"
    assert cfg.conversion.max_to_avg_pool is True
    assert cfg.conversion.reset == "zero"
    assert cfg.simulation.timesteps == 30 and cfg.simulation.batch_size == 4
    assert cfg.data.num_samples == 8  # whole batches of 4
    assert cfg.data.calibration_samples == 120


def test_num_to_test_raised_to_batch_size(wd):
    cfg = config_from_ini(ini(wd, base(wd, simulation="batch_size = 5\nnum_to_test = 2")))
    assert cfg.data.num_samples == 5


def test_sample_idxs_to_test(wd):
    cfg = config_from_ini(ini(wd, base(wd, simulation="sample_idxs_to_test = [3, 1, 7]")))
    assert cfg.data.sample_indices == [3, 1, 7] and cfg.data.num_samples is None
    cfg = config_from_ini(ini(wd, base(wd, simulation="sample_idxs_to_test = list(range(5))\n"
                                                       "batch_size = 2")))
    assert cfg.data.sample_indices == [0, 1, 2, 3]  # whole batches, as snntoolbox
    with pytest.raises(ConfigError, match="do not fill one batch"):
        config_from_ini(ini(wd, base(wd, simulation="sample_idxs_to_test = [1]\nbatch_size = 2")))


def test_paths_relative_to_config_and_defaults(tmp_path):
    wd = tmp_path / "wd"
    (wd / "data").mkdir(parents=True)
    write_npz(wd / "data")
    (wd / "net.h5").write_bytes(b"x")
    p = wd / "config.ini"  # path_wd left out: the config's folder, as snntoolbox
    p.write_text("[paths]\ndataset_path = data\nfilename_ann = net\nrunlabel = r1\n")
    cfg = config_from_ini(p)
    assert cfg.model.path == str(wd / "net.h5")
    assert cfg.data.dataset == f"npz:{wd / 'data'}"
    assert cfg.output.dir == str(wd / "log" / "gui" / "r1")


def test_keras_model_candidates(wd):
    (wd / "mnist_cnn.h5").unlink()
    (wd / "mnist_cnn.keras").write_bytes(b"x")
    assert config_from_ini(ini(wd, base(wd))).model.path == str(wd / "mnist_cnn.keras")
    (wd / "mnist_cnn.keras").unlink()
    with pytest.raises(ConfigError, match="model file not found"):
        config_from_ini(ini(wd, base(wd)))
    (wd / "mnist_cnn.h5").write_bytes(b"x")
    (wd / "mnist_cnn.json").write_text("{}")
    with pytest.raises(ConfigError, match="separate files"):
        config_from_ini(ini(wd, base(wd)))


def test_pytorch_and_onnx_models(wd):
    (wd / "mnist_cnn.py").write_text("import torch\nclass Model(torch.nn.Module):\n    pass\n")
    (wd / "mnist_cnn.pkl").write_bytes(b"x")
    cfg = config_from_ini(ini(wd, base(wd, input="model_lib = pytorch")))
    assert cfg.model.path == f"{wd / 'mnist_cnn.py'}:Model"
    assert cfg.model.weights == str(wd / "mnist_cnn.pkl")
    (wd / "mnist_cnn.py").write_text("kwargs = {'n': 3}\nclass Model:\n    pass\n")
    with pytest.raises(ConfigError, match="module-level kwargs"):
        config_from_ini(ini(wd, base(wd, input="model_lib = pytorch")))
    (wd / "mnist_cnn.onnx").write_bytes(b"x")
    cfg = config_from_ini(ini(wd, base(wd, input="model_lib = onnx")))
    assert cfg.model.path == str(wd / "mnist_cnn.onnx")
    with pytest.raises(ConfigError, match="export the model to ONNX"):
        config_from_ini(ini(wd, base(wd, input="model_lib = caffe")))


def test_jpg_dataset(tmp_path):
    from PIL import Image

    wd = tmp_path
    for split in ("train", "test"):
        for c in ("a", "b"):
            (wd / "img" / split / c).mkdir(parents=True)
            for i in range(3):
                Image.fromarray(np.full((6, 6), 40 * i, np.uint8)).save(
                    wd / "img" / split / c / f"{i}.png")
    (wd / "m.h5").write_bytes(b"x")
    text = (f"[paths]\npath_wd = {wd}\ndataset_path = img\nfilename_ann = m\n"
            "[input]\ndataset_format = jpg\ndatagen_kwargs = {'rescale': 1/255}\n"
            "dataflow_kwargs = {'target_size': (6, 6), 'color_mode': 'grayscale'}\n")
    cfg = config_from_ini(ini(wd, text))
    assert cfg.data.dataset == f"images:{wd / 'img'}"
    assert cfg.data.calibration_samples == 6 and cfg.data.calibration_split == "train"
    with pytest.raises(ConfigError, match="rescale"):
        config_from_ini(ini(wd, text.replace("{'rescale': 1/255}", "{}")))
    with pytest.raises(ConfigError, match="classes"):
        config_from_ini(ini(wd, text.replace("'color_mode'", "'classes': ['b', 'a'], 'x'")))


def write_pngs(folder, classes=("a", "b"), per_class=5):
    from PIL import Image

    for c in classes:
        (folder / c).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(np.full((6, 6), 40 * i, np.uint8)).save(folder / c / f"{i}.png")


def test_jpg_snntoolbox_layout(tmp_path, caplog):
    # snntoolbox's own layout: class folders directly under dataset_path, which
    # flow_from_directory reads both for normalization and for testing
    write_pngs(tmp_path / "img")
    (tmp_path / "img" / ".hidden").mkdir()
    (tmp_path / "m.h5").write_bytes(b"x")
    text = (f"[paths]\npath_wd = {tmp_path}\ndataset_path = img\nfilename_ann = m\n"
            "[input]\ndataset_format = jpg\ndatagen_kwargs = {'rescale': 1./255}\n"
            "[simulation]\nbatch_size = 4\n")
    with caplog.at_level(logging.WARNING):
        cfg = config_from_ini(ini(tmp_path, text))
    assert cfg.data.dataset == f"images:{tmp_path / 'img'}"
    assert cfg.data.calibration_split == "test"
    assert cfg.data.calibration_samples == 8  # 10 images, whole batches of 4
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "test images" in warnings[0] and f"{tmp_path / 'img'}/train/<class>/" in warnings[0]
    # [normalization] num_samples: ceil(num_samples / batch_size) batches, as snntoolbox
    cfg = config_from_ini(ini(tmp_path, text + "[normalization]\nnum_samples = 5\n"))
    assert cfg.data.calibration_samples == 8
    cfg = config_from_ini(ini(tmp_path, text + "[normalization]\nnum_samples = 1\n"))
    assert cfg.data.calibration_samples == 4


def test_jpg_folder_without_images(tmp_path):
    (tmp_path / "img" / "a").mkdir(parents=True)
    (tmp_path / "m.h5").write_bytes(b"x")
    text = (f"[paths]\npath_wd = {tmp_path}\ndataset_path = img\nfilename_ann = m\n"
            "[input]\ndataset_format = jpg\ndatagen_kwargs = {'rescale': 1./255}\n")
    with pytest.raises(ConfigError, match=r"\[paths\] dataset_path = 'img': no .jpg"):
        config_from_ini(ini(tmp_path, text))


def test_v_thresh_and_dt(wd):
    text = base(wd, simulation="duration = 50\ndt = 0.5", cell="v_thresh = 2",
                input="poisson_input = True\ninput_rate = 500")
    cfg = config_from_ini(ini(wd, text))
    assert (cfg.conversion.v_thresh, cfg.conversion.dt) == (2.0, 0.5)
    assert cfg.simulation.timesteps == 100  # INIsim: int(duration / dt)
    assert cfg.simulation.input_rate == 0.25  # 500 Hz · 0.5 ms
    cfg = config_from_ini(ini(wd, base(wd, simulation="duration = 50\ndt = 0.3")))
    assert cfg.simulation.timesteps == 166 and cfg.conversion.v_thresh == 1.0
    cfg = config_from_ini(ini(wd, base(wd)))
    assert (cfg.conversion.v_thresh, cfg.conversion.dt) == (1.0, 1.0)


def test_one_warning_names_every_ignored_key(wd, caplog):
    text = base(
        wd,
        paths="filename_parsed_model = parsed\nfilename_snn = snn",
        tools="parse = False\nserialise_only = True",
        input="num_dvs_events_per_sample = 10\ninput_rate = 300",
        normalization="diff_to_max_rate = 10\nnum_samples = 50",
        conversion="maxpool_type = avg_max\nnum_bits = 8",
        cell="tau_m = 5\nv_reset = -1\ndelay = 2\nscaling_factor = 3",
        output="log_vars = {'all'}\nplot_vars = {'all'}\nverbose = 0\noverwrite = False",
        spinnaker="number_of_neurons_per_core = 32",
        restrictions="model_libs = {'keras'}",
    )
    with caplog.at_level(logging.WARNING):
        config_from_ini(ini(wd, text))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    for key in ("filename_parsed_model", "filename_snn", "parse", "serialise_only",
                "num_dvs_events_per_sample", "input_rate", "diff_to_max_rate", "num_samples",
                "maxpool_type",
                "num_bits", "tau_m", "v_reset", "delay", "scaling_factor", "log_vars",
                "plot_vars", "verbose", "overwrite", "number_of_neurons_per_core",
                "[restrictions]"):
        assert key in warnings[0], key


def test_default_values_do_not_warn(wd, caplog):
    text = base(wd, cell="tau_m = 1000\nv_reset = 0\nreset = Reset by subtraction",
                output="log_vars = {}\nplot_vars = set()\nverbose = 1\noverwrite = True",
                conversion="maxpool_type = fir_max")
    with caplog.at_level(logging.WARNING):
        config_from_ini(ini(wd, text))
    assert not [r for r in caplog.records if r.levelno == logging.WARNING]


@pytest.mark.parametrize("section,line,needle", [
    ("simulation", "simulator = MegaSim", "set simulator = INI"),
    ("simulation", "simulator = spiNNaker", "untested"),
    ("conversion", "spike_code = ttfs", "spike_code = temporal_mean_rate"),
    ("conversion", "spike_code = temporal_pattern", "rate code only"),
    ("cell", "v_thresh = 0", "must be > 0"),
    ("cell", "tau_refrac = 1", "tau_refrac = 0"),
    ("cell", "reset = Reset by modulo", "modulo is not implemented"),
    ("cell", "reset = Reset by substraction", "did you mean 'Reset by subtraction'"),
    ("cell", "leak = True", "leak"),
    ("cell", "payloads = True", "payloads"),
    ("cell", "binarize_weights = True", "binarization"),
    ("cell", "quantize_weights = True", "quantization"),
    ("cell", "bias_relaxation = True", "bias relaxation"),
    ("simulation", "top_k = 5", "top-1"),
    ("simulation", "dt = 0", "must be > 0"),
    ("simulation", "dt = 300", "gives no time step"),
    ("simulation", "reset_between_nth_sample = 0", "reset neurons"),
    ("simulation", "early_stopping = True", "full duration"),
    ("simulation", "keras_backend = theano", "without any backend"),
    ("tools", "normalize = False", "always normalizes"),
    ("normalization", "normalization_schedule = True", "schedule"),
    ("normalization", "online_normalization = True", "online"),
    ("normalization", "percentile = 0", "(0, 100]"),
    ("input", "dataset_format = aedat", "DVS"),
    ("input", "num_poisson_events_per_sample = 100", "never capped"),
    ("input", "keras_dataset = mnist", "npz"),
    ("conversion", "append_softmax = True", "softmax is never appended"),
    ("paths", "filename_clamp_indices = clamp.json", "clamping"),
    ("paths", "filepath_custom_objects = custom.py", "custom"),
    ("parameter_sweep", "param_values = [0.1, 0.5]", "once per value"),
])
def test_result_changing_values_are_errors(wd, section, line, needle):
    with pytest.raises(ConfigError) as e:
        config_from_ini(ini(wd, base(wd, **{section: line})))
    msg = str(e.value)
    assert f"[{section}] {line.split(' = ')[0]}" in msg and needle in msg, msg


def test_all_errors_at_once(wd):
    text = base(wd, simulation="simulator = MegaSim\ntop_k = 5", cell="v_thresh = -2")
    with pytest.raises(ConfigError) as e:
        config_from_ini(ini(wd, text))
    msg = str(e.value)
    assert "simulator" in msg and "top_k" in msg and "v_thresh" in msg


@pytest.mark.parametrize("text,needle", [
    ("[simulaton]\nduration = 5\n", "unknown section [simulaton] (did you mean [simulation]?)"),
    ("[simulation]\ndurration = 5\n", "unknown key 'durration' in [simulation] "
                                      "(did you mean 'duration'?)"),
    ("[cell]\npercentile = 99\n", "did you mean '[normalization] percentile'?"),
    ("[simulation]\nDuration = 5\n", "did you mean 'duration'?"),  # keys are case-sensitive
    ("[simulation]\nduration = 5.5\n", "[simulation] duration = '5.5'"),
    ("[tools]\nnormalize = maybe\n", "expected True or False"),
    ("[output]\nlog_vars = __import__('os')\n", "not a plain value"),
    ("[output]\nplotproperties = 100%\n", "write a literal % as %%"),
    ("[simulation]\nduration = 5\nduration = 6\n", "not a valid INI file"),
])
def test_unknown_and_bad_keys(wd, text, needle):
    p = wd / "bad.ini"
    p.write_text(base(wd) + text)
    with pytest.raises(ConfigError) as e:
        config_from_ini(p)
    assert needle in str(e.value)


def test_missing_required(tmp_path):
    p = tmp_path / "c.ini"
    p.write_text("[paths]\nrunlabel = x\n")
    with pytest.raises(ConfigError) as e:
        config_from_ini(p)
    assert "filename_ann is missing" in str(e.value)
    assert "dataset_path is missing" in str(e.value)
    with pytest.raises(ConfigError, match="no such config file"):
        config_from_ini(tmp_path / "nope.ini")


def test_missing_npz_files(wd):
    (wd / "x_norm.npz").unlink()
    with pytest.raises(ConfigError, match="x_norm.npz"):
        config_from_ini(ini(wd, base(wd)))


def test_key_table_is_consistent():
    for section, keys in SECTIONS.items():
        for name, key in keys.items():
            assert key.type in ("str", "bool", "int", "float", "literal"), (section, name)
            if key.kind in (IGNORED, UNSUPPORTED):
                assert key.note, (section, name)


def test_parse_literal():
    assert parse_literal("{'a', 'b'}") == {"a", "b"}
    assert parse_literal("{'rescale': 1/255}") == {"rescale": 1 / 255}
    assert parse_literal("list(range(2, 5))") == [2, 3, 4]
    assert parse_literal("[-1, (2, 3)]") == [-1, (2, 3)]
    assert parse_literal("") is None
    for bad in ("os.system('x')", "open('f')", "[x for x in y]", "lambda: 1", "1/0",
                "range(10**9)", "range(1000000000)"):
        with pytest.raises(LiteralError):
            parse_literal(bad)
