"""Batch segmentation at scale: images/s and peak memory over synthetic 1000x1000 photographs.

    python benchmarks/bench_batch.py                    # 200 images; workers 0 and 1; 2 threads
    python benchmarks/bench_batch.py --images 50 --workers 0 --workers 2

Each configuration runs in a fresh process (``--child``), so its peak RSS (``ru_maxrss``) is its
own; decode workers are reported separately (``RUSAGE_CHILDREN``). Memory must not grow with the
number of images (streaming): the script also runs a quarter of the batch and prints both peaks.
The photographs are synthetic (a bright disc with dark curved "vessels", JPEG q=90), made once
into a temporary folder: no dataset images are involved.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def make_photographs(folder: Path, n: int, size: int = 1000, seed: int = 0) -> None:
    import cv2

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[:size, :size]
    disc = (yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (0.45 * size) ** 2
    for i in range(n):
        img = np.zeros((size, size, 3), np.uint8)
        img[disc] = (40, 90, 200)  # BGR: orange-red fundus
        for _ in range(25):  # random curved vessels
            pts = np.cumsum(rng.normal(0, 25, (12, 2)), axis=0) + rng.uniform(0.2, 0.8, 2) * size
            cv2.polylines(img, [pts.astype(np.int32)], False, (30, 40, 110), int(rng.integers(2, 9)))
        img = cv2.GaussianBlur(img, (5, 5), 0)
        img[~disc] = 0
        noise = rng.normal(0, 4, img.shape)
        img = np.clip(img + noise, 0, 255).astype(np.uint8)
        cv2.imwrite(str(folder / f"synthetic_{i:04d}.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 90])


def child(folder: str, out: str, workers: int, threads: int, limit: int) -> None:
    from vesselseg.api import segment_paths
    from vesselseg.settings import set_threads

    set_threads(threads)
    files = sorted(Path(folder).glob("*.jpg"))[:limit]
    t0 = time.perf_counter()
    report = segment_paths([str(f) for f in files], out, "drive", on_result=lambda s: None, workers=workers)
    secs = time.perf_counter() - t0
    print(json.dumps({
        "images": len(report.done), "failed": len(report.failed), "seconds": secs,
        "images_per_s": len(report.done) / secs,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "worker_peak_rss_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }))


def run(folder: Path, workers: int, threads: int, limit: int) -> dict:
    with tempfile.TemporaryDirectory() as out:
        env = dict(os.environ, OMP_NUM_THREADS=str(threads))
        proc = subprocess.run([sys.executable, __file__, "--child", str(folder), out, str(workers), str(threads),
                               str(limit)], capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            raise SystemExit(proc.stderr[-3000:])
        return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--workers", type=int, action="append", help="decode workers (repeatable; default 0 and 1)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "photos"
        t0 = time.perf_counter()
        make_photographs(folder, args.images)
        print(f"made {args.images} synthetic 1000x1000 JPEGs in {time.perf_counter() - t0:.1f} s")
        print("| images | decode workers | threads | images/s | s/image | peak RSS main (MiB) | peak RSS per worker (MiB) |")
        print("|---|---|---|---|---|---|---|")
        for w in args.workers or [0, 1]:
            for n in (max(1, args.images // 4), args.images):
                r = run(folder, w, args.threads, n)
                assert r["failed"] == 0 and r["images"] == n, r
                print(f"| {n} | {w} | {args.threads} | {r['images_per_s']:.2f} | {1 / r['images_per_s']:.3f} | "
                      f"{r['peak_rss_mib']:.0f} | {r['worker_peak_rss_mib']:.0f} |", flush=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]))
    else:
        main()
