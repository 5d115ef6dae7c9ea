"""Write the preprocessing stages of one image as PNGs and a one-row montage (the paper's Fig. 4)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vesselseg.io.files import atomic_write
from vesselseg.io.images import write_png


def write_stages(stages: dict[str, np.ndarray], out_dir: Path, stem: str) -> list[Path]:
    """``<stem>_<i>_<stage>.png`` per stage plus ``<stem>_stages.png`` (all stages side by side)."""
    out_dir = Path(out_dir)
    paths = [write_png(out_dir / f"{stem}_{i}_{name}.png", arr) for i, (name, arr) in enumerate(stages.items())]
    paths.append(montage(stages, out_dir / f"{stem}_stages.png"))
    return paths


def montage(stages: dict[str, np.ndarray], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(stages)
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3.6), dpi=110)
    for ax, (name, arr) in zip(np.atleast_1d(axes), stages.items()):
        ax.imshow(arr if arr.ndim == 3 else arr, cmap=None if arr.ndim == 3 else "gray", vmin=0, vmax=1)
        ax.set_title(name)
        ax.axis("off")
    fig.tight_layout()
    atomic_write(path, lambda fh: fig.savefig(fh, format="png"))
    plt.close(fig)
    return path
