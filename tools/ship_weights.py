"""Install a finished run's weights into the package as shipped weights.

    python tools/ship_weights.py runs/drive_caffnet drive

Copies ``RUN/model.safetensors`` and its model card to ``src/vesselseg/weights/NAME.*``, adds the
training resolution to the card when the run predates it (median FOV diameter of the training
images, needed by the resolution policy), checks that the card holds test metrics, and writes
``NAME.onnx`` (the ONNX export, so ``--backend onnxruntime`` needs no export step).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from vesselseg.inference.onnx import export_onnx
from vesselseg.inference.weights import write_card
from vesselseg.io.datasets import load_sample, load_split
from vesselseg.io.fov import training_resolution

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "src" / "vesselseg" / "weights"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("name")
    args = parser.parse_args()
    src = args.run / "model.safetensors"
    card = json.loads(src.with_suffix(".json").read_text())
    if "test_metrics" not in card:
        print(f"{src}: the card has no test metrics; finish the run (it evaluates at the end)", file=sys.stderr)
        return 2
    if "resolution" not in card:
        train = [load_sample(s, observer2=False) for s in load_split(card["dataset"]["name"], "train")]
        card["resolution"] = training_resolution([s.fov for s in train])
    card.pop("format", None)
    WEIGHTS_DIR.mkdir(parents=True, exist_ok=True)
    dst = WEIGHTS_DIR / f"{args.name}.safetensors"
    shutil.copyfile(src, dst)
    write_card(card, dst.with_suffix(".json"))
    export_onnx(dst, dst.with_suffix(".onnx"))
    for p in (dst, dst.with_suffix(".json"), dst.with_suffix(".onnx")):
        print(f"{p} ({p.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
