"""``python -m experiments figures``: the paper's figures from our own runs, written to ``docs/figures/``.

* ``roc_<dataset>.png`` -- ROC curves of every main-table model on a dataset, with the second
  observer's operating point; drawn from the ``results/`` records alone (no dataset needed).
* ``preprocessing_<dataset>.png`` -- the preprocessing stages of the first test image.
* ``qualitative_<dataset>.png`` -- image, ground truth, U-Net and CaFFNet on one test image, with
  two zoomed boxes placed automatically where the ground truth has the most thin vessels
  (skeleton pixels of vessels at most 3 px wide); in the zooms, predictions are coloured
  white = hit, red = false vessel, blue = missed vessel.

The last two show dataset images and are therefore generated at run time from the datasets and
never committed (``.gitignore``); the ROC plots show only our numbers and are committed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from experiments.report import DATASET_TITLES, DATASETS, MAIN_MODELS, MODEL_TITLES, Records
from experiments.results import load_records
from vesselseg.errors import InputError
from vesselseg.io.files import atomic_write

KINDS = ("roc", "preprocessing", "qualitative")


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    atomic_write(path, lambda fh: fig.savefig(fh, format=path.suffix.lstrip(".") or "png"))
    _plt().close(fig)
    return path


def roc_figure(rec: Records, dataset: str, out: Path) -> Path | None:
    """ROC curves (whole-image inference) of the main-table models on ``dataset``, full and zoomed."""
    curves = [(MODEL_TITLES[m], rec.model[f"{dataset}_{m}"]) for m in MAIN_MODELS if f"{dataset}_{m}" in rec.model]
    curves = [(t, r) for t, r in curves if "roc" in r["evaluations"]["whole"]]
    if not curves:
        return None
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(9, 4.2), dpi=110)
    for ax, zoom in zip(axes, (False, True)):
        for title, r in curves:
            e = r["evaluations"]["whole"]
            ax.plot(e["roc"]["fpr"], e["roc"]["tpr"], label=f"{title} (AUC {e['pooled']['auc']:.4f})")
        h = rec.human.get(dataset)
        if h:
            p = h["evaluations"]["observer2"]["pooled"]
            ax.plot([1 - p["specificity"]], [p["sensitivity"]], "k*", ms=10, label="second observer")
        if zoom:
            ax.set_xlim(0, 0.2)
            ax.set_ylim(0.6, 1.0)
            ax.set_title("zoom")
        else:
            ax.plot([0, 1], [0, 1], ":", color="grey")
            ax.set_title(f"{DATASET_TITLES[dataset]} test, FOV pixels, pooled, whole-image inference", fontsize=9)
        ax.set_xlabel("false positive rate (1 - specificity)")
        ax.set_ylabel("true positive rate (sensitivity)")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return _save(fig, out / f"roc_{dataset}.png")


def preprocessing_figure(dataset: str, data, out: Path) -> Path:
    """The stages of the first test image, with the dataset's training statistics (as in training)."""
    from vesselseg.api import training_stats
    from vesselseg.io.datasets import load_sample, load_split
    from vesselseg.preprocess import PreprocessConfig, preprocess
    from vesselseg.preprocess.stages import montage

    sample = load_sample(load_split(dataset, "test", data)[0], observer2=False)
    cfg = PreprocessConfig(standardise="dataset")
    _, stages = preprocess(sample.image, training_stats(dataset, data, cfg.grey), cfg, fov=sample.fov,
                           return_stages=True)
    out.mkdir(parents=True, exist_ok=True)
    return montage(stages, out / f"preprocessing_{dataset}.png")


def thin_vessel_boxes(label: np.ndarray, fov: np.ndarray, size: int, count: int = 2,
                      max_width: float = 3.0) -> list[tuple[int, int]]:
    """Top-left corners ``(row, col)`` of ``count`` non-overlapping ``size``-pixel squares inside the
    FOV holding the most skeleton pixels of vessels at most ``max_width`` pixels wide."""
    import cv2
    from skimage.morphology import skeletonize

    label = label.astype(bool)
    width = 2.0 * cv2.distanceTransform(label.astype(np.uint8), cv2.DIST_L2, 3)  # ~ local diameter
    thin = (skeletonize(label) & (width <= max_width)).astype(np.float32)
    density = cv2.boxFilter(thin, -1, (size, size), normalize=False, anchor=(0, 0),
                            borderType=cv2.BORDER_CONSTANT)
    inside = cv2.boxFilter(fov.astype(np.float32), -1, (size, size), normalize=True, anchor=(0, 0),
                           borderType=cv2.BORDER_CONSTANT)
    h, w = label.shape
    density[inside < 0.999] = -1  # the box must lie inside the FOV
    density[h - size + 1:, :] = -1
    density[:, w - size + 1:] = -1
    boxes = []
    for _ in range(count):
        r, c = np.unravel_index(int(np.argmax(density)), density.shape)
        if density[r, c] < 0:
            break
        boxes.append((int(r), int(c)))
        density[max(0, r - size + 1):r + size, max(0, c - size + 1):c + size] = -1  # no overlap
    return boxes


def _errors_rgb(pred: np.ndarray, label: np.ndarray) -> np.ndarray:
    """white = true vessel, red = false vessel, blue = missed vessel, black = true background."""
    rgb = np.zeros(pred.shape + (3,), dtype=np.float32)
    rgb[pred & label] = (1, 1, 1)
    rgb[pred & ~label] = (1, 0.15, 0.15)
    rgb[~pred & label] = (0.2, 0.45, 1)
    return rgb


def qualitative_figure(dataset: str, models: dict[str, str | Path], data, out: Path,
                       image_index: int = 0) -> Path:
    """One test image: columns image | ground truth | each model; rows full view and two zooms."""
    from vesselseg.inference.predictor import Predictor
    from vesselseg.io.datasets import load_sample, load_split

    s = load_sample(load_split(dataset, "test", data)[image_index], observer2=False)
    preds = {}
    for title, weights in models.items():
        prob = Predictor(weights)(s.image, s.fov, mode="whole")
        preds[title] = (prob >= 0.5) & s.fov
    label = s.label & s.fov
    from vesselseg.io.fov import fov_diameter

    size = max(48, int(round(0.12 * fov_diameter(s.fov))))
    boxes = thin_vessel_boxes(label, s.fov, size)
    columns = [("image", s.image), ("ground truth", label)] + list(preds.items())
    plt = _plt()
    from matplotlib.patches import Rectangle

    n_rows = 1 + len(boxes)
    fig, axes = plt.subplots(n_rows, len(columns), figsize=(3.0 * len(columns), 3.0 * n_rows), dpi=110,
                             squeeze=False)
    colours = ("#ffcc00", "#00e5ff")
    for j, (title, arr) in enumerate(columns):
        ax = axes[0, j]
        ax.imshow(arr if arr.ndim == 3 else arr, cmap=None if arr.ndim == 3 else "gray", vmin=0, vmax=1)
        ax.set_title(title)
        for (r, c), col in zip(boxes, colours):
            ax.add_patch(Rectangle((c, r), size, size, fill=False, edgecolor=col, lw=1.5))
        for i, ((r, c), col) in enumerate(zip(boxes, colours), start=1):
            z = axes[i, j]
            crop = (slice(r, r + size), slice(c, c + size))
            if arr.ndim == 3:
                z.imshow(arr[crop], interpolation="nearest")
            elif title == "ground truth":
                z.imshow(arr[crop], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            else:
                z.imshow(_errors_rgb(arr[crop], label[crop]), interpolation="nearest")
            for side in z.spines.values():
                side.set_edgecolor(col)
                side.set_linewidth(2)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"{DATASET_TITLES[dataset]} test image {s.name}: zooms where the ground truth has the most "
                 "thin vessels (white hit, red false, blue missed)", fontsize=9)
    fig.tight_layout()
    return _save(fig, out / f"qualitative_{dataset}.png")


def _weights_of(record: dict) -> str | Path | None:
    """The record's weights, if still on disk (its source path, or shipped weights with that digest)."""
    from experiments.results import sha256_file
    from vesselseg.inference.weights import shipped_weights

    src = record["weights"]["source"]
    shipped = shipped_weights()
    if src in shipped or Path(src).exists():
        return src
    for name, path in shipped.items():
        if sha256_file(path) == record["weights"]["sha256"]:
            return name
    return None


def make_figures(out: str | Path = "docs/figures", results_dir: str | Path = "results", data=None,
                 kinds: tuple[str, ...] = KINDS, datasets: tuple[str, ...] = DATASETS,
                 echo: Callable[[str], None] = print) -> list[Path]:
    """Write the requested figures; returns their paths. Missing inputs are reported and skipped."""
    out = Path(out)
    bad = set(kinds) - set(KINDS)
    if bad:
        raise InputError(f"unknown figure kind(s) {sorted(bad)}; choose from {', '.join(KINDS)}")
    rec = Records(load_records(Path(results_dir))) if Path(results_dir).is_dir() else Records([])
    written: list[Path] = []
    for d in datasets:
        if "roc" in kinds:
            p = roc_figure(rec, d, out)
            written += [p] if p else []
            if not p:
                echo(f"roc_{d}: no model results for {d} yet, skipped")
        if "preprocessing" in kinds:
            written.append(preprocessing_figure(d, data, out))
        if "qualitative" in kinds:
            models = {}
            for m in ("unet", "caffnet"):
                r = rec.model.get(f"{d}_{m}")
                w = _weights_of(r) if r else None
                if w is not None:
                    models[MODEL_TITLES[m]] = w
            if models:
                written.append(qualitative_figure(d, models, data, out))
            else:
                echo(f"qualitative_{d}: no trained U-Net/CaFFNet weights for {d} on disk, skipped")
    for p in written:
        echo(f"wrote {p}")
    return written
