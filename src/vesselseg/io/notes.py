"""Notes: one line on stderr when the tool did something to an input the user should know about.

A note is not an error: the result is still correct (a 12-bit photograph in a 16-bit file scaled
by 4095, a JPEG rotated by its EXIF orientation, an implausible field of view ignored for the
scale). :func:`note` prints ``note: <message>`` on stderr, through ``tqdm.write`` when a progress
bar may be on screen so the bar is not torn. Inside :func:`collect_notes` the messages are
gathered into a list instead (tests, or callers that show them their own way).
"""

from __future__ import annotations

import contextvars
import sys
from contextlib import contextmanager
from typing import Iterator

_COLLECTOR: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("vesselseg_notes", default=None)


def note(message: str) -> None:
    """Tell the user ``message`` (one line), or add it to the active :func:`collect_notes` list."""
    collected = _COLLECTOR.get()
    if collected is not None:
        collected.append(message)
        return
    line = f"note: {message}"
    tqdm = sys.modules.get("tqdm")
    if tqdm is not None:
        tqdm.tqdm.write(line, file=sys.stderr)
    else:
        print(line, file=sys.stderr, flush=True)


@contextmanager
def collect_notes() -> Iterator[list[str]]:
    """``with collect_notes() as notes: ...`` -- the notes made inside land in ``notes``, not on stderr."""
    collected: list[str] = []
    token = _COLLECTOR.set(collected)
    try:
        yield collected
    finally:
        _COLLECTOR.reset(token)
