"""An SNN Toolbox INI file read as snntoolbox reads it, and its typed values."""

from __future__ import annotations

import configparser
import difflib
from pathlib import Path
from typing import Any

from ...errors import ConfigError
from .keys import BOOLEAN_STATES, IGNORED_SECTIONS, SECTIONS, Key, LiteralError, parse_literal


def read_ini(path: str | Path) -> configparser.ConfigParser:
    """Parse ``path`` as snntoolbox does (case-sensitive keys, ``%(x)s`` interpolation)."""
    path = Path(path)
    ini = configparser.ConfigParser()
    ini.optionxform = str  # snntoolbox keys are case-sensitive
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            ini.read_file(f, source=str(path))
    except configparser.Error as e:
        raise ConfigError(f"{path}: not a valid INI file: {e}") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read ({e.strerror})") from None
    return ini


def _convert(raw: str, key: Key) -> Any:
    raw = raw.strip()
    if key.type == "str":
        return raw
    if key.type == "bool":
        if raw.lower() not in BOOLEAN_STATES:
            raise ValueError("expected True or False")
        return BOOLEAN_STATES[raw.lower()]
    if key.type == "int":
        return int(raw)
    if key.type == "float":
        return float(raw)
    return parse_literal(raw)


class Values:
    """The typed values of one INI file, with snntoolbox's defaults behind them."""

    def __init__(self, ini: configparser.ConfigParser, source: str):
        self.source = source
        self.given: dict[tuple[str, str], Any] = {}
        self.errors: list[str] = []
        self.ignored: list[str] = []
        if ini.defaults():
            self.errors.append("a [DEFAULT] section is not supported; move its keys into "
                               "the sections that use them")
        for section in ini.sections():
            if section in IGNORED_SECTIONS:
                self.ignored.append(f"[{section}] ({IGNORED_SECTIONS[section]})")
                continue
            keys = SECTIONS.get(section)
            if keys is None:
                close = difflib.get_close_matches(section, list(SECTIONS), n=1)
                hint = f" (did you mean [{close[0]}]?)" if close else ""
                self.errors.append(f"unknown section [{section}]{hint}")
                continue
            for name in ini.options(section):
                key = keys.get(name)
                if key is None:
                    close = difflib.get_close_matches(name, list(keys), n=1)
                    if not close:  # a key from another section?
                        close = [f"[{s}] {name}" for s, ks in SECTIONS.items() if name in ks]
                    hint = f" (did you mean '{close[0]}'?)" if close else ""
                    self.errors.append(f"unknown key '{name}' in [{section}]{hint}")
                    continue
                try:
                    raw = ini.get(section, name)
                except configparser.InterpolationError as e:
                    self.errors.append(f"[{section}] {name}: {e.message.splitlines()[0]} "
                                       "(write a literal % as %%)")
                    continue
                try:
                    self.given[(section, name)] = _convert(raw, key)
                except (ValueError, LiteralError) as e:
                    self.errors.append(f"[{section}] {name} = {raw.strip()!r}: {e}")

    def get(self, section: str, name: str) -> Any:
        return self.given.get((section, name), SECTIONS[section][name].default)

    def is_set(self, section: str, name: str) -> bool:
        """Whether the file gives ``name`` a value other than snntoolbox's default."""
        if (section, name) not in self.given:
            return False
        v, d = self.given[(section, name)], SECTIONS[section][name].default
        if isinstance(d, (dict, list, set, tuple)) and not v:
            return bool(d)  # {} and [] and set() all mean "none"
        return v != d

    def show(self, section: str, name: str) -> str:
        value = self.get(section, name)
        if isinstance(value, (set, frozenset)):
            return "{" + ", ".join(sorted(repr(x) for x in value)) + "}"
        return repr(value)

    def error(self, section: str, name: str, msg: str) -> None:
        self.errors.append(f"[{section}] {name} = {self.show(section, name)}: {msg}")

    def ignore(self, section: str, name: str, note: str) -> None:
        self.ignored.append(f"[{section}] {name} = {self.show(section, name)} ({note})")
