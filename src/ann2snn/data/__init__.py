"""Data sets for converting and evaluating networks.

``load_dataset(spec, split)`` returns a :class:`Dataset` (float32 channels-first images,
int64 labels); ``calibration_data(spec, n)`` returns ``n`` training samples for
calibrating a conversion. Specs: ``digits`` (bundled with scikit-learn, offline),
``mnist``, ``fashion-mnist``, ``npz:DIR`` (SNN Toolbox layout) and ``images:DIR``
(one folder per class). See docs/datasets.md.
"""

from __future__ import annotations

from .dataset import Dataset
from .registry import calibration_data, dataset_names, load_dataset

__all__ = ["Dataset", "calibration_data", "dataset_names", "load_dataset"]
