"""Evaluate weights on a dataset's test split: metrics JSON + Markdown, maps, ROC curve."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from vesselseg.errors import InputError
from vesselseg.inference.predictor import Predictor
from vesselseg.inference.windows import PAPER_STRIDE, PAPER_WINDOW, check_window
from vesselseg.io.datasets import load_sample, load_split
from vesselseg.io.files import atomic_write, atomic_write_text
from vesselseg.io.images import ensure_output_dir, read_probability, write_png, write_probability
from vesselseg.metrics import METRIC_NAMES, Evaluator
from vesselseg.segmentation import Segmenter
from vesselseg.validation import finite_number
from vesselseg.vocabulary import REGIONS

REPORT_ORDER = ("auc", "pr_auc", "f1", "accuracy", "sensitivity", "specificity", "precision", "iou", "mcc")


def markdown_table(result: dict, title: str = "") -> str:
    """Pooled and mean ± sd rows for the metrics in :data:`REPORT_ORDER`."""
    keys = [k for k in REPORT_ORDER if k in result["pooled"]]
    lines = [f"### {title}", ""] if title else []
    lines.append("| reduction | " + " | ".join(keys) + " |")
    lines.append("|---|" + "---|" * len(keys))
    lines.append("| pooled pixels | " + " | ".join(f"{result['pooled'][k]:.4f}" for k in keys) + " |")
    lines.append("| mean ± sd over images | "
                 + " | ".join(f"{result['mean'][k]:.4f} ± {result['std'][k]:.4f}" for k in keys) + " |")
    return "\n".join(lines) + "\n"


def _roc_png(pool, path: Path, label: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fpr, tpr, _ = pool.roc_curve_points()
    fig, ax = plt.subplots(figsize=(4, 4), dpi=110)
    ax.plot(fpr, tpr, label=f"{label} (AUC {pool.roc_auc():.4f})")
    ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.legend(loc="lower right")
    fig.tight_layout()
    atomic_write(path, lambda fh: fig.savefig(fh, format="png"))
    plt.close(fig)


def evaluate(weights: str | Path = "drive", dataset: str = "drive", data: str | Path | None = None,
             split: str = "test", mode: str = "whole", region: str = "fov", observer: int = 1,
             threshold: float = 0.5, tta: bool = False, out: str | Path | None = None,
             progress: bool = True, predictor: Predictor | None = None, save_maps: bool = True,
             scale: str | float = "none", roc_points: int = 0, context: str = "patch",
             window: int = PAPER_WINDOW, stride: int = PAPER_STRIDE, maps: str | Path | None = None) -> dict:
    """Score ``weights`` (or, with ``observer=2``, the second human observer) on a split.

    Metrics are over FOV pixels (``region="fov"``) or all pixels (``"image"``), against the first
    observer, pooled over all test pixels and per image (mean ± sd). Returns the result dict and,
    if ``out`` is given, writes ``metrics.json``, ``metrics.md``, ``roc.png`` and per-image
    ``<name>_prob.png`` / ``<name>_pred.png`` there.

    ``scale``: ``"none"`` feeds each image to the network at its own resolution (the benchmark
    protocol); ``"auto"`` or a factor goes through :class:`~vesselseg.segmentation.Segmenter`'s
    resolution policy instead -- what ``vesselseg segment`` does with a photograph from another
    camera (cross-dataset evaluation). ``roc_points > 0`` adds ``"roc"``: that many pooled
    ``(fpr, tpr)`` points, enough to redraw the curve without the dataset. ``context`` (the
    pooling context, ``"patch"`` or ``"global"``, see :class:`~vesselseg.inference.predictor.Predictor`) applies
    when no ``predictor`` is given; a given one keeps its own. ``window`` / ``stride``: the
    sliding windows (the paper's 64 / 16); a window larger than a patch the network padded in
    training adds a line to ``"warnings"`` (see :meth:`Predictor.padded_training_patch`).

    ``maps``: a folder of probability maps already written (by ``segment``, ``evaluate`` or
    another tool), ``<name>_prob.png`` or ``<name>.png`` per test image, 8- or 16-bit: they are
    scored instead of running a model.
    """
    threshold = finite_number(threshold, "threshold", 0, 1, error=InputError)
    if region not in REGIONS:
        raise InputError(f"region must be 'fov' or 'image', not {region!r}")
    if observer not in (1, 2):
        raise InputError("observer must be 1 (the model vs observer 1) or 2 (observer 2 vs observer 1)")
    sliding_kw = {}
    if mode == "sliding" and observer == 1:
        check_window(window, stride)
        if scale != "none" and (window, stride) != (PAPER_WINDOW, PAPER_STRIDE):
            raise InputError("--window/--stride apply with --scale none only (the rescaling path "
                             "uses the paper's 64/16 windows)")
        sliding_kw = {"window": int(window), "stride": int(stride)}
    samples = load_split(dataset, split, data)
    if maps is not None:
        maps = Path(maps)
        if not maps.is_dir():
            raise InputError(f"{maps}: no such folder of probability maps")
        if observer != 1:
            raise InputError("--maps scores written maps against the first observer; drop --observer 2")
    if observer == 1 and predictor is None and maps is None:
        predictor = Predictor(weights, context=context)
    run = None
    if observer == 1 and scale != "none" and maps is None:
        segmenter = Segmenter(predictor=predictor, mode=mode, tta=tta, threshold=threshold, scale=scale)
        run = lambda image, fov: segmenter.run(image, fov).prob  # noqa: E731
    out_dir = ensure_output_dir(out) if out else None
    ev, human = Evaluator(threshold), Evaluator(threshold)
    seconds = []
    for s in tqdm(samples, desc=f"evaluate {dataset}/{split}", disable=not progress, unit="image"):
        ls = load_sample(s)
        # A window past the image is zero-padded: harmless for the paper's 64 px, but 100000 px
        # would pad every image to 10^10 pixels. Refused before the first window runs.
        largest = max(PAPER_WINDOW, *ls.image.shape[:2])
        if sliding_kw and maps is None and sliding_kw["window"] > largest:
            raise InputError(f"--window {window} is larger than {ls.name} ({ls.image.shape[1]}x{ls.image.shape[0]} "
                             f"px): at most {largest} px here (or use --mode whole)")
        fov = ls.fov if region == "fov" else None
        if ls.label is None:
            raise InputError(f"{s.image}: no ground truth to evaluate against")
        if maps is not None:
            prob = read_probability(_map_file(maps, ls.name), ls.label.shape)
            if ls.label2 is not None:
                human.add(ls.label2.astype(np.float32), ls.label, fov)
        elif observer == 2:
            if ls.label2 is None:
                raise InputError(f"{dataset}/{split} has no second observer")
            prob = ls.label2.astype(np.float32)
        else:
            t0 = time.perf_counter()
            prob = run(ls.image, ls.fov) if run else predictor(ls.image, ls.fov, mode=mode, tta=tta, **sliding_kw)
            seconds.append(time.perf_counter() - t0)
            if ls.label2 is not None:
                human.add(ls.label2.astype(np.float32), ls.label, fov)
        ev.add(prob, ls.label, fov)
        if out_dir is not None and save_maps:
            write_probability(out_dir / f"{ls.name}_prob.png", prob)
            write_png(out_dir / f"{ls.name}_pred.png", prob >= threshold)
    result = ev.result()
    result["names"] = [s.name for s in samples]
    source = f"maps in {maps}" if maps is not None else (str(weights) if observer == 1 else "second observer")
    result["setup"] = {"weights": source, "dataset": dataset,
                       "split": split, "mode": mode, "tta": tta, "region": region, "observer": observer,
                       "ground_truth": "first observer", "threshold": threshold,
                       "scale": scale if (observer == 1 and maps is None) else "none"}
    if observer == 1 and predictor is not None and predictor.context is not None:
        result["setup"]["pooling_context"] = predictor.context
    if sliding_kw and predictor is not None:
        result["setup"].update(sliding_kw)
        padded = predictor.padded_training_patch()
        if padded and window > padded[0]:
            patch, size = padded
            result["warnings"] = [
                f"this network pads its {patch}-px training patches to {size} px and was trained on the "
                f"first {patch}: in {window}-px windows the output past {patch} px is at positions it "
                f"never learned (for CE-Net it marks vessels there); --window {patch} repeats the "
                f"training geometry"]
    if roc_points > 0:
        fpr, tpr, _ = ev.pool.roc_curve_points(max_points=roc_points)
        result["roc"] = {"fpr": [round(float(v), 5) for v in fpr], "tpr": [round(float(v), 5) for v in tpr]}
    if seconds:
        result["seconds_per_image"] = float(np.mean(seconds))
    if human.per_image:
        h = human.result()
        result["second_observer"] = {"pooled": h["pooled"], "mean": h["mean"], "std": h["std"]}
    if out_dir is not None:
        atomic_write_text(out_dir / "metrics.json", json.dumps(result, indent=2) + "\n")
        title = (f"{result['setup']['weights']} on {dataset}/{split}, {region.upper()} pixels, {mode}, "
                 f"threshold {threshold}")
        md = markdown_table(result, title)
        if "second_observer" in result:
            md += "\n" + markdown_table(result["second_observer"], "second observer vs first (human reference)")
            md += ("\nThe human map is binary: its AUC and PR-AUC describe a single operating point, "
                   "not a ranking, and are not comparable with a model's.\n")
        md += "".join(f"\nwarning: {w}\n" for w in result.get("warnings", []))
        atomic_write_text(out_dir / "metrics.md", md)
        label = ("second observer" if observer == 2 else maps.name if maps is not None
                 else (predictor.card.get("name") or Path(str(weights)).stem))
        _roc_png(ev.pool, out_dir / "roc.png", label)
    return result


def _map_file(folder: Path, name: str) -> Path:
    for candidate in (f"{name}_prob.png", f"{name}.png", f"{name}_prob.tif", f"{name}.tif"):
        if (folder / candidate).is_file():
            return folder / candidate
    raise InputError(f"{folder}: no probability map for test image {name} ({name}_prob.png or {name}.png)")


def metrics_line(result: dict) -> str:
    """The pooled metrics of one evaluation on one line (``auc=0.9811 f1=0.8306 ...``)."""
    p = result["pooled"]
    return " ".join(f"{k}={p[k]:.4f}" for k in REPORT_ORDER if k in p)


__all__ = ["evaluate", "markdown_table", "metrics_line", "METRIC_NAMES"]
