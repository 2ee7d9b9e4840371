"""The intra-op thread policy: how many threads torch (and the fused kernels) use.

Default: the CPUs this process may run on (``os.sched_getaffinity``; a container's or
``taskset``'s limit, not the machine's core count), capped at 8 — see README
"Threads" and benchmarks/kernels_compare.py for the measurements behind it. ``--threads
N`` (CLI), ``threads = N`` (config) or ``threads=N`` (API) overrides it.
"""

from __future__ import annotations

import os

from .errors import ConfigError

#: Beyond this many threads the per-window tensors are too small to share well.
MAX_DEFAULT = 8


def available_cpus() -> int:
    """The CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def default_threads() -> int:
    return min(available_cpus(), MAX_DEFAULT)


def check_threads(n) -> int | None:
    """``n`` as a thread count (None: the default); ConfigError for anything else."""
    if n is None:
        return None
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"threads must be a whole number >= 1 (or unset for the default, "
                          f"{default_threads()} here), got {n!r}")
    return n


def set_threads(n: int | None = None) -> int:
    """Set torch's intra-op threads to ``n`` (None: :func:`default_threads`); returns it."""
    import torch

    n = check_threads(n) or default_threads()
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n
