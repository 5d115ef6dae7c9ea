"""Artery/vein classification on RITE test and AVRDB's held-out part, and the whole chain's AVR on RITE.

    python benchmarks/av_eval.py [--av-weights av] [--weights general] [--datasets rite avrdb]

Per image: the vessel model (``--weights``, resolution policy) gives the vessel mask; the A/V model
splits it (segment vote and pixel vote); the A/V model is also run on the *ground-truth* vessel mask
(the classifier judged alone). Scores (:mod:`vesselseg.metrics.av`, pooled over the images by
adding counts): artery and vein Dice (FOV pixels, uncertain left out), accuracy on the ground-truth
centreline, and accuracy on the detected part of it with the detected fraction.

On RITE test it also measures CRAE, CRVE and AVR (Knudtson) from the whole chain (photograph in)
and from the ground-truth map, with the same disc (DRIVE-OD's reference disc; and the whole chain
again with its own detected disc): Pearson r and the mean difference. Writes
``results/av/<av weights>_on_<dataset>.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from avr_agreement import agreement, reference_disc

from vesselseg.io.datasets import load_av_classes, load_sample, load_split
from vesselseg.measure.biomarkers import measure_av
from vesselseg.metrics.av import AVCounts, av_counts
from vesselseg.segmentation import Segmenter
from vesselseg.segmentation.av import ArteryVeinClassifier, pixel_classes, segment_vote
from vesselseg.segmentation.disc import detect_disc
from vesselseg.settings import set_threads

TITLES = {"rite": "RITE test (20; DRIVE's camera)", "avrdb": "AVRDB held-out (last 30; another camera)"}
AVR_KEYS = ("crae_knudtson_um", "crve_knudtson_um", "avr_knudtson")


def _fmt(v) -> str:
    return "—" if v is None else f"{v:.4f}"


def evaluate_set(dataset: str, vessel_model: Segmenter, classifier: ArteryVeinClassifier,
                 disc_model: Segmenter | None) -> dict:
    pooled = {"segment": AVCounts(), "pixel": AVCounts()}
    per_image, avr_rows = [], []
    refs = {s.name: s for s in load_split("drive_od", "test")} if dataset == "rite" else {}
    t0 = time.perf_counter()
    for sample in load_split(dataset, "test"):
        ls = load_sample(sample, observer2=False)
        truth = load_av_classes(sample)
        seg = vessel_model.run(ls.image, fov=ls.fov)
        prob = classifier.probabilities(ls.image, fov=ls.fov)
        score = prob[0] - prob[1]
        on_truth = segment_vote(truth != 0, score)
        row = {"name": sample.name}
        for vote, classes in (("segment", segment_vote(seg.vessels, score)), ("pixel", pixel_classes(seg.vessels, score))):
            c = av_counts(classes, truth, ls.fov, on_truth=on_truth if vote == "segment" else
                          pixel_classes(truth != 0, score))
            pooled[vote] = pooled[vote] + c
            row[vote] = c.scores()
            if vote == "segment":
                chain = classes
        per_image.append(row)
        if sample.name in refs:  # RITE: AVR from the chain vs from the truth, same disc
            disc_label = load_sample(refs[sample.name], observer2=False).label
            ref = reference_disc(disc_label)
            truth_row, _ = measure_av(truth, ls.fov, ref)
            chain_row, _ = measure_av(chain, ls.fov, ref)
            found = detect_disc(ls.image, disc_model).disc if disc_model is not None else None
            det = (found.x, found.y, found.radius) if found else None
            chain_det, _ = measure_av(chain, ls.fov, det, disc_source="detected") if det else ({}, [])
            avr_rows.append({"name": sample.name, "disc_reference": ref, "disc_detected": det,
                             "truth": {k: truth_row.get(k) for k in AVR_KEYS},
                             "chain": {k: chain_row.get(k) for k in AVR_KEYS},
                             "chain_detected_disc": {k: chain_det.get(k) for k in AVR_KEYS}})
        s = row["segment"]
        print(f"| {sample.name} | {_fmt(s['artery_dice'])} | {_fmt(s['vein_dice'])} | {_fmt(s['acc_truth_centreline'])} "
              f"| {_fmt(s['acc_detected_centreline'])} | {_fmt(s['detected_fraction'])} |", flush=True)
    out = {"dataset": dataset, "title": TITLES[dataset], "images": len(per_image),
           "seconds": round(time.perf_counter() - t0, 1),
           "pooled": {vote: dict(c.scores(), counts=c.to_dict()) for vote, c in pooled.items()},
           "per_image": per_image}
    if avr_rows:
        out["avr"] = {
            "same_reference_disc": {k: agreement([r["truth"][k] for r in avr_rows], [r["chain"][k] for r in avr_rows])
                                    for k in AVR_KEYS},
            "chain_with_detected_disc": {k: agreement([r["truth"][k] for r in avr_rows],
                                                      [r["chain_detected_disc"][k] for r in avr_rows]) for k in AVR_KEYS},
            "per_image": avr_rows}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--av-weights", default="av")
    ap.add_argument("--weights", default="general", help="vessel model")
    ap.add_argument("--datasets", nargs="+", default=["rite", "avrdb"], choices=sorted(TITLES))
    ap.add_argument("--out", type=Path, default=Path("results/av"))
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    set_threads(args.threads)
    vessel_model = Segmenter(args.weights)
    classifier = ArteryVeinClassifier(args.av_weights)
    disc_model = Segmenter("disc")
    args.out.mkdir(parents=True, exist_ok=True)
    tag = Path(str(args.av_weights)).stem if str(args.av_weights).endswith(".safetensors") else Path(str(args.av_weights)).name
    for dataset in args.datasets:
        print(f"\n{TITLES[dataset]} -- vessels: {args.weights}, A/V: {args.av_weights} (segment vote)")
        print("| image | artery Dice | vein Dice | acc. GT centreline | acc. detected centreline | detected |")
        print("|---|---|---|---|---|---|")
        res = evaluate_set(dataset, vessel_model, classifier, disc_model)
        res.update(vessel_weights=str(args.weights), av_weights=str(args.av_weights))
        (args.out / f"{tag}_on_{dataset}.json").write_text(json.dumps(res, indent=1) + "\n")
        for vote, s in res["pooled"].items():
            print(f"pooled ({vote} vote): artery Dice {_fmt(s['artery_dice'])}, vein Dice {_fmt(s['vein_dice'])}, "
                  f"acc GT centreline {_fmt(s['acc_truth_centreline'])}, acc detected centreline "
                  f"{_fmt(s['acc_detected_centreline'])} (detected {_fmt(s['detected_fraction'])})")
        for kind, table in ((k, v) for k, v in res.get("avr", {}).items() if k != "per_image"):
            for k, a in table.items():
                print(f"{kind}: {k} n={a['n']} r={a['pearson_r']:.3f} mean diff {a['mean_difference']:+.4f} "
                      f"(sd {a['sd_difference']:.4f}; truth mean {a['mean_reference']:.4f})")


if __name__ == "__main__":
    main()
