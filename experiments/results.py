"""``results/``: one JSON record per run, per human reference and per cross-dataset test.

A record is everything a results table needs, so that ``python -m experiments report`` can rebuild every table
without the datasets or the weights:

* ``kind: "model"`` (``results/<run>.json``) -- a trained model on its own test split, in both
  inference modes (``whole`` image and the paper's ``sliding`` 64/16 window), pooled and per
  image, plus the run's config, training time, schedule, seed, code versions and weights digest;
* ``kind: "human"`` (``results/human_<dataset>.json``) -- the second observer scored against
  the first on the same test split, same pixels, same threshold;
* ``kind: "cross"`` (``results/cross/<run>_on_<dataset>.json``) -- a model on another dataset's
  test split, at native resolution and through the resolution policy (``scale=auto``).

Protocol for every record: FOV pixels, first observer as ground truth, threshold 0.5 (or the one
passed), pooled over all test pixels unless a key says ``mean``/``std``/``per_image``.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from pathlib import Path

from vesselseg.errors import InputError
from vesselseg.io.files import atomic_write_text

FORMAT = "vesselseg-result/1"
#: The paper's schedule (SPEC section 2); other schedules are labelled in every table.
PAPER_EPOCHS, PAPER_PATCHES_PER_IMAGE, PAPER_PATCH = 50, 1000, 48
INFERENCE_MODES = ("whole", "sliding")
ROC_POINTS = 200



def result_path(results_dir: Path, kind: str, name: str, dataset: str | None = None) -> Path:
    """Where a record lives: ``<name>.json``, ``human_<dataset>.json`` or ``cross/<name>_on_<dataset>.json``."""
    if kind == "model":
        return results_dir / f"{name}.json"
    if kind == "human":
        return results_dir / f"human_{dataset}.json"
    if kind == "cross":
        return results_dir / "cross" / f"{name}_on_{dataset}.json"
    raise ValueError(kind)


def write_record(record: dict, path: Path) -> Path:
    """Write atomically (temporary file + rename): an interrupted write leaves no half record."""
    return atomic_write_text(path, json.dumps(record, indent=1) + "\n")


def read_record(path: Path) -> dict:
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not a readable result record ({exc})") from None
    if record.get("format") != FORMAT:
        raise InputError(f"{path}: not a {FORMAT} record")
    return record


def load_records(results_dir: Path) -> list[dict]:
    """Every study record in ``results_dir`` and its ``cross/`` folder, each with ``_path`` set.

    Other folders (``cross_camera/``: the general model's benchmark) hold records of other tools."""
    records = []
    results_dir = Path(results_dir)
    for path in sorted([*results_dir.glob("*.json"), *(results_dir / "cross").glob("*.json")]):
        rec = read_record(path)
        rec["_path"] = str(path)
        records.append(rec)
    return records


def schedule_of(config: dict) -> dict:
    """``{"epochs", "patches_per_image", "label"}``; label ``"paper"`` or ``"short: N epochs ..."``."""
    epochs = int(config["train"]["epochs"])
    per_image = int(config["patches"]["per_image"])
    size = int(config["patches"]["size"])
    if (epochs, per_image, size) == (PAPER_EPOCHS, PAPER_PATCHES_PER_IMAGE, PAPER_PATCH):
        label = "paper"
    else:
        label = f"short: {epochs} ep x {per_image} patches/img"
        if size != PAPER_PATCH:
            label += f", {size}px"
    return {"epochs": epochs, "patches_per_image": per_image, "patch_size": size, "label": label}


def _evaluation(res: dict, source: str | Path | None = None) -> dict:
    """The parts of an :func:`~vesselseg.engine.evaluate.evaluate` result a record keeps; the
    weights are named as the study names them (``drive``, ``runs/x``), not by a local path."""
    keep = {k: res[k] for k in ("pooled", "mean", "std", "n_images", "seconds_per_image", "roc") if k in res}
    keep["per_image"] = [{"name": n, **row} for n, row in zip(res["names"], res["per_image"])]
    keep["setup"] = dict(res["setup"], weights=str(source)) if source is not None else res["setup"]
    return keep


def sha256_file(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def model_record(name: str, weights: str | Path, data: str | Path | None = None, threshold: float = 0.5,
                 modes: tuple[str, ...] = INFERENCE_MODES, progress: bool = True) -> dict:
    """Evaluate ``weights`` on its training dataset's test split in each of ``modes``."""
    from vesselseg.engine.evaluate import evaluate
    from vesselseg.inference.predictor import Predictor
    from vesselseg.inference.weights import code_version, resolve_weights

    path = resolve_weights(weights)
    predictor = Predictor(path)
    card = predictor.card
    dataset = card["dataset"]["name"]
    config = card.get("config") or {}
    if data is None:  # a folder dataset names its folder in the config; the benchmarks use the default root
        data = (config.get("dataset") or {}).get("data")
    evaluations = {}
    for mode in modes:
        res = evaluate(path, dataset, data, mode=mode, threshold=threshold, predictor=predictor,
                       progress=progress, roc_points=ROC_POINTS if mode == "whole" else 0)
        evaluations[mode] = _evaluation(res, weights)
    if "whole" in modes and "pooling_context" in evaluations["whole"]["setup"]:
        # Models with a global pooling (DBPF, SE, CBAM, ...): also the literal pooling over the
        # whole input, to show what the inference-time patch context is worth
        # (docs/ablations.md, "Pooling context").
        res = evaluate(path, dataset, data, mode="whole", threshold=threshold, progress=progress,
                       predictor=Predictor(path, context="global"))
        evaluations["whole_global"] = _evaluation(res, weights)
    return {
        "format": FORMAT,
        "kind": "model",
        "name": name,
        "dataset": dataset,
        "model": card["model"],
        "seed": card.get("protocol", {}).get("seed"),
        "schedule": schedule_of(config) if config else None,
        "training_seconds": card.get("training_seconds"),
        "trained_on": card.get("trained_on"),
        "training_segments": card.get("training_segments"),
        "trained_with": card.get("code_version"),
        "evaluated_with": code_version(),
        "weights": {"source": str(weights), "sha256": sha256_file(path)},
        "config": config,
        "protocol": {"region": "fov", "ground_truth": "first observer", "threshold": threshold},
        "evaluations": evaluations,
        "created": _now(),
    }


def human_record(dataset: str, data: str | Path | None = None, threshold: float = 0.5) -> dict:
    """The second observer against the first on ``dataset``'s test split."""
    from vesselseg.engine.evaluate import evaluate
    from vesselseg.inference.weights import code_version

    res = evaluate(dataset=dataset, data=data, observer=2, threshold=threshold, progress=False)
    return {
        "format": FORMAT,
        "kind": "human",
        "name": f"human_{dataset}",
        "dataset": dataset,
        "evaluated_with": code_version(),
        "protocol": {"region": "fov", "ground_truth": "first observer", "threshold": threshold},
        "evaluations": {"observer2": _evaluation(res)},
        "created": _now(),
    }


def cross_record(name: str, weights: str | Path, dataset: str, data: str | Path | None = None,
                 threshold: float = 0.5, progress: bool = True) -> dict:
    """A model on another dataset's test split: ``native`` resolution and ``rescaled`` (scale=auto)."""
    from vesselseg.engine.evaluate import evaluate
    from vesselseg.inference.predictor import Predictor
    from vesselseg.inference.weights import code_version, resolve_weights

    path = resolve_weights(weights)
    predictor = Predictor(path)
    evaluations = {}
    for label, scale in (("native", "none"), ("rescaled", "auto")):
        res = evaluate(path, dataset, data, mode="whole", threshold=threshold, predictor=predictor,
                       progress=progress, scale=scale)
        evaluations[label] = _evaluation(res, weights)
    return {
        "format": FORMAT,
        "kind": "cross",
        "name": f"{name}_on_{dataset}",
        "run": name,
        "trained_on": predictor.card["dataset"]["name"],
        "dataset": dataset,
        "model": predictor.card["model"],
        "evaluated_with": code_version(),
        "weights": {"source": str(weights), "sha256": sha256_file(path)},
        "protocol": {"region": "fov", "ground_truth": "first observer", "threshold": threshold,
                     "inference": "whole image"},
        "evaluations": evaluations,
        "created": _now(),
    }
