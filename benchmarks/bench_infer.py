"""Inference speed and quality: whole-image vs the paper's sliding window vs ONNX Runtime.

    python benchmarks/bench_infer.py [--weights drive] [--images 20] [--threads 2]

Prints one table for the DRIVE test images (FOV pixels, first observer, threshold 0.5; every
mode through the same :class:`~vesselseg.segmentation.Segmenter`, so cropping and
preprocessing are identical): seconds per image (after one warm-up image), pooled AUC and F1.
Then the whole/sliding speed-up with the AUC difference, and, for one 3504x2336 photograph
(the embedded sample resampled to a 3000-px FOV clipped top and bottom like a 3:2 camera's),
the first segmentation's time, the whole process's wall time (imports, model loading) and peak
resident memory of a fresh process with the default
resolution policy and at native resolution (``--scale none``, tiled). In between, the resolution
policy's effect measured: DRIVE test images upsampled 3x, segmented with ``--scale auto`` and
``--scale none``, scored against the upsampled ground truth.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from vesselseg.io.datasets import load_sample, load_split
from vesselseg.metrics import Evaluator
from vesselseg.settings import set_threads

BIG_SCRIPT = """
import json, resource, sys, time
import numpy as np
from vesselseg.settings import set_threads
set_threads({threads})
from vesselseg.segmentation import Segmenter
import monai.inferers  # what a tiled pass imports; start-up is timed separately
image = np.load(sys.argv[1])
seg = Segmenter({weights!r}, scale={scale!r}, backend={backend!r})
t0 = time.perf_counter()
res = seg.run(image)
seconds = time.perf_counter() - t0
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2  # KiB -> GiB
print(json.dumps({{"seconds": seconds, "rss_gib": rss, "scale": res.scale, "vessels": res.vessel_fraction}}))
"""


def big_photograph() -> np.ndarray:
    """3504x2336 uint8 RGB: the sample retina resampled to a 3000-px FOV, clipped top/bottom."""
    import cv2

    from vesselseg.sample import sample_image

    retina = cv2.resize(np.rint(sample_image() * 255).astype(np.uint8), (3000, 3000), interpolation=cv2.INTER_CUBIC)
    canvas = np.zeros((2336, 3504, 3), np.uint8)
    top = (3000 - 2336) // 2
    canvas[:, 252:3252] = retina[top:top + 2336]
    return canvas


def run_modes(weights: str, n_images: int, threads: int) -> None:
    from vesselseg.segmentation import Segmenter

    samples = [load_sample(s, observer2=False) for s in load_split("drive", "test")[:n_images]]
    modes = {
        "sliding (paper: 64/16), torch": Segmenter(weights, mode="sliding", backend="torch"),
        "whole, torch": Segmenter(weights, mode="whole", backend="torch"),
        "sliding (paper: 64/16), onnxruntime": Segmenter(weights, mode="sliding", backend="onnxruntime"),
        "whole, onnxruntime": Segmenter(weights, mode="whole", backend="onnxruntime"),
    }
    rows = {}
    for name, seg in modes.items():
        seg.run(samples[0].image, fov=samples[0].fov)  # warm-up (allocator, oneDNN kernels)
        ev = Evaluator()
        seconds = []
        for s in samples:
            t0 = time.perf_counter()
            res = seg.run(s.image, fov=s.fov)
            seconds.append(time.perf_counter() - t0)
            ev.add(res.prob, s.label, s.fov)
        pooled = ev.result()["pooled"]
        rows[name] = (float(np.mean(seconds)), pooled["auc"], pooled["f1"])
    print(f"DRIVE test, {len(samples)} images, FOV pixels, first observer, threshold 0.5, {threads} threads\n")
    print("| mode | s / image | AUC | F1 |")
    print("|---|---:|---:|---:|")
    for name, (sec, auc, f1) in rows.items():
        print(f"| {name} | {sec:.3f} | {auc:.4f} | {f1:.4f} |")
    names = list(rows)
    for backend, (slide, whole) in (("torch", names[:2]), ("onnxruntime", names[2:])):
        (s_sec, s_auc, _), (w_sec, w_auc, _) = rows[slide], rows[whole]
        print(f"\n{backend}: whole is {s_sec / w_sec:.1f}x faster than sliding (target >= 20x), "
              f"AUC whole - sliding {w_auc - s_auc:+.4f} (target within 0.002)")
    print(f"onnxruntime whole vs torch whole: {rows[names[1]][0] / rows[names[3]][0]:.2f}x faster, "
          f"AUC difference {rows[names[3]][1] - rows[names[1]][1]:+.6f}; "
          f"onnxruntime whole vs torch sliding: {rows[names[0]][0] / rows[names[3]][0]:.1f}x faster")


def run_big(weights: str, threads: int) -> None:
    image = big_photograph()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "big.npy")
        np.save(path, image)
        print(f"\none 3504x2336 photograph (FOV diameter 3000 px), fresh process, {threads} threads\n")
        print("| setting | s segmentation (first image) | s whole process | peak RSS GiB | scale | vessel fraction |")
        print("|---|---:|---:|---:|---:|---:|")
        for label, scale, backend in (("auto scale (default), onnxruntime", "auto", "onnxruntime"),
                                      ("auto scale (default), torch (default)", "auto", "torch"),
                                      ("native pixels (--scale none), tiled 1024, torch", "none", "torch")):
            script = BIG_SCRIPT.format(threads=threads, weights=weights, scale=scale, backend=backend)
            env = dict(os.environ, OMP_NUM_THREADS=str(threads))
            t0 = time.perf_counter()
            out = subprocess.run([sys.executable, "-c", script, path], capture_output=True, text=True, env=env)
            process_s = time.perf_counter() - t0
            if out.returncode != 0:
                print(f"| {label} | failed: {out.stderr.strip().splitlines()[-1]} | | | | |")
                continue
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"| {label} | {r['seconds']:.2f} | {process_s:.1f} | {r['rss_gib']:.2f} | {r['scale']:.3f} "
                  f"| {r['vessels']:.3f} |")
    print("\ntargets for the 3504x2336 photograph: under 15 s and under 4 GB")


def run_resolution(weights: str, n_images: int, factor: float = 3.0) -> None:
    """DRIVE test images upsampled ``factor`` times (a higher-resolution camera), scored against
    the equally upsampled ground truth: the resolution policy vs native pixels."""
    from vesselseg.segmentation import Segmenter
    from vesselseg.segmentation.resolution import resize_image, resize_mask

    samples = [load_sample(s, observer2=False) for s in load_split("drive", "test")[:n_images]]
    print(f"\nresolution policy: {len(samples)} DRIVE test images upsampled {factor:g}x "
          f"(FOV ~{540 * factor:.0f} px), FOV pixels, first observer, threshold 0.5\n")
    print("| setting | scale used | AUC | F1 | vessel fraction (truth in FOV) |")
    print("|---|---:|---:|---:|---:|")
    for label, scale in (("auto (default)", "auto"), ("native pixels (--scale none)", "none")):
        seg = Segmenter(weights, scale=scale)
        ev, frac, truth, scales = Evaluator(), [], [], []
        for s in samples:
            size = (round(s.image.shape[0] * factor), round(s.image.shape[1] * factor))
            fov, label_big = resize_mask(s.fov, size), resize_mask(s.label, size)
            res = seg.run(resize_image(s.image, size), fov=fov)
            ev.add(res.prob, label_big, fov)
            frac.append(res.vessel_fraction)
            truth.append((label_big & fov).sum() / fov.sum())
            scales.append(res.scale)
        pooled = ev.result()["pooled"]
        print(f"| {label} | {np.mean(scales):.3f} | {pooled['auc']:.4f} | {pooled['f1']:.4f} "
              f"| {np.mean(frac):.3f} ({np.mean(truth):.3f}) |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default="drive")
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip-big", action="store_true")
    parser.add_argument("--resolution-images", type=int, default=5)
    args = parser.parse_args()
    set_threads(args.threads)
    run_modes(args.weights, args.images, args.threads)
    if args.resolution_images:
        run_resolution(args.weights, args.resolution_images)
    if not args.skip_big:
        run_big(args.weights, args.threads)


if __name__ == "__main__":
    main()
