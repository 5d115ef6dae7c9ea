"""Writing files safely: the one way every output, record, checkpoint, weights file and export is written.

:func:`atomic_write` writes into a unique temporary file in the target folder, then renames it
into place, so an interruption (Ctrl-C, SIGKILL, a full disk) never leaves a half-written file
and never clobbers a good one with a broken one; concurrent writers never share a temporary name.
Files get the usual mode (``0666 & ~umask``), not ``mkstemp``'s 0600. ``durable=True`` also
fsyncs the file and its folder (checkpoints and weights: a power cut must not lose the rename).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from vesselseg.errors import OutputError


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Read once: os.umask can only be read by setting it, which races with threads creating files.
_UMASK = _read_umask()


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], object], replace: bool = True,
                 durable: bool = False) -> Path:
    """Write ``path`` through ``write(fh)`` (a binary file handle) atomically; returns ``path``.

    ``replace=False`` never replaces an existing ``path``, not even one another process created
    meanwhile (the complete file is hard-linked into place, which fails if ``path`` exists).
    A failure (disk full, permissions, an existing file kept) raises
    :class:`~vesselseg.errors.OutputError` with the errno and leaves nothing behind.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    except OSError as exc:
        raise OutputError(f"{path.parent}: cannot write output folder ({exc.strerror})", exc.errno) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)
        if replace:
            os.replace(tmp, path)
        else:
            _link_no_replace(tmp, path)
        if durable:
            _fsync_dir(path.parent)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, FileExistsError):
            raise OutputError(f"{path}: exists; not replaced", exc.errno) from None
        raise OutputError(f"{path}: cannot write ({exc.strerror or exc})", exc.errno) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes, replace: bool = True, durable: bool = False) -> Path:
    """:func:`atomic_write` of ``data``."""
    return atomic_write(path, lambda fh: fh.write(data), replace=replace, durable=durable)


def atomic_write_text(path: str | os.PathLike, text: str, replace: bool = True, durable: bool = False) -> Path:
    """:func:`atomic_write` of ``text`` as UTF-8."""
    return atomic_write_bytes(path, text.encode("utf-8"), replace=replace, durable=durable)


def _link_no_replace(tmp: str, path: Path) -> None:
    """Move ``tmp`` to ``path`` unless ``path`` exists (``FileExistsError``), atomically where possible."""
    try:
        os.link(tmp, path)  # fails with EEXIST if path exists: no check-then-write race
    except FileExistsError:
        raise
    except OSError:  # a filesystem without hard links: check, then rename
        if path.exists():
            raise FileExistsError(path) from None
        os.replace(tmp, path)
        return
    os.unlink(tmp)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # not supported here (some platforms cannot open folders)
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def is_read_only(path: str | os.PathLike) -> bool:
    """``path`` exists and has no write permission bit (``chmod a-w``): the user protected it.

    Judged by the mode bits, not ``os.access``, so it holds for root too (who may write anyway).
    """
    try:
        return not (os.stat(path).st_mode & 0o222)
    except OSError:
        return False
