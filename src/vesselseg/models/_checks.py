"""Small validation helpers shared by layers and networks.

Every check raises :class:`vesselseg.errors.ConfigError` naming the offending option, so a bad
value in a YAML config becomes one clear line on the command line.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TypeVar

from vesselseg.errors import ConfigError

T = TypeVar("T")


def choose(table: Mapping[str, T], key: object, option: str) -> T:
    """Return ``table[key]``; an unknown key raises ConfigError listing the valid ones."""
    if not isinstance(key, str) or key not in table:
        valid = ", ".join(sorted(table))
        raise ConfigError(f"{option}={key!r} is not valid; choose one of: {valid}")
    return table[key]


def positive_int(value: object, option: str) -> int:
    """``value`` as an int >= 1 (bools are refused)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{option}={value!r} is not valid; expected an integer >= 1")
    return value


def probability(value: object, option: str) -> float:
    """``value`` as a float in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ConfigError(f"{option}={value!r} is not valid; expected a number in [0, 1)")
    return float(value)


def levels(value: object, option: str, depth: int) -> tuple[int, ...]:
    """``value`` as a sorted tuple of distinct skip levels in 1..depth (1 is the finest)."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise ConfigError(f"{option}={value!r} is not valid; expected a list of levels 1..{depth}")
    items = list(value)
    for item in items:
        if isinstance(item, bool) or not isinstance(item, int) or not 1 <= item <= depth:
            raise ConfigError(
                f"{option}={items!r} is not valid; levels run from 1 (finest) to {depth}"
            )
    return tuple(sorted(set(items)))
