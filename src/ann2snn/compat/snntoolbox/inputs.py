"""Where an SNN Toolbox config's model and data are, as snntoolbox would find them.

Helpers of :mod:`ann2snn.compat.snntoolbox`; each takes its ``Values`` (the typed INI values),
records problems with ``v.error`` and settings ann2snn ignores with ``v.ignore``.
"""

from __future__ import annotations

import ast
import difflib
import logging
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .values import Values

log = logging.getLogger(__name__)

_IMAGE_EXTS = (".jpg", ".jpeg", ".png")


def model_spec(v: Values, path_wd: Path) -> dict[str, Any]:
    """The model file snntoolbox would load: ``path_wd/filename_ann`` + the library's suffix."""
    name = v.get("paths", "filename_ann")
    if not name:
        v.errors.append("[paths] filename_ann is missing: name the model file in path_wd "
                        "(without the .h5 suffix)")
        return {"path": ""}
    lib = v.get("input", "model_lib")
    stem = path_wd / name
    if lib == "keras":
        if stem.with_name(name + ".json").is_file():
            v.error("paths", "filename_ann", f"{name}.json + {name}.h5 (architecture and "
                    "weights in separate files) is not read; load them in Keras and save "
                    "the model as one file with model.save('" + name + ".h5')")
            return {"path": ""}
        tried = [stem.with_name(name + ".h5"), stem.with_name(name + ".keras")]
        if stem.suffix.lower() in (".h5", ".keras", ".hdf5"):
            tried.insert(0, stem)
    elif lib == "onnx":  # an ann2snn extension: snntoolbox itself has no ONNX input
        tried = [stem.with_name(name + ".onnx"), stem]
    elif lib == "pytorch":
        return _pytorch_model(v, stem, name)
    else:
        if lib in ("lasagne", "caffe"):
            msg = (f"{lib} models are not read; export the model to ONNX and set "
                   "model_lib = onnx (an ann2snn extension), or use a TOML config")
        else:
            close = difflib.get_close_matches(lib, ["keras", "pytorch", "onnx"], n=1)
            msg = "unknown model library" + (f"; did you mean '{close[0]}'?" if close else "")
        v.error("input", "model_lib", msg)
        return {"path": ""}
    for p in tried:
        if p.is_file():
            return {"path": str(p)}
    v.error("paths", "filename_ann", "model file not found; looked for "
            + ", ".join(str(p) for p in tried))
    return {"path": ""}


def _pytorch_model(v: Values, stem: Path, name: str) -> dict[str, Any]:
    """snntoolbox's pytorch input: ``name.py`` defines ``Model``; weights in .pth or .pkl."""
    script = stem.with_name(name + ".py")
    weights = [p for p in (stem.with_name(name + ".pth"), stem.with_name(name + ".pkl"))
               if p.is_file()]
    if not script.is_file() or not weights:
        v.error("paths", "filename_ann", f"model_lib = pytorch needs {script} (defining "
                f"class Model) and {name}.pth or {name}.pkl (its state_dict) in path_wd")
        return {"path": ""}
    try:
        tree = ast.parse(script.read_text(encoding="utf-8", errors="replace"))
    except SyntaxError as e:
        v.error("paths", "filename_ann", f"{script} is not valid Python: {e.msg} "
                f"(line {e.lineno})")
        return {"path": ""}
    top = {t.id for node in tree.body if isinstance(node, ast.Assign)
           for t in node.targets if isinstance(t, ast.Name)}
    top |= {node.name for node in tree.body if isinstance(node, ast.ClassDef)}
    if "Model" not in top:
        v.error("paths", "filename_ann", f"{script} defines no class Model")
    if "kwargs" in top:
        v.error("paths", "filename_ann", f"{script} defines module-level kwargs for Model; "
                "ann2snn builds Model() without arguments: give its __init__ those defaults")
    return {"path": f"{script}:Model", "weights": str(weights[0])}


def test_samples(v: Values, batch: int) -> tuple[int | None, list[int] | None]:
    """The test samples INIsim simulates: whole batches only (snntoolbox drops the rest)."""
    idx = v.get("simulation", "sample_idxs_to_test")
    if idx:
        try:
            idx = [int(i) for i in idx] if not isinstance(idx, (str, bytes)) else None
        except (TypeError, ValueError):
            idx = None
        if idx is None or any(i < 0 for i in idx):
            v.error("simulation", "sample_idxs_to_test", "expected a list of sample indices "
                    "(non-negative integers)")
            return None, None
        keep = len(idx) // batch * batch
        if keep == 0:
            v.error("simulation", "sample_idxs_to_test", f"{len(idx)} indices do not fill "
                    f"one batch of {batch}; snntoolbox would test none. Lower batch_size")
            return None, None
        if keep < len(idx):
            log.info("sample_idxs_to_test: testing the first %d indices (whole batches of "
                     "%d), as snntoolbox does", keep, batch)
        return None, idx[:keep]
    n = v.get("simulation", "num_to_test")
    if n < 1:
        v.error("simulation", "num_to_test", "must be at least 1")
        return None, None
    eff = max(n, batch) // batch * batch
    if eff != n:
        log.info("num_to_test = %d: testing %d samples (whole batches of %d), as snntoolbox "
                 "does", n, eff, batch)
    return eff, None


def dataset_spec(v: Values, resolve, batch: int) -> tuple[str, int, str]:
    """The dataset spec, and the number of calibration samples and the split they come
    from, as snntoolbox would use them."""
    fmt = v.get("input", "dataset_format")
    raw = v.get("paths", "dataset_path")
    if not raw:
        v.errors.append("[paths] dataset_path is missing: name the folder holding x_test.npz, "
                        "y_test.npz and x_norm.npz (or the image class folders)")
        return "digits", 1, "train"
    folder = resolve(raw)
    if not folder.is_dir():
        v.error("paths", "dataset_path", f"folder {folder} does not exist")
        return "digits", 1, "train"
    if fmt == "npz":
        for section, key in (("input", "datagen_kwargs"), ("input", "dataflow_kwargs"),
                             ("normalization", "num_samples")):
            if v.is_set(section, key):
                v.ignore(section, key, "only used with dataset_format = jpg")
        missing = [f for f in ("x_test.npz", "y_test.npz", "x_norm.npz")
                   if not (folder / f).is_file()]
        if missing:
            v.error("paths", "dataset_path", f"missing {', '.join(missing)} (x_norm.npz holds "
                    "the normalization data, which ann2snn always needs)")
            return "digits", 1, "train"
        # snntoolbox normalizes on whole batches of x_norm (get_activations_layer)
        n = _npz_length(folder / "x_norm.npz")
        return f"npz:{folder}", (n // batch * batch or n) if n else 1000, "train"
    if fmt in ("jpg", "png"):
        _check_image_kwargs(v)
        return _image_folders(v, folder, batch)
    if fmt == "aedat":
        v.error("input", "dataset_format", "DVS event input is not implemented; use npz or jpg")
    else:
        close = difflib.get_close_matches(fmt, ["npz", "jpg", "png"], n=1)
        v.error("input", "dataset_format", "unknown format"
                + (f"; did you mean '{close[0]}'?" if close else "; use npz or jpg"))
    return "digits", 1, "train"


def _image_folders(v: Values, folder: Path, batch: int) -> tuple[str, int, str]:
    """``images:DIR``: ann2snn's DIR/train/<class>/ + DIR/test/<class>/, or snntoolbox's
    own DIR/<class>/, whose images are both normalized on and tested, as in snntoolbox."""
    n = v.get("normalization", "num_samples")
    train, test = folder / "train", folder / "test"
    if train.is_dir() and test.is_dir():
        if n is None:
            n = _count_images(train, v)
        return f"images:{folder}", max(1, n), "train"
    # snntoolbox: one flow_from_directory(directory=dataset_path) serves as normset and
    # testset (datasets/utils.py, get_dataset); normalize_parameters draws ceil(num_samples
    # / batch_size) batches from it (num_samples defaults to one pass over all images) and
    # get_activations_layer keeps whole batches only (conversion/utils.py)
    total = _count_images(folder, v)
    if not total:
        v.error("paths", "dataset_path", f"no .jpg/.jpeg/.png images in class folders "
                f"{folder}/<class>/ (snntoolbox's layout), nor {folder}/train/<class>/ and "
                f"{folder}/test/<class>/")
        return "digits", 1, "train"
    want = total if n is None else min(-(-max(n, 1) // batch) * batch, total)
    log.warning("%s: calibrating on the test images themselves, as snntoolbox does with "
                "class folders directly under dataset_path (the scales then fit the test "
                "set, and the accuracy is optimistic). Arrange the images as %s/train/<class>/"
                " and %s/test/<class>/ to calibrate on the train images instead",
                v.source, folder, folder)
    return f"images:{folder}", want // batch * batch or want, "test"


def _count_images(folder: Path, v: Values) -> int:
    try:
        return sum(1 for p in folder.glob("*/*") if p.suffix.lower() in _IMAGE_EXTS
                   and p.is_file() and not p.name.startswith(".")
                   and not p.parent.name.startswith("."))
    except OSError as e:
        v.error("paths", "dataset_path", f"cannot list {folder} ({e.strerror})")
        return 0


def _check_image_kwargs(v: Values) -> None:
    """ann2snn reads images scaled to [0, 1] at their own size, classes in folder order."""
    gen = v.get("input", "datagen_kwargs")
    flow = v.get("input", "dataflow_kwargs")
    if not isinstance(gen, dict) or not isinstance(flow, dict):
        v.errors.append("[input] datagen_kwargs and dataflow_kwargs must be dicts")
        return
    rescale = gen.get("rescale")
    if rescale is None or abs(float(rescale) - 1 / 255) > 1e-6:
        v.error("input", "datagen_kwargs", "ann2snn scales image pixels to [0, 1]; without "
                "{'rescale': 1/255} snntoolbox feeds 0..255. Add 'rescale': 1/255 if the "
                "model expects [0, 1] inputs; otherwise save the data as npz")
    extra = sorted(set(gen) - {"rescale"})
    if extra:
        v.error("input", "datagen_kwargs", f"options {extra} are not applied; save "
                "preprocessed data as npz instead")
    bad = sorted(set(flow) - {"target_size", "color_mode", "batch_size", "shuffle",
                              "class_mode", "seed", "interpolation", "directory"})
    if bad:
        v.error("input", "dataflow_kwargs", f"options {bad} are not applied (classes are "
                "numbered by sorted folder name); save the data as npz instead")


def _npz_length(path: Path) -> int:
    """Number of samples in the first array of an npz file, read from its header only."""
    try:
        with zipfile.ZipFile(path) as z:
            names = [n for n in z.namelist() if n.endswith(".npy")]
            if not names:
                return 0
            with z.open(names[0]) as f:
                version = np.lib.format.read_magic(f)
                if version == (1, 0):
                    shape = np.lib.format.read_array_header_1_0(f)[0]
                elif version == (2, 0):
                    shape = np.lib.format.read_array_header_2_0(f)[0]
                else:
                    return len(np.load(path, allow_pickle=False)[names[0][:-4]])
    except (OSError, ValueError, zipfile.BadZipFile):
        return 0  # the data loader reports the broken file with its own message
    return int(shape[0]) if shape else 0
