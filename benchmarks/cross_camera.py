"""Cross-camera benchmark: weights x test splits through the resolution policy, one record each.

    python benchmarks/cross_camera.py runs/general_unet runs/lodo_*_unet drive stare chase \\
        [--datasets drive stare chase avrdb] [--out results/cross_camera] [--threads 2]
    python benchmarks/cross_camera.py --report [--out results/cross_camera] [--markdown docs/cross_camera.md]

Every weight is run the way ``vesselseg segment`` runs it on a stranger's photograph: FOV derived
or shipped, crop, rescale to the model's training FOV diameter (``--scale auto``), whole image,
threshold 0.5. Scores are over FOV pixels against the first observer (AVRDB: the union of its
artery/vein/crossing colours), pooled over the split, with the per-image spread. Two columns
describe *what kind* of vessels a model draws, for the question whether AVRDB's broad-brush
labels teach wide vessels and lost capillaries:

- ``se_thin``: sensitivity on ground-truth vessel pixels of vessels at most 2 px wide (width =
  :func:`vesselseg.measure.calibre.width_map`, largest value within 2 px, as in error_anatomy),
- ``width_ratio``: on the ground truth's centreline pixels that the model detects, the median of
  (predicted calibre / ground-truth calibre), calibre = :func:`~vesselseg.measure.calibre.width_map`
  (the predicted one: its largest value within 1 px, as the two centrelines need not coincide).
  1 = vessels drawn as wide as the observer drew them; > 1 wider. Comparing the same pixels keeps
  the missed thin vessels out of it (they are ``se_thin``'s).

A record says whether the test split's dataset was among the model's training sources
(``seen``), so ``--report`` can lay out the leave-one-dataset-out table: each dataset tested by
the model trained on all the others.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

DATASETS = ("drive", "stare", "chase", "avrdb")
NAMES = {"drive": "DRIVE", "stare": "STARE", "chase": "CHASE_DB1", "avrdb": "AVRDB (last 30)"}


def sources_of(card: dict) -> list[str]:
    ds = card.get("dataset") or {}
    if ds.get("name") == "mixture":
        return list(ds.get("sources") or [])
    return [ds["name"]] if ds.get("name") else []


def calibre_ratios(pred: np.ndarray, label: np.ndarray) -> np.ndarray:
    """Predicted / true calibre at the true centreline pixels the prediction covers (1-D)."""
    from scipy import ndimage as ndi
    from skimage.morphology import skeletonize

    from vesselseg.measure.calibre import width_map

    centre = skeletonize(label) & pred
    if not centre.any():
        return np.zeros(0)
    return ndi.maximum_filter(width_map(pred), 3)[centre] / width_map(label)[centre]


def score(weights: str, dataset: str, data=None, ruler: float = 1.0) -> dict:
    from scipy import ndimage as ndi

    from vesselseg.io.datasets import load_sample, load_split
    from vesselseg.measure.calibre import width_map
    from vesselseg.metrics import Evaluator
    from vesselseg.segmentation import Segmenter

    seg = Segmenter(weights, scale="auto")
    seg.reference *= ruler  # segment at `ruler` x the scale the FOV ruler asks for
    ev = Evaluator(0.5)
    thin_hit = thin_all = 0
    ratios, seconds, scales = [], [], []
    for s in load_split(dataset, "test", data):
        ls = load_sample(s, observer2=False)
        t0 = time.perf_counter()
        res = seg.run(ls.image, ls.fov)
        seconds.append(time.perf_counter() - t0)
        scales.append(res.scale)
        ev.add(res.prob, ls.label, ls.fov)
        label = ls.label & ls.fov
        thin = label & (ndi.maximum_filter(width_map(label), 5) <= 2)
        thin_all += int(thin.sum())
        thin_hit += int((thin & res.vessels).sum())
        ratios.append(calibre_ratios(res.vessels & ls.fov, label))
    out = ev.result()
    card = seg.card
    f1 = [r["f1"] for r in out["per_image"]]
    return {
        "format": "vesselseg-cross-camera/1", "weights": str(weights), "model_name": card.get("name"),
        "network": card["model"]["name"], "dataset": dataset, "sources": sources_of(card),
        "seen": dataset in sources_of(card), "n_images": len(f1),
        "protocol": {"region": "fov", "ground_truth": "first observer", "threshold": 0.5,
                     "inference": "whole image, --scale auto (resolution policy)", "ruler": ruler},
        "pooled": out["pooled"], "mean": out["mean"], "std": out["std"],
        "per_image": {"names": out.get("names", []), "f1": f1, "auc": [r["auc"] for r in out["per_image"]]},
        "f1_min": float(min(f1)), "se_thin": thin_hit / max(thin_all, 1),
        "width_ratio": float(np.median(np.concatenate(ratios))), "scale": float(np.median(scales)),
        "seconds_per_image": float(np.mean(seconds)),
        "training_seconds": card.get("training_seconds"),
        "trained_on": (card.get("trained_on") or {}).get("cpu") or (card.get("trained_on") or {}),
    }


def record_name(weights: str, card_name: str | None) -> str:
    return card_name or Path(weights).stem


def run(args) -> int:
    import torch

    from vesselseg.errors import VesselsegError
    from vesselseg.inference.predictor import Predictor

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for w in args.weights:
        try:
            name = record_name(w, Predictor(w).card.get("name"))
        except VesselsegError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        for d in args.datasets:
            rec = score(w, d, args.data, args.ruler)
            tag = "" if args.ruler == 1.0 else f"_ruler{args.ruler:g}"
            (out / f"{name}_on_{d}{tag}.json").write_text(json.dumps(rec, indent=1) + "\n")
            p = rec["pooled"]
            print(f"{name + tag:22s} {d:6s} {'seen' if rec['seen'] else 'UNSEEN':6s} AUC {p['auc']:.4f} F1 {p['f1']:.4f} "
                  f"Se {p['sensitivity']:.4f} Sp {p['specificity']:.4f} thinSe {rec['se_thin']:.3f} "
                  f"width x{rec['width_ratio']:.2f}", flush=True)
    return 0


def _row(label: str, r: dict, extra: str = "") -> str:
    p, m, s = r["pooled"], r["mean"], r["std"]
    minutes = f"{r['training_seconds'] / 60:.0f}" if r.get("training_seconds") else "—"
    return (f"| {label} | {p['auc']:.4f} | {p['f1']:.4f} | {p['sensitivity']:.4f} | {p['specificity']:.4f} | "
            f"{m['f1']:.4f} ± {s['f1']:.4f} (min {r['f1_min']:.4f}) | {r['se_thin']:.3f} | {r['width_ratio']:.2f} | "
            f"{minutes}{extra} |")


HEADER = ("| model | AUC | F1 | Se | Sp | F1 per image (mean ± sd) | Se ≤2 px | width ratio | train min |\n"
          "|---|---|---|---|---|---|---|---|---|")


def report(args) -> int:
    recs = [json.loads(p.read_text()) for p in sorted(Path(args.out).glob("*_on_*.json"))]
    if not recs:
        print(f"error: no records in {args.out}", file=sys.stderr)
        return 2
    lines = []
    for d in DATASETS:
        rows = [r for r in recs if r["dataset"] == d]
        if not rows:
            continue
        lines += [f"### {NAMES[d]} test split", "", HEADER]
        order = sorted(rows, key=lambda r: (r["seen"], len(r["sources"]) < 2, r["model_name"],
                                            r["protocol"].get("ruler", 1.0)))
        for r in order:
            kind = ("leave-one-out (unseen)" if not r["seen"] and len(r["sources"]) > 1 else
                    f"trained on {'+'.join(r['sources'])} (seen)" if len(r["sources"]) > 1 else
                    "dedicated, own test split" if r["seen"] else f"dedicated ({r['sources'][0]}), other camera")
            ruler = r["protocol"].get("ruler", 1.0)
            lines.append(_row(f"{r['model_name']} — {kind}" + (f", scale x{ruler:g}" if ruler != 1.0 else ""), r))
        lines.append("")
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text + "\n")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("weights", nargs="*", help="run folders, .safetensors files or shipped names")
    ap.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    ap.add_argument("--data", default=None)
    ap.add_argument("--out", default="results/cross_camera")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ruler", type=float, default=1.0,
                    help="segment at this multiple of the scale the FOV diameter asks for (the ruler question)")
    ap.add_argument("--report", action="store_true", help="print the tables from the records in --out")
    ap.add_argument("--markdown", default=None, help="with --report: also write the tables to this file")
    args = ap.parse_args(argv)
    if args.report:
        return report(args)
    if not args.weights:
        ap.error("name weights to score, or --report")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
