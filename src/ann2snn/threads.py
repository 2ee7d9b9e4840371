"""The intra-op thread policy: how many threads torch (and the fused kernels) use.

Default: the CPUs this process may run on (``os.sched_getaffinity``; a container's or
``taskset``'s limit, not the machine's core count), less those other processes keep busy
right now (their share of each CPU over 0.1 s, from /proc/stat, sampled again after
10 s), at least 1 and at most 8. A thread that the OS deschedules stalls every parallel
region until it runs again, so on a loaded machine fewer threads are faster (README "Threads";
benchmarks/kernels_compare.py measures it). ``--threads N`` (CLI), ``threads = N``
(config) or ``ann2snn.set_threads(N)`` (API) overrides it.
"""

from __future__ import annotations

import os
import time

from .errors import ConfigError

#: Beyond this many threads the per-window tensors are too small to share well.
MAX_DEFAULT = 8


def available_cpus() -> int:
    """The CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def busy_cpus(cpus: set[int] | None = None, interval: float = 0.1) -> float:
    """How many of ``cpus`` (default: ours) other processes keep busy: the non-idle share
    of each over ``interval`` seconds while this process sleeps, summed (Linux; 0.0
    where /proc/stat cannot be read)."""
    try:
        cpus = set(os.sched_getaffinity(0)) if cpus is None else cpus
        a = _cpu_times(cpus)
        time.sleep(interval)
        b = _cpu_times(cpus)
    except (AttributeError, OSError, ValueError):
        return 0.0
    busy = 0.0
    for c in a.keys() & b.keys():
        total = sum(b[c]) - sum(a[c])
        idle = (b[c][3] + b[c][4]) - (a[c][3] + a[c][4])  # idle + iowait
        busy += (1.0 - idle / total) if total > 0 else 0.0
    return busy


def _cpu_times(cpus: set[int]) -> dict[int, list[int]]:
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            name, *vals = line.split()
            if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus:
                out[int(name[3:])] = [int(v) for v in vals[:8]] + [0] * (8 - len(vals[:8]))
    return out


#: How long a measured choice stands (s): a long-lived process (a notebook, a service
#: that runs pipelines) sees the load change, and a sample costs 0.1 s.
FRESH_S = 10.0
_default: list[tuple[float, int]] = []


def default_threads() -> int:
    """The policy's choice: our CPUs less the busy ones (sampled again when the last
    sample is older than :data:`FRESH_S`)."""
    if not _default or time.monotonic() - _default[0][0] > FRESH_S:
        n = available_cpus()
        free = n - int(busy_cpus() + 0.5)
        _default[:] = [(time.monotonic(), max(1, min(free, n, MAX_DEFAULT)))]
    return _default[0][1]


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
