"""Checks for values that come from users: numbers, environment variables, paths to read.

Each check returns the cleaned value or raises a :class:`~vesselseg.errors.VesselsegError`
subclass whose message names the value's source (an option, a config key, a variable), so the
library refuses a bad value where it reads it and the command line prints it as one line.
"""

from __future__ import annotations

import math
import numbers
import os
from pathlib import Path

from vesselseg.errors import ConfigError, InputError


def _num(x) -> str:
    return str(x) if isinstance(x, numbers.Integral) else f"{x:g}"


def _bounds(lo, hi, lo_open: bool = False) -> str:
    if lo is not None and hi is not None:
        return f"between {_num(lo)} and {_num(hi)}" if not lo_open else f"> {_num(lo)} and <= {_num(hi)}"
    if lo is not None:
        return f"{'>' if lo_open else '>='} {_num(lo)}"
    return f"<= {_num(hi)}"


def finite_number(value, what: str, lo: float | None = None, hi: float | None = None, *,
                  lo_open: bool = False, error: type = ConfigError) -> float:
    """``value`` as a finite ``float`` within ``[lo, hi]`` (``(lo, hi]`` with ``lo_open``).

    Refuses booleans, strings, NaN and infinities; ``what`` names the value in the message
    (``"--threshold"``, ``"optim.lr"``).
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise error(f"{what}: expected a number, got {value!r}")
    x = float(value)
    if not math.isfinite(x):
        raise error(f"{what}: expected a finite number, got {x}")
    if (lo is not None and (x <= lo if lo_open else x < lo)) or (hi is not None and x > hi):
        raise error(f"{what}: {_num(x)} is out of range; it must be {_bounds(lo, hi, lo_open)}")
    return x


def whole_number(value, what: str, lo: int | None = None, hi: int | None = None, *,
                 error: type = ConfigError) -> int:
    """``value`` as an ``int`` within ``[lo, hi]``; integer-valued floats (``2e8``) are accepted."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise error(f"{what}: expected a whole number, got {value!r}")
    if not isinstance(value, numbers.Integral):
        if not math.isfinite(value) or not float(value).is_integer():
            raise error(f"{what}: expected a whole number, got {value!r}")
    n = int(value)
    if (lo is not None and n < lo) or (hi is not None and n > hi):
        raise error(f"{what}: {n} is out of range; it must be {_bounds(lo, hi)}")
    return n


def env_whole_number(name: str, default: int | None, lo: int | None = None, hi: int | None = None,
                     unit: str = "", note: str = "") -> int | None:
    """The environment variable ``name`` as a whole number in ``[lo, hi]`` (``default`` if unset or empty).

    Accepts ``200000000``, ``200_000_000`` and integer-valued floats such as ``2e8``; anything
    else is a :class:`ConfigError` naming the variable and its value. ``unit`` (``"pixels"``) and
    ``note`` (``"0: all cores"``) complete the message.
    """
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    text = raw.strip()
    what = f"${name}={raw!r}"
    note = f" ({note})" if note else ""
    try:
        value = int(text)
    except ValueError:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or not value.is_integer():
            raise ConfigError(f"{what}: expected a whole number{f' of {unit}' if unit else ''}{note}") from None
        value = int(value)
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ConfigError(f"{what}: must be {_bounds(lo, hi)}{f' {unit}' if unit else ''}{note}")
    return value


def regular_file(path: str | os.PathLike, what: str = "file") -> Path:
    """``path`` if it is a regular file (or a link to one); an :class:`InputError` otherwise.

    A named pipe, socket or device is refused at once: reading one would block forever or never
    end, and its size of 0 says nothing about its content.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such {what}")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, expected a {what}")
    if not path.is_file():
        raise InputError(f"{path}: not a regular file (a pipe, socket or device); expected a {what}")
    return path


def one_line(text: object) -> str:
    """``text`` on one line: newlines, tabs and other control characters shown as escapes.

    File names may hold any character but ``/`` and NUL; an error message quoting one must stay
    one line (``error: ...``) for whoever reads or parses it.
    """
    s = str(text)
    if s.isprintable():
        return s
    out = []
    for ch in s:
        if ch.isprintable():
            out.append(ch)
        elif ch in "\n\r\t":
            out.append({"\n": "\\n", "\r": "\\r", "\t": "\\t"}[ch])
        else:
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
    return "".join(out)
