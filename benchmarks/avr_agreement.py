"""CRAE / CRVE / AVR on RITE's test maps: with the reference disc vs with the disc detected in the photograph.

    python benchmarks/avr_agreement.py [--disc-weights disc]

Artery/vein classes: RITE's ground-truth maps of the 20 DRIVE test photographs. Reference disc:
the DRIVE-OD mask (centroid, equal-area radius). Detected disc: the shipped ``disc`` model on the
photograph. Same formulas both ways (Knudtson 2003, micrometres from the disc: 1,800 µm diameter),
so the difference is what disc detection adds to a study's AVR. Writes
``results/biomarkers/rite_test_avr.json`` and prints per-image rows and the agreement.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

from vesselseg.io.av import read_av_label
from vesselseg.io.datasets import load_sample, load_split
from vesselseg.measure.biomarkers import measure_av
from vesselseg.segmentation import Segmenter
from vesselseg.segmentation.disc import detect_disc
from vesselseg.settings import data_root, set_threads

KEYS = ("crae_knudtson_um", "crve_knudtson_um", "avr_knudtson", "zoneB_arteries", "zoneB_veins")


def reference_disc(label: np.ndarray) -> tuple[float, float, float]:
    rows, cols = np.nonzero(label)
    return float(cols.mean()), float(rows.mean()), math.sqrt(label.sum() / math.pi)


def agreement(a: list[float], b: list[float]) -> dict:
    x, y = np.asarray(a, float), np.asarray(b, float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    return {"n": int(ok.sum()), "pearson_r": float(np.corrcoef(x, y)[0, 1]) if ok.sum() > 2 else None,
            "mean_difference": float((y - x).mean()), "sd_difference": float((y - x).std(ddof=1)),
            "mean_reference": float(x.mean())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--disc-weights", default="disc")
    ap.add_argument("--out", type=Path, default=Path("results/biomarkers"))
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    set_threads(args.threads)
    disc_model = Segmenter(args.disc_weights)
    rite = data_root() / "RITE" / "test" / "av"
    rows = []
    print("| image | disc ref (x, y, r) | disc detected | AVR ref disc | AVR detected disc | arteries / veins (ref) |")
    print("|---|---|---|---|---|---|")
    for sample in load_split("drive_od", "test"):
        ls = load_sample(sample, observer2=False)
        classes = read_av_label(rite / f"{sample.name}.png")
        ref = reference_disc(ls.label)
        found = detect_disc(ls.image, disc_model).disc
        det = (found.x, found.y, found.radius) if found else None
        row_ref, _ = measure_av(classes, ls.fov, ref)
        row_det, _ = measure_av(classes, ls.fov, det, disc_source="detected") if det else ({}, [])
        rec = {"name": sample.name, "disc_reference": ref, "disc_detected": det,
               "reference": {k: row_ref.get(k) for k in KEYS}, "detected": {k: row_det.get(k) for k in KEYS}}
        rows.append(rec)
        f = lambda v: "—" if v is None else f"{v:.3f}"  # noqa: E731
        print(f"| {sample.name} | {ref[0]:.0f}, {ref[1]:.0f}, {ref[2]:.0f} | "
              f"{'none' if det is None else f'{det[0]:.0f}, {det[1]:.0f}, {det[2]:.0f}'} | "
              f"{f(row_ref['avr_knudtson'])} | {f(row_det.get('avr_knudtson'))} | "
              f"{row_ref['zoneB_arteries']} / {row_ref['zoneB_veins']} |", flush=True)
    pairs = [r for r in rows if r["detected"]["avr_knudtson"] is not None]
    summary = {k: agreement([r["reference"][k] for r in pairs], [r["detected"][k] for r in pairs])
               for k in ("crae_knudtson_um", "crve_knudtson_um", "avr_knudtson")}
    summary["images"], summary["with_detected_disc"] = len(rows), len(pairs)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "rite_test_avr.json").write_text(json.dumps({"summary": summary, "per_image": rows}, indent=1) + "\n")
    for k in ("crae_knudtson_um", "crve_knudtson_um", "avr_knudtson"):
        s = summary[k]
        print(f"{k}: n={s['n']} r={s['pearson_r']:.3f} mean diff {s['mean_difference']:+.4f} "
              f"(sd {s['sd_difference']:.4f}; reference mean {s['mean_reference']:.4f})")


if __name__ == "__main__":
    main()
