"""Build and load the fused kernels (fused.c) with the system C compiler, once per user.

The library is compiled at first use with ``cc -O3 -fopenmp -ffp-contract=off`` (about a
second; a torch C++ extension of the same kernels took about a minute to build, for its
headers) into ``$XDG_CACHE_HOME/ann2snn/kernels/<hash>/`` (``~/.cache`` by default; the
hash covers the source, the flags and the machine, so an edit rebuilds), and loaded with
ctypes. It links ``libgomp.so.1``, which resolves to the OpenMP runtime torch has already
loaded, so the kernels share torch's thread pool. Nothing here is required: without a
compiler, or if the build fails, :func:`load` returns None with the reason in
:func:`failure` and the simulator uses its pure-torch code (identical spikes).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import threading
from pathlib import Path

from ...files import atomic_path

SOURCE = Path(__file__).with_name("fused.c")
FLAGS = ["-O3", "-ffp-contract=off", "-fno-trapping-math", "-fPIC", "-shared"]
OPENMP = ["-fopenmp"]
#: Tried first: this CPU's vector units (AVX2, AVX-512...); the cache key includes the
#: CPU's flags, so a home folder shared between machines keeps one library per CPU kind.
NATIVE = ["-march=native", "-mprefer-vector-width=256"]

_lock = threading.Lock()
_state: dict[str, object] = {}

_P, _I64, _INT, _F32 = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int, ctypes.c_float
_F64 = ctypes.c_double
SIGNATURES = {
    "if_scan_f32": [_P, _INT, _P, _P, _P, _I64, _I64, _F32, _INT, _F32, _F32, _INT, _INT],
    "if_scan_i64": [_P, _INT, _P, _P, _P, _I64, _I64, _P, _I64, _I64, _I64, _INT, _INT,
                    _INT],
    "if_pool_f32": [_P, _INT, _P, _P, _P, _P, _P, _P, _INT, _I64, _I64, _I64, _I64, _I64,
                    _I64, _I64, _F32, _INT, _F32, _F32, _INT, _INT],
    "if_avgpool_f32": [_P, _INT, _P, _P, _P, _P, _P, _INT, _I64, _I64, _I64, _I64, _I64,
                       _F32, _INT, _F32, _F32, _INT, _INT],
    "maxpool_gate_f32": [_P, _P, _P, _P, _P, _P, _P, _I64, _I64, _INT],
    "maxpool_gate_i64": [_P, _P, _P, _P, _P, _P, _P, _I64, _I64, _INT],
    "sop_rows_f32": [_P, _I64, _I64, _P, _P, _INT],
    "sop_rows_f64": [_P, _I64, _I64, _P, _P, _INT],
    "sop_rows_i64": [_P, _I64, _I64, _P, _P, _INT],
    "sop_counted_f32": [_P, _I64, _I64, _P, _P, _INT],
    "sop_counted_f64": [_P, _I64, _I64, _P, _P, _INT],
    "sop_counted_i64": [_P, _I64, _I64, _P, _P, _INT],
    "sop_small_f32": [_P, _I64, _I64, _P, _P, _INT],
    "diag_sums_f64": [_P, _P, _P, _I64, _F64, _F64, _F64, _F64, _INT, _INT, _P, _I64, _P,
                      _P, _P],
}


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "ann2snn" / "kernels"


def compiler() -> str | None:
    """$CC, else cc, gcc or clang on the PATH."""
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def _key(cc: str) -> str:
    h = hashlib.sha256(SOURCE.read_bytes())
    h.update(" ".join([cc, *FLAGS, platform.machine(), platform.system(), sys.platform]).encode())
    h.update(_cpu_flags().encode())
    return h.hexdigest()[:16]


def _cpu_flags() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next((line for line in f if line.startswith(("flags", "Features"))), "")
    except OSError:
        return ""


def _build(cc: str, target: Path) -> None:
    """Compile into a temporary name in the target's folder, then rename (atomic: a
    concurrent process sees the old library or the new one, never a half-written one)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp:
        # a compiler without -march=native or OpenMP builds a portable or serial library
        for extra in (OPENMP + NATIVE, OPENMP, []):
            r = subprocess.run([cc, *FLAGS, *extra, "-o", str(tmp), str(SOURCE), "-lm"],
                               capture_output=True, text=True, timeout=300)
            if r.returncode == 0:
                return
        raise RuntimeError(f"{cc} failed: {r.stderr.strip()[-500:]}")


def load() -> ctypes.CDLL | None:
    """The compiled library (built on first call), or None where it cannot be had."""
    with _lock:
        if "lib" in _state:
            return _state["lib"]  # type: ignore[return-value]
        lib = None
        try:
            cc = compiler()
            if cc is None:
                raise RuntimeError("no C compiler found (set CC, or install gcc or clang)")
            import torch  # noqa: F401  (its OpenMP runtime first, so libgomp resolves to it)

            target = cache_dir() / _key(cc) / "libann2snn_fused.so"
            if not target.exists():
                _build(cc, target)
            lib = ctypes.CDLL(str(target))
            for name, args in SIGNATURES.items():
                fn = getattr(lib, name)
                fn.argtypes, fn.restype = args, None
        except (OSError, RuntimeError, subprocess.SubprocessError) as e:
            _state["failure"] = str(e)
            lib = None
        _state["lib"] = lib
        return lib


def failure() -> str | None:
    """Why :func:`load` returned None (None if it did not, or was not called)."""
    return _state.get("failure")  # type: ignore[return-value]


def reset() -> None:
    """Forget the loaded library (tests)."""
    with _lock:
        _state.clear()
