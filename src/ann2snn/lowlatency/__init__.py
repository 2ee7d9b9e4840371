"""Low-latency conversion (accurate SNNs in 1 to 8 time steps; docs/low-latency.md).

- :func:`qcfs`: replace a torch model's ReLUs by QCFS activations (Bu et al., ICLR 2022)
  with trainable thresholds; :func:`finetune` trains them; the converter reads the
  trained λ as the populations' thresholds.
"""

from .finetune import FinetuneResult, finetune
from .qcfs import QCFS, qcfs

__all__ = ["QCFS", "qcfs", "finetune", "FinetuneResult"]
