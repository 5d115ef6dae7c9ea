"""Where a trained model's errors lie: false positives near vessels (too wide) or elsewhere, whole
image vs sliding windows, and how F1 moves with the threshold.

    python benchmarks/error_anatomy.py runs/drive_sa_unet/model.safetensors --dataset drive
    python benchmarks/error_anatomy.py drive --dataset drive --images 5 --threads 2

Per test image (the first ``--images``) and inference mode: false positives (FOV pixels above 0.5
that the first observer left blank), the share within ``--near`` px of a true vessel (vessels drawn
too wide), within 20 px of the FOV edge, and neither. Then pooled F1 / Se / Sp of whole-image
inference (``--mode sliding``: the paper's windows) over the whole test split at several
thresholds: if F1 climbs steeply with the threshold the map is miscalibrated, if it barely moves
the map is confidently wrong. Last, the confident misses that cost AUC: the share of vessel
pixels scoring at or below the median background probability, and how many of them lie on thin
(<= 2 px wide) vessels. Reads the datasets through ``VESSELSEG_DATA`` (or ``--data``); prints
numbers only, writes nothing.
"""

from __future__ import annotations

import sys

import numpy as np
from _test_split import confident_misses, load, parser

THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def main(argv: list[str] | None = None) -> int:
    ap = parser(__doc__, threads=1)
    ap.add_argument("--images", type=int, default=3, help="images for the per-image breakdown")
    ap.add_argument("--near", type=float, default=2.0, help="'near a vessel' distance in px")
    ap.add_argument("--mode", default="whole", choices=("whole", "sliding"),
                    help="inference mode for the pooled threshold sweep and confident misses")
    args = ap.parse_args(argv)
    loaded = load(args)
    if loaded is None:
        return 2
    predictor, samples = loaded

    from scipy import ndimage as ndi

    from vesselseg.measure.calibre import width_map
    from vesselseg.metrics.confusion import confusion, scores

    print(f"{args.weights} on {args.dataset} test, FOV pixels, first observer, threshold 0.5")
    print(f"{'image':<12} {'mode':<8} {'false pos':>9} {'near vessel':>11} {'near edge':>9} {'elsewhere':>9}")
    probs, labels, widths = [], [], []
    for i, s in enumerate(samples):
        maps = {m: predictor(s.image, s.fov, mode=m)
                for m in (("whole", "sliding") if i < args.images else (args.mode,))}
        probs.append(maps[args.mode][s.fov])
        labels.append(s.label[s.fov])
        # A vessel pixel's width: the calibre estimate's largest value within 2 px (its centre line's)
        widths.append(ndi.maximum_filter(width_map(s.label), 5)[s.fov])
        if i >= args.images:
            continue
        to_vessel = ndi.distance_transform_edt(~s.label)
        to_edge = ndi.distance_transform_edt(s.fov)
        for mode, prob in maps.items():
            fp = (prob >= 0.5) & ~s.label & s.fov
            n = max(int(fp.sum()), 1)
            near_v = to_vessel[fp] <= args.near
            near_e = to_edge[fp] <= 20
            print(f"{s.name:<12} {mode:<8} {int(fp.sum()):>9} {near_v.sum() / n:>11.2f} "
                  f"{near_e.sum() / n:>9.2f} {(~near_v & ~near_e).sum() / n:>9.2f}")

    p, y = np.concatenate(probs), np.concatenate(labels)
    print(f"\n{args.mode} inference, pooled over {len(samples)} images: mean probability on vessels "
          f"{p[y].mean():.3f}, on background {p[~y].mean():.3f}")
    for t in THRESHOLDS:
        sc = scores(confusion(p, y, threshold=t))
        print(f"  threshold {t:.1f}: F1 {sc['f1']:.4f}  Se {sc['sensitivity']:.4f}  Sp {sc['specificity']:.4f}")
    w = np.concatenate(widths)
    missed = confident_misses(p, y)
    thin = (w[missed] <= 2).mean() if missed.any() else float("nan")
    print(f"confident misses: {missed.sum() / y.sum():.2%} of vessel pixels score below the median background "
          f"probability; {thin:.0%} of them on vessels <= 2 px wide (all vessel pixels: {(w[y] <= 2).mean():.0%})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
