"""How far can a user trust measurements taken from our masks? DRIVE test: ground truth vs model.

    python benchmarks/bench_measure.py [--weights drive] [--threads 2]

For each DRIVE test image, every measure is computed on the first observer's mask and on the
shipped model's mask (whole-image inference, threshold 0.5), both inside DRIVE's FOV mask. One
table: per measure the mean on the truth and on the model, the Pearson correlation over the 20
images, and the mean relative difference (model - truth) / truth. The second observer's masks
get the same comparison for scale: two humans disagree too.
"""

from __future__ import annotations

import argparse

import numpy as np

from vesselseg.io.datasets import load_sample, load_split
from vesselseg.measure import measure_mask
from vesselseg.settings import set_threads

MEASURES = ("density", "length_px", "segments", "branch_points", "end_points", "width_mean_px", "width_median_px",
            "width_p90_px", "tortuosity_arc_chord", "curvature_rad_per_px", "fractal_dimension")


def compare(truth: list[dict], other: list[dict]) -> dict[str, tuple[float, float, float, float]]:
    out = {}
    for k in MEASURES:
        t = np.array([r[k] for r in truth], float)
        o = np.array([r[k] for r in other], float)
        r = float(np.corrcoef(t, o)[0, 1]) if t.std() > 0 and o.std() > 0 else float("nan")
        out[k] = (t.mean(), o.mean(), r, float(np.mean((o - t) / t)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default="drive")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    set_threads(args.threads)
    from vesselseg.segmentation import Segmenter

    seg = Segmenter(args.weights)
    truth, model, human2 = [], [], []
    for s in load_split("drive", "test"):
        ls = load_sample(s)
        truth.append(measure_mask(ls.label, ls.fov, name=s.name).summary)
        model.append(measure_mask(seg.run(ls.image, fov=ls.fov).vessels, ls.fov).summary)
        if ls.label2 is not None:
            human2.append(measure_mask(ls.label2, ls.fov).summary)
    print(f"DRIVE test, {len(truth)} images, inside the FOV; truth = first observer; model = {args.weights} "
          "(whole image, threshold 0.5)\n")
    print("| measure | truth mean | model mean | Pearson r | mean rel. diff | 2nd observer r | 2nd observer rel. diff |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    cm, ch = compare(truth, model), compare(truth, human2) if human2 else {}
    for k in MEASURES:
        t, o, r, d = cm[k]
        h = ch.get(k, (np.nan,) * 4)
        print(f"| {k} | {t:.4g} | {o:.4g} | {r:.3f} | {100 * d:+.1f}% | {h[2]:.3f} | {100 * h[3]:+.1f}% |")


if __name__ == "__main__":
    main()
