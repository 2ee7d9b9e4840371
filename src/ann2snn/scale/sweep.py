"""A sweep file: a run config (config/schema.py) plus a ``[sweep]`` table of points.

    [sweep]
    grid = { percentile = [99.0, 99.9], timesteps = [16, 32] }   # every combination
    # or
    points = [ { percentile = 99.9, timesteps = 16 }, { method = "max", v0 = 0.5 } ]

Each point overrides keys of the base config (``KEYS``: the sweep key and the config
key it sets); it is validated as a whole RunConfig before anything runs, so a bad value
names its point. A point's name is made of its settings, and its run folder is
``DIR/points/<name>/``.
"""

from __future__ import annotations

import difflib
import itertools
import tomllib
from dataclasses import dataclass
from pathlib import Path

from ..config.schema import RunConfig, resolve_paths, validate
from ..errors import ConfigError

#: sweep key -> (config section, key)
KEYS = {
    "percentile": ("conversion", "percentile"),
    "method": ("conversion", "method"),
    "per_channel": ("conversion", "per_channel"),
    "max_to_avg_pool": ("conversion", "max_to_avg_pool"),
    "reset": ("conversion", "reset"),
    "v0": ("conversion", "v0"),
    "weight_bits": ("conversion", "weight_bits"),
    "timesteps": ("simulation", "timesteps"),
    "encoding": ("simulation", "encoding"),
}


@dataclass(frozen=True)
class Point:
    name: str
    settings: dict  #: sweep key -> value
    config: RunConfig  #: the base config with the settings and this point's folder


@dataclass(frozen=True)
class Sweep:
    source: Path
    base: RunConfig
    keys: list[str]  #: the swept keys, in the file's order
    points: list[Point]


def _check_keys(keys, where: str) -> None:
    for k in keys:
        if k not in KEYS:
            close = difflib.get_close_matches(k, list(KEYS), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ConfigError(f"{where}: unknown sweep key '{k}'{hint}; sweep keys: "
                              + ", ".join(KEYS))


def _name(settings: dict) -> str:
    def fmt(v) -> str:
        return ("on" if v else "off") if isinstance(v, bool) else str(v)

    return "_".join(f"{k}-{fmt(v)}" for k, v in settings.items()).replace("/", "-")


def load_sweep(path: str | Path, out: str | Path | None = None) -> Sweep:
    """Read and check a sweep file; every point's config is validated here."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such sweep file")
    try:
        data = tomllib.loads(path.read_text(errors="replace"))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML ({e})") from None
    spec = data.pop("sweep", None)
    if not isinstance(spec, dict):
        raise ConfigError(f"{path}: no [sweep] table (grid = {{...}} or points = [...])")
    extra = sorted(set(spec) - {"grid", "points"})
    if extra or ("grid" in spec) == ("points" in spec):
        raise ConfigError(f"{path}: [sweep] takes exactly one of 'grid' (a table of lists) "
                          f"or 'points' (a list of tables); got {sorted(spec)}")
    if "grid" in spec:
        grid = spec["grid"]
        if not isinstance(grid, dict) or not grid:
            raise ConfigError(f"{path}: sweep.grid is empty; give lists, e.g. "
                              "grid = { timesteps = [16, 32] }")
        _check_keys(grid, f"{path}: sweep.grid")
        for k, v in grid.items():
            if not isinstance(v, list) or not v:
                raise ConfigError(f"{path}: sweep.grid.{k} must be a non-empty list, "
                                  f"got {v!r}")
        keys = list(grid)
        settings = [dict(zip(keys, combo)) for combo in itertools.product(*grid.values())]
    else:
        pts = spec["points"]
        if not isinstance(pts, list) or not pts or not all(isinstance(p, dict) for p in pts):
            raise ConfigError(f"{path}: sweep.points must be a non-empty list of tables")
        keys = []
        for i, p in enumerate(pts):
            _check_keys(p, f"{path}: sweep.points[{i}]")
            keys += [k for k in p if k not in keys]
        settings = [dict(p) for p in pts]
    base = resolve_paths(validate(data, str(path)), path.parent)
    root = Path(out) if out is not None else Path(base.output.dir)
    points, seen = [], set()
    for i, s in enumerate(settings):
        name = _name(s) or f"point-{i}"
        if name in seen:
            raise ConfigError(f"{path}: the point {s} appears twice")
        seen.add(name)
        raw = base.model_dump(mode="json")
        for k, v in s.items():
            section, key = KEYS[k]
            raw[section][key] = v
        raw["output"]["dir"] = str(root / "points" / name)
        points.append(Point(name, s, validate(raw, f"{path}: point {s}")))
    return Sweep(path, base, keys, points)
