"""The DRIVE moonshot table (issue 22 item 5): single models, flip TTA and probability averages on DRIVE test.

    python benchmarks/moonshot.py drive general runs/drive_from_general [--out results/moonshot/drive.json]

Same protocol as the README tables: the 20 DRIVE test photographs, FOV pixels, first observer,
threshold 0.5, pooled over all test pixels; every model through ``segment``'s path (FOV, crop,
resolution policy ``--scale auto``, whole image). Rows: each weight alone, each with flip TTA
(identity + horizontal + vertical flips averaged), and the average of every pair's probability maps
(without and with TTA). The maps are computed once per weight and TTA setting.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path

import numpy as np

from vesselseg.io.datasets import load_sample, load_split
from vesselseg.metrics import PixelPool, confusion, scores
from vesselseg.segmentation import Segmenter
from vesselseg.settings import set_threads


def score_maps(maps: list[np.ndarray], samples) -> dict:
    pool, counts = PixelPool(), None
    for prob, s in zip(maps, samples):
        pool.add(prob, s.label, s.fov)
        c = confusion(prob >= 0.5, s.label, s.fov)
        counts = c if counts is None else counts + c
    return {"auc": pool.roc_auc(), **{k: v for k, v in scores(counts).items() if k in ("f1", "sensitivity",
                                                                                     "specificity", "accuracy")}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("weights", nargs="+")
    ap.add_argument("--out", type=Path, default=Path("results/moonshot/drive.json"))
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    set_threads(args.threads)
    samples = [load_sample(s, observer2=False) for s in load_split("drive", "test")]
    maps, seconds = {}, {}
    for w in args.weights:
        for tta in (False, True):
            seg = Segmenter(w, scale="auto", tta=tta)
            t0 = time.perf_counter()
            maps[(w, tta)] = [seg.run(s.image, fov=s.fov).prob for s in samples]
            seconds[(w, tta)] = (time.perf_counter() - t0) / len(samples)
    rows = []
    for (w, tta), m in maps.items():
        rows.append({"models": [w], "tta": tta, "seconds_per_image": round(seconds[(w, tta)], 3), **score_maps(m, samples)})
    for a, b in itertools.combinations(args.weights, 2):
        for tta in (False, True):
            avg = [(p + q) / 2 for p, q in zip(maps[(a, tta)], maps[(b, tta)])]
            rows.append({"models": [a, b], "tta": tta,
                         "seconds_per_image": round(seconds[(a, tta)] + seconds[(b, tta)], 3), **score_maps(avg, samples)})
    print("| models | flip TTA | AUC | F1 | Se | Sp | s / image |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {' + '.join(r['models'])} | {'yes' if r['tta'] else 'no'} | {r['auc']:.4f} | {r['f1']:.4f} | "
              f"{r['sensitivity']:.4f} | {r['specificity']:.4f} | {r['seconds_per_image']:.2f} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"protocol": "DRIVE test, FOV, 1st observer, threshold 0.5, pooled, scale auto, "
                                                "whole image", "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
