"""Where a batch's time goes: `vesselseg segment` on DRIVE-size photographs, step by step.

    python benchmarks/profile_segment.py                  # DRIVE test (20), 2 threads, all settings
    python benchmarks/profile_segment.py --images 10 --threads 2 --setting default --setting onnx

Each setting runs in a fresh process: the model is loaded, one photograph is segmented as a
warm-up (not counted), then the batch goes through ``segment_files`` exactly as the command
line runs it, with the per-step profile (``on_timing``). Printed per setting: images per second
after start-up, the mean seconds of each step (decode, FOV, resampling, preprocessing, network,
mapping back, each output's encoding and write), the output bytes, and whether the written maps
equal the first setting's pixel for pixel (then AUC and F1 cannot differ; both are printed,
computed from the written ``_prob.png`` files: FOV pixels of DRIVE's shipped masks, first
observer, threshold 0.5, pooled). Start-up: wall time of ``vesselseg segment`` on 1 and on 6
photographs in fresh processes, ``T1 - (T6 - T1) / 5``.

Without DRIVE in ``VESSELSEG_DATA`` the photographs are synthetic 565x584 JPEGs (no scores).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SETTINGS = {
    # the batch path before issue 27: Pillow-level PNG compression (6), no overlap
    "before": {"compression": 6, "overlap": False},
    "level1": {"compression": 1, "overlap": False},
    "default": {},  # level 1 + writing overlapped with the next image
    "onnx": {"backend": "onnxruntime"},
    "onnx-int8": {"backend": "onnxruntime-int8"},
    "no-overlay": {"outputs": ("vessels", "prob")},
    "onnx-no-overlay": {"backend": "onnxruntime", "outputs": ("vessels", "prob")},
    # the general model (a U-Net: a third of CaFFNet's network time); its maps differ from drive's
    "general": {"weights": "general"},
    "general-int8": {"weights": "general", "backend": "onnxruntime-int8"},
}


def photographs(n: int, folder: Path) -> tuple[list[Path], list | None]:
    """DRIVE test photographs (and their samples for scoring), else ``n`` synthetic ones."""
    from vesselseg.errors import VesselsegError
    from vesselseg.io.datasets import load_split

    try:
        split = load_split("drive", "test")[:n]
        return [Path(s.image) for s in split], split
    except VesselsegError:
        sys.path.insert(0, str(Path(__file__).parent))
        from bench_batch import make_photographs

        make_photographs(folder, n, size=584)
        return sorted(folder.glob("*.jpg")), None


def child(spec: dict) -> None:
    from vesselseg.api import StepProfile
    from vesselseg.segmentation import Segmenter, segment_files
    from vesselseg.settings import set_threads

    set_threads(spec["threads"])
    files = [Path(f) for f in spec["files"]]
    setting = spec["setting"]
    seg = Segmenter(setting.get("weights", "drive"), backend=setting.get("backend", "torch"))
    with tempfile.TemporaryDirectory() as warm:
        segment_files(files[:1], warm, seg, on_result=lambda s: None)
    steps = StepProfile()
    t0 = time.perf_counter()
    report = segment_files(files, spec["out"], seg, on_result=lambda s: None, on_timing=steps,
                           outputs=tuple(setting.get("outputs", ("vessels", "prob", "overlay"))),
                           compression=setting.get("compression", 1), overlap=setting.get("overlap", True))
    secs = time.perf_counter() - t0
    assert not report.failed, report.failed
    print(json.dumps({"images": len(report.done), "seconds": secs, "steps": steps.means()}))


def run_child(spec: dict) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(spec["threads"]))
    proc = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)], capture_output=True, text=True,
                          env=env)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def startup_seconds(files: list[Path], threads: int) -> tuple[float, float, float]:
    """``(T1, T6, start-up)`` of the command line in fresh processes."""
    walls = []
    for n in (1, 6):
        with tempfile.TemporaryDirectory() as out:
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "vesselseg", "segment", *map(str, files[:n]), "--out", out,
                            "--no-progress", "--threads", str(threads)], check=True, capture_output=True)
            walls.append(time.perf_counter() - t0)
    return walls[0], walls[1], walls[0] - (walls[1] - walls[0]) / 5


def scores(out: Path, samples) -> tuple[float, float]:
    """Pooled FOV AUC and F1 (threshold 0.5) of the written probability maps."""
    import numpy as np

    from vesselseg.io.datasets import load_sample
    from vesselseg.io.images import read_probability
    from vesselseg.metrics import confusion, roc_auc
    from vesselseg.metrics import scores as counts_scores

    probs, labels = [], []
    for s in samples:
        loaded = load_sample(s, observer2=False)
        prob = read_probability(out / f"{Path(s.image).stem}_prob.png")
        probs.append(prob[loaded.fov])
        labels.append(loaded.label[loaded.fov])
    p, y = np.concatenate(probs), np.concatenate(labels)
    return roc_auc(p, y), counts_scores(confusion(p, y, threshold=0.5))["f1"]


def same_maps(a: Path, b: Path) -> bool:
    import numpy as np

    from vesselseg.io.images import read_image

    for f in sorted(a.glob("*.png")):
        other = b / f.name
        if other.exists() and not np.array_equal(read_image(f), read_image(other)):
            return False
    return True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--setting", action="append", choices=sorted(SETTINGS),
                    help="repeatable (default: all of them)")
    ap.add_argument("--no-startup", action="store_true", help="skip the start-up measurement")
    args = ap.parse_args()
    names = args.setting or list(SETTINGS)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        files, samples = photographs(args.images, tmp / "photos")
        print(f"{len(files)} photographs ({'DRIVE test' if samples else 'synthetic'}), {args.threads} threads")
        rows, first = [], None
        for name in names:
            out = tmp / name
            out.mkdir()
            r = run_child({"files": [str(f) for f in files], "out": str(out), "threads": args.threads,
                           "setting": SETTINGS[name]})
            r["name"], r["bytes"] = name, sum(f.stat().st_size for f in out.glob("*.png"))
            r["same"] = "—" if first is None else ("yes" if same_maps(out, first) else "NO")
            if samples is not None and (out / f"{files[0].stem}_prob.png").exists():
                r["auc"], r["f1"] = scores(out, samples)
            first = first or out
            rows.append(r)
            print(json.dumps(r), flush=True)
        steps = list(dict.fromkeys(k for r in rows for k in r["steps"]))
        print("\n| setting | images/s | s/image | " + " | ".join(steps) + " | MB written | maps as first | AUC | F1 |")
        print("|---" * (len(steps) + 7) + "|")
        for r in rows:
            cells = " | ".join(f"{r['steps'].get(k, 0.0):.3f}" for k in steps)
            auc = f"{r['auc']:.4f} | {r['f1']:.4f}" if "auc" in r else "— | —"
            print(f"| {r['name']} | {r['images'] / r['seconds']:.2f} | {r['seconds'] / r['images']:.3f} | {cells} | "
                  f"{r['bytes'] / 1e6:.1f} | {r['same']} | {auc} |")
        if not args.no_startup:
            t1, t6, start = startup_seconds(files, args.threads)
            print(f"\nstart-up: vesselseg segment on 1 photograph {t1:.2f} s, on 6 {t6:.2f} s -> "
                  f"start-up {start:.2f} s")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child(json.loads(sys.argv[2]))
    else:
        main()
