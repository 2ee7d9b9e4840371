"""Low-latency conversion (accurate SNNs in 1 to 8 time steps; docs/low-latency.md).

- :func:`qcfs`: replace a torch model's ReLUs by QCFS activations (Bu et al., ICLR 2022)
  with trainable thresholds; :func:`finetune` trains them; the converter reads the
  trained λ as the populations' thresholds.
- :func:`calibrate`: training-free calibration of a converted ReLU network for a target
  T (``convert(calibrate_timesteps=T)``).
"""

from .calibrate import calibrate
from .finetune import FinetuneResult, finetune
from .qcfs import QCFS, qcfs

__all__ = ["QCFS", "qcfs", "finetune", "FinetuneResult", "calibrate"]
