"""Optic disc detection on the held-out parts of the disc sets: centre error, radius error, failures.

    python benchmarks/disc_detection.py [WEIGHTS] [--datasets idrid_od drive_od drishti_od avwide_od]

WEIGHTS: the disc model (default: the shipped ``disc``; or a run folder / .safetensors). Truth:
the disc mask's centroid and the radius of the circle of equal area (IDRiD/DIARETDB1: the box's
ellipse). Per image: centre error in true disc radii, radius error (predicted / true - 1), and a
*hit* when the centre error is at most half a radius. "No disc" answers are counted apart: on an
image with a disc they are misses; the two IDRiD images without a disc box are scored as correct
when the detector says "no disc". Writes ``results/disc/<weights>_on_<dataset>.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

from vesselseg.io.datasets import load_sample, load_split
from vesselseg.segmentation import Segmenter
from vesselseg.segmentation.disc import detect_disc
from vesselseg.settings import set_threads

TITLES = {"idrid_od": "IDRiD + DIARETDB1 (every 5th, 121)", "drive_od": "DRIVE test (20)",
          "drishti_od": "Drishti-GS1 (last 10)", "avwide_od": "AV-WIDE (last 10; ultra-widefield, never trained on)"}


def truth(label: np.ndarray) -> tuple[float, float, float] | None:
    if not label.any():
        return None
    rows, cols = np.nonzero(label)
    return float(cols.mean()), float(rows.mean()), math.sqrt(label.sum() / math.pi)


def score(weights: str, dataset: str, segmenter: Segmenter) -> dict:
    per_image = []
    t0 = time.perf_counter()
    for s in load_split(dataset, "test"):
        ls = load_sample(s, observer2=False)
        true = truth(ls.label)
        found = detect_disc(ls.image, segmenter).disc
        row = {"name": s.name, "true": true, "found": None if found is None else
               [found.x, found.y, found.radius, found.confidence]}
        if true is not None and found is not None:
            row["centre_error_radii"] = math.hypot(found.x - true[0], found.y - true[1]) / true[2]
            row["radius_error"] = found.radius / true[2] - 1
        row["hit"] = (true is None and found is None) or (row.get("centre_error_radii", math.inf) <= 0.5)
        per_image.append(row)
    with_disc = [r for r in per_image if r["true"] is not None]
    errs = [r["centre_error_radii"] for r in with_disc if "centre_error_radii" in r]
    rad = [r["radius_error"] for r in with_disc if "radius_error" in r and r["hit"]]
    return {
        "weights": weights, "dataset": dataset, "n_images": len(per_image),
        "hit_rate": sum(r["hit"] for r in per_image) / len(per_image),
        "no_disc_answers": sum(r["found"] is None for r in with_disc),
        "centre_error_median_radii": float(np.median(errs)) if errs else None,
        "radius_error_median_abs": float(np.median(np.abs(rad))) if rad else None,
        "radius_error_mean": float(np.mean(rad)) if rad else None,
        "seconds_per_image": (time.perf_counter() - t0) / len(per_image),
        "per_image": per_image,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("weights", nargs="?", default="disc")
    ap.add_argument("--datasets", nargs="+", default=list(TITLES))
    ap.add_argument("--out", type=Path, default=Path("results/disc"))
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    set_threads(args.threads)
    segmenter = Segmenter(args.weights)
    name = Path(args.weights).stem if args.weights.endswith(".safetensors") else Path(args.weights).name
    args.out.mkdir(parents=True, exist_ok=True)
    print("| held-out set | images | hit rate (centre within r/2) | 'no disc' on a disc | "
          "median centre error (radii) | median abs radius error (hits) | s/image |")
    print("|---|---|---|---|---|---|---|")
    for d in args.datasets:
        rec = score(args.weights, d, segmenter)
        (args.out / f"{name}_on_{d}.json").write_text(json.dumps(rec, indent=1) + "\n")
        f = lambda v, fmt: "—" if v is None else format(v, fmt)  # noqa: E731
        print(f"| {TITLES.get(d, d)} | {rec['n_images']} | {rec['hit_rate']:.3f} | {rec['no_disc_answers']} | "
              f"{f(rec['centre_error_median_radii'], '.3f')} | {f(rec['radius_error_median_abs'], '.3f')} | "
              f"{rec['seconds_per_image']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
