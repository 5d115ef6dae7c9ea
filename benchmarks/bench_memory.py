"""Peak memory and time of ``vesselseg segment`` on one large synthetic photograph.

    python benchmarks/bench_memory.py 8000              # 8000x8000 PNG, default options
    python benchmarks/bench_memory.py 14000 -- --scale auto
    python benchmarks/bench_memory.py 20000 50 -- --scale none    # a 20000 (W) x 50 (H) strip

Writes a synthetic fundus photograph (a flat orange disc with dark lines on black: compresses to
a few hundred KB even at 14000x14000, like the report in issue 28) into a temporary folder,
runs the real command line in a child process under ``/usr/bin/time -v`` and prints its peak
resident memory (``Maximum resident set size``) and wall time, plus the command used. Arguments
after ``--`` are passed on to ``vesselseg segment``.

Peak memory grows with the pixel count; on a shared machine measure a smaller size first and
extrapolate (the pipeline is linear in pixels) before trying 14000x14000 (~200 Mpx).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def make_photograph(path: Path, width: int, height: int) -> Path:
    """A flat fundus-like photograph, drawn band by band so the generator stays small in memory."""
    import cv2

    img = np.empty((height, width, 3), np.uint8)
    img[:] = (40, 90, 200)  # BGR: orange-red fundus
    thick = max(2, round(min(height, width) / 150))
    rng = np.random.default_rng(0)
    for _ in range(12):  # dark curved "vessels"
        pts = (np.cumsum(rng.normal(0, 0.08, (10, 2)), axis=0) + rng.uniform(0.3, 0.7, 2)) * (width, height)
        cv2.polylines(img, [pts.astype(np.int32)], False, (30, 40, 110), thick)
    cy, cx, r = height / 2, width / 2, 0.45 * min(height, width)
    xx = np.arange(width, dtype=np.float32)
    for y0 in range(0, height, 2048):  # black outside the circular aperture
        yy = np.arange(y0, min(height, y0 + 2048), dtype=np.float32)[:, None]
        img[y0 : y0 + len(yy)][(yy - cy) ** 2 + (xx[None, :] - cx) ** 2 >= r * r] = 0
    cv2.imwrite(str(path), img)
    return path


def main(argv=None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1 :]
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("width", type=int)
    ap.add_argument("height", type=int, nargs="?", help="default: square")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    height = args.height or args.width
    with tempfile.TemporaryDirectory() as tmp:
        photo = make_photograph(Path(tmp) / f"big_{args.width}x{height}.png", args.width, height)
        cmd = ["/usr/bin/time", "-v", sys.executable, "-m", "vesselseg", "segment", str(photo),
               "--out", str(Path(tmp) / "out"), "--no-progress", "--threads", str(args.threads), *extra]
        env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        wall = time.perf_counter() - t0
        rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
        stderr = "\n".join(line for line in proc.stderr.splitlines() if not line.startswith("\t"))
        print(f"photograph: {args.width}x{height} px, {photo.stat().st_size / 1e3:.0f} KB PNG")
        print("command: vesselseg segment " + " ".join(cmd[cmd.index("segment") + 1 :]))
        print(proc.stdout.strip())
        if stderr.strip():
            print(stderr.strip())
        print(f"exit {proc.returncode}; peak RSS {int(rss.group(1)) / 1024 ** 2:.2f} GiB; wall {wall:.1f} s"
              if rss else f"exit {proc.returncode}; wall {wall:.1f} s (no /usr/bin/time output)")


if __name__ == "__main__":
    main()
