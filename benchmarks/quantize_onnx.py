"""int8 quantisation of a shipped model's ONNX export: speed and AUC/F1 change (issue 27, item 3).

    python benchmarks/quantize_onnx.py                 # drive, DRIVE test, 2 threads
    python benchmarks/quantize_onnx.py --weights general --threads 2 --out results/throughput/int8_general.json

Variants, each scored through the same ``Segmenter`` (whole image, ``--scale auto``, shipped FOV
masks; FOV pixels, first observer, threshold 0.5, pooled over the test split) and timed in
seconds per image after one warm-up:

- ``fp32``: the shipped export;
- ``static int8``: :mod:`vesselseg.inference.quantise` (what ``vesselseg export --int8`` makes):
  QDQ format, int8 weights per channel and uint8 activations with ranges calibrated (MinMax) on
  the prepared training photographs of the model's own dataset (never its test split);
- ``dynamic int8``: ONNX Runtime's dynamic quantisation (int8 weights, activations quantised per
  batch at run time; ``ConvInteger``).

The quantised files are written to a temporary folder; nothing is shipped by this script.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np


def quantise_variants(src: Path, out_dir: Path, datasets: list[str], n: int) -> dict[str, Path]:
    """fp32, ONNX Runtime's dynamic quantisation, and the project's static int8 (calibrated on
    ``n`` training photographs, shared among ``datasets``)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from vesselseg.inference.quantise import quantise_static
    from vesselseg.io.datasets import load_sample, load_split
    from vesselseg.segmentation.calibration import calibration_inputs

    per = -(-n // len(datasets))
    photos = [(s.image, s.fov) for d in datasets
              for s in (load_sample(x, observer2=False) for x in load_split(d, "train")[:per])]
    inputs = calibration_inputs(src, photos)
    dataset = "+".join(datasets)
    print(f"calibration: {len(inputs)} inputs from {dataset} training photographs", file=sys.stderr)
    paths = {"fp32": src, "static int8 (QDQ, per channel)": out_dir / "static.onnx",
             "dynamic int8": out_dir / "dynamic.onnx"}
    quantise_static(src, paths["static int8 (QDQ, per channel)"], inputs, calibration=f"{dataset} training, {n}")
    pre = out_dir / "pre.onnx"
    quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
    quantize_dynamic(str(pre), str(paths["dynamic int8"]), weight_type=QuantType.QInt8)
    carry_card(src, paths["dynamic int8"])
    return paths


def carry_card(src: Path, dst: Path) -> None:
    """Give ``dst`` the vesselseg model card of ``src`` (the quantiser drops it)."""
    import onnx

    from vesselseg.inference.quantise import card_of, write_with_card

    write_with_card(onnx.load(str(dst)), card_of(src), dst)


def score(path: Path, dataset: str, threads: int, limit: int | None = None) -> dict:
    from vesselseg.inference.onnx import OnnxModel
    from vesselseg.inference.predictor import Predictor
    from vesselseg.io.datasets import load_sample, load_split
    from vesselseg.metrics import confusion, roc_auc, scores
    from vesselseg.segmentation import Segmenter

    model = OnnxModel(path, threads=threads)
    seg = Segmenter(path, predictor=Predictor(path, model=model, card=model.card, backend="onnxruntime"))
    samples = [load_sample(s, observer2=False) for s in load_split(dataset, "test")[:limit]]
    seg.run(samples[0].image, fov=samples[0].fov)  # warm-up
    probs, labels, secs = [], [], 0.0
    for s in samples:
        r = seg.run(s.image, fov=s.fov)
        secs += r.timings["network"]
        probs.append(r.prob[s.fov])
        labels.append(s.label[s.fov])
    p, y = np.concatenate(probs), np.concatenate(labels)
    return {"auc": roc_auc(p, y), "f1": scores(confusion(p, y, threshold=0.5))["f1"],
            "network_s_per_image": secs / len(samples), "mb": path.stat().st_size / 1e6}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", default="drive")
    ap.add_argument("--dataset", default=None, help="default: the weights' name when it is a benchmark, else drive")
    ap.add_argument("--calibration-images", type=int, default=20)
    ap.add_argument("--calibrate-on", default=None, help="comma-separated datasets (default: --dataset)")
    ap.add_argument("--ship", action="store_true",
                    help="install the static int8 file beside the shipped weights (<name>.int8.onnx) when it "
                         "loses at most 0.001 AUC")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--test-images", type=int, default=None, help="score only the first N (a quick check)")
    ap.add_argument("--out", type=Path, default=None, help="write the table as JSON here")
    args = ap.parse_args()
    import torch

    from vesselseg.inference.onnx import onnx_for_weights

    torch.set_num_threads(args.threads)
    dataset = args.dataset or (args.weights if args.weights in ("drive", "stare", "chase") else "drive")
    src = onnx_for_weights(args.weights)
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        calibrate_on = (args.calibrate_on or dataset).split(",")
        variants = quantise_variants(src, Path(tmp), calibrate_on, args.calibration_images)
        for label, path in variants.items():
            rows[label] = score(path, dataset, args.threads, args.test_images)
            print(label, json.dumps(rows[label]), flush=True)
        static = "static int8 (QDQ, per channel)"
        if args.ship:
            loss = rows["fp32"]["auc"] - rows[static]["auc"]
            if loss <= 0.001 and args.test_images is None:
                import shutil

                dst = src.with_suffix("").with_suffix(".int8.onnx")
                shutil.copyfile(variants[static], dst)
                print(f"shipped {dst} (AUC change {-loss:+.4f})")
            else:
                print(f"not shipped: AUC change {-loss:+.4f} (or a partial test split)")
    base = rows["fp32"]
    print(f"\n{args.weights} on {dataset} test (FOV, first observer, threshold 0.5, pooled), {args.threads} threads")
    print("| variant | network s / image | speed-up | AUC | ΔAUC | F1 | ΔF1 | file MB |")
    print("|---|---|---|---|---|---|---|---|")
    for label, r in rows.items():
        print(f"| {label} | {r['network_s_per_image']:.3f} | {base['network_s_per_image'] / r['network_s_per_image']:.2f}x"
              f" | {r['auc']:.4f} | {r['auc'] - base['auc']:+.4f} | {r['f1']:.4f} | {r['f1'] - base['f1']:+.4f} |"
              f" {r['mb']:.2f} |")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"weights": args.weights, "dataset": dataset, "threads": args.threads,
                                        "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
