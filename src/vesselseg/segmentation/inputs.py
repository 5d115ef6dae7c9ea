"""What a batch reads: files, folders and glob patterns expanded into image files.

Light on purpose (no torch): ``vesselseg measure`` lists its masks with it without loading a
network.
"""

from __future__ import annotations

import glob
from collections.abc import Iterable
from pathlib import Path

from vesselseg.io.images import IMAGE_SUFFIXES
from vesselseg.segmentation.outputs import SUFFIXES as OUTPUT_FILES

#: Every file name suffix this tool writes per image (``--measure`` adds ``_widths``).
OUTPUT_KINDS = (*OUTPUT_FILES, "widths")


def _is_output(path: Path) -> bool:
    """Our own outputs (``*_vessels.png`` ...) are not inputs, even when --out is the input folder."""
    stem, _, kind = path.stem.rpartition("_")
    return path.suffix.lower() == ".png" and bool(stem) and kind in OUTPUT_KINDS


def collect_inputs(paths: Iterable[str | Path], recursive: bool = False) -> tuple[list[Path], list[tuple[str, str]]]:
    """Expand files, folders and glob patterns into image files (sorted, de-duplicated).

    Files named like this tool's outputs (``<stem>_vessels.png``, ``_prob``, ``_overlay``,
    ``_widths``) are left out of folder listings and pattern matches (a file named explicitly is
    always taken). Returns ``(files, problems)``: a missing path or
    a folder without images is a problem
    (reported like a failed image), not an exception, so the rest of the batch still runs.
    """
    files: list[Path] = []
    problems: list[tuple[str, str]] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            pattern = "**/*" if recursive else "*"
            found = sorted(f for f in p.glob(pattern) if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES
                           and not _is_output(f))
            if not found:
                problems.append((str(p), f"{p}: no images in this folder ({', '.join(IMAGE_SUFFIXES)})"))
            files.extend(found)
        elif p.exists():
            files.append(p)  # any suffix: the reader decides whether it is an image
        elif glob.has_magic(str(raw)):
            found = sorted(Path(f) for f in glob.glob(str(raw), recursive=True)
                           if Path(f).is_file() and not _is_output(Path(f)))
            if not found:
                problems.append((str(raw), f"{raw}: no file matches this pattern"))
            files.extend(found)
        else:
            problems.append((str(raw), f"{raw}: no such file or folder"))
    unique = list(dict.fromkeys(f.resolve() for f in files))
    return [Path(f) for f in unique], problems
