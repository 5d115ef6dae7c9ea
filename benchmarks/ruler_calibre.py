"""Is the FOV diameter a good ruler? Vessel calibre in the pixels the network sees, per camera.

    python benchmarks/ruler_calibre.py                         # labels of DRIVE, STARE, CHASE_DB1, AVRDB
    python benchmarks/ruler_calibre.py --weights general --images 10   # + the model's own masks (test split)

For every image: the resolution policy's factor ``s = 540 / FOV diameter`` (the general model's
training scale), the label's skeleton, and the calibre at each skeleton pixel
(:func:`vesselseg.measure.calibre.width_map`) times ``s``. Printed per dataset, mean over its
images: the median, 90th and 98th percentile of those calibres (the 98th: the main vessels near
the disc) and the vessel fraction of the FOV. If the FOV were a perfect ruler, the main vessels
would be equally wide in every camera; the medians also depend on how many capillaries the
observers drew. With ``--weights`` the same percentiles of the model's thresholded mask (0.5)
are printed for the first ``--images`` test images, beside the label's on the same images.
"""

from __future__ import annotations

import argparse

import numpy as np

DATASETS = ("drive", "stare", "chase", "avrdb")
REFERENCE_DIAMETER = 540.0


def skeleton_calibres(mask: np.ndarray, factor: float) -> np.ndarray:
    """Calibre (pixels after scaling by ``factor``) at each skeleton pixel of a bool mask."""
    from skimage.morphology import skeletonize

    from vesselseg.measure.calibre import width_map

    return width_map(mask)[skeletonize(mask)] * factor


def label_table(datasets, data=None) -> None:
    from vesselseg.io.datasets import load_sample, load_split
    from vesselseg.io.fov import fov_diameter

    print("| set | images | FOV diameter | scale | median | p90 | p98 | vessel fraction |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for ds in datasets:
        rows = []
        for split in ("train", "test"):
            for s in load_split(ds, split, data):
                ls = load_sample(s, observer2=False)
                label = ls.label > 0.5
                d = fov_diameter(ls.fov)
                w = skeleton_calibres(label, REFERENCE_DIAMETER / d)
                rows.append((d, REFERENCE_DIAMETER / d, *np.percentile(w, (50, 90, 98)), label[ls.fov].mean()))
        m = np.mean(rows, axis=0)
        print(f"| {ds} | {len(rows)} | {m[0]:.0f} | {m[1]:.2f} | {m[2]:.2f} | {m[3]:.2f} | {m[4]:.2f} | {m[5]:.3f} |")


def model_table(weights: str, datasets, images: int, data=None) -> None:
    from vesselseg.io.datasets import load_sample, load_split
    from vesselseg.segmentation import Segmenter

    seg = Segmenter(weights, scale="auto")
    print(f"\n{weights}: calibre percentiles at the network's scale, first {images} test images")
    print("| set | mask p80 | p90 | p95 | p98 | label p90 | p95 | p98 |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for ds in datasets:
        rows = []
        for s in load_split(ds, "test", data)[:images]:
            ls = load_sample(s, observer2=False)
            r = seg.run(ls.image, ls.fov)
            pred = np.percentile(skeleton_calibres(r.vessels, r.scale), (80, 90, 95, 98))
            true = np.percentile(skeleton_calibres(ls.label > 0.5, r.scale), (90, 95, 98))
            rows.append((*pred, *true))
        print(f"| {ds} | " + " | ".join(f"{v:.2f}" for v in np.mean(rows, axis=0)) + " |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", nargs="+", choices=DATASETS, default=list(DATASETS))
    ap.add_argument("--data", default=None)
    ap.add_argument("--weights", default=None, help="also measure this model's masks")
    ap.add_argument("--images", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    from vesselseg.settings import set_threads

    set_threads(args.threads)
    label_table(args.datasets, args.data)
    if args.weights:
        model_table(args.weights, args.datasets, args.images, args.data)


if __name__ == "__main__":
    main()
