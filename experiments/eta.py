"""How much training a study has left: the time column of ``python -m experiments study --dry-run``.

A started run is timed by its own ``log.csv`` (median seconds of its epochs: an epoch stretched by
a pause or a competing process would drag a mean). A run not started yet is timed by the pace
(patches per second) of another run of the same network -- same model options, patch size,
batch size and precision -- from that run's log if it is on this machine, else from its record's
``training_seconds``. Paces differ about 3x between the project's two machine kinds, so an
estimate says whose pace it used. Epochs a log marks as trained on a GPU (its ``device`` column,
or for logs older than that column its record's ``training_segments``) time only a machine with a
GPU, and the other way round: a run started on a leased GPU and finished on the CPU is timed by its
CPU epochs. Evaluation time is not included.
"""

from __future__ import annotations

import csv
import statistics
from dataclasses import dataclass
from pathlib import Path

from experiments.results import load_records
from vesselseg.io.datasets import TRAIN_IMAGES


@dataclass
class Estimate:
    """Training seconds left for one run (``None``: no basis yet) and what they rest on."""

    seconds: float | None
    basis: str
    epochs_done: int = 0
    epochs: int = 0

    def describe(self) -> str:
        done = f"epoch {self.epochs_done}/{self.epochs}, " if self.epochs_done else ""
        if self.seconds is None:
            return f"{done}no estimate ({self.basis})"
        return f"{done}about {format_duration(self.seconds)} ({self.basis})"


def format_duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    if minutes == 0:
        return "under 1 min"
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def _pace_key(config: dict, options: bool = True) -> tuple:
    """What sets the pace of a training step: the network (with or without its options) and how
    a batch is run."""
    train = config["train"]
    model = repr(config["model"]) if options else config["model"]["name"]
    bf16 = train.get("bf16")
    if bf16 == "auto":  # as the trainer resolves it on this machine (a GPU trains in fp32)
        from vesselseg.settings import native_bf16_cpu

        bf16 = native_bf16_cpu() and not _has_gpu()
    return (model, config["patches"]["size"], train["batch_size"], bool(train.get("channels_last")), bool(bf16))


def _log_rows(run_dir: Path) -> list[dict]:
    """The finished epochs of a run's ``log.csv``. Read here, not through the trainer that writes
    it, so that a dry run does not import torch."""
    path = run_dir / "log.csv"
    if not path.is_file():
        return []
    try:
        with path.open(newline="") as fh:
            return [row for row in csv.DictReader(fh) if row.get("seconds") and row.get("patches_per_s")]
    except (OSError, csv.Error):
        return []


def _has_gpu() -> bool:
    """An NVIDIA device node: enough to choose which log rows time this machine, without torch."""
    return Path("/dev/nvidia0").exists()


def _segment_on_gpu(segment: dict) -> bool:
    """Whether a record's training segment ran on a GPU (its ``trained_on`` names one)."""
    return "gpu" in segment["trained_on"]


def _on_gpu(row: dict, segments: list[dict] | None) -> bool:
    """Whether a log row's epoch ran on a GPU: its ``device`` column, else the run's record's
    ``training_segments`` (logs written before the column have none, and four runs began on a
    leased GPU), else a CPU's (the other logs before the column were all written on CPUs)."""
    if row.get("device"):
        return row["device"] != "cpu"
    for seg in segments or ():
        first, last = seg["epochs"]
        if first <= int(row.get("epoch") or 0) <= last:
            return _segment_on_gpu(seg)
    return False


def _this_machine(rows: list[dict], segments: list[dict] | None = None) -> list[dict]:
    """The rows trained on this machine's kind of device (see :func:`_on_gpu`)."""
    want_gpu = _has_gpu()
    return [r for r in rows if _on_gpu(r, segments) == want_gpu]


def _record_time_here(rec: dict) -> tuple[int, float]:
    """``(epochs, seconds)`` of a record's training on this machine's kind of device: its
    ``training_segments`` where it has them (a run partly trained on a leased GPU), else all of
    it as a CPU's (records before segments were all trained on CPUs)."""
    segments, gpu = rec.get("training_segments"), _has_gpu()
    if not segments:
        return (0, 0.0) if gpu else (int(rec["config"]["train"]["epochs"]), float(rec["training_seconds"]))
    here = [seg for seg in segments if _segment_on_gpu(seg) == gpu]
    return (sum(b - a + 1 for a, b in (seg["epochs"] for seg in here)),
            sum(float(seg["seconds"]) for seg in here))


def _patches_per_epoch(config: dict) -> int | None:
    n = TRAIN_IMAGES.get(config["dataset"]["name"])
    return None if n is None else n * int(config["patches"]["per_image"])


def _paces(runs: dict[str, dict], runs_dir: Path,
           results_dir: Path) -> tuple[dict[tuple, tuple[float, str]], dict[tuple, tuple[float, str]]]:
    """``(exact, by_network)``: ``{pace key: (patches per second, source)}`` keyed with and without
    the model options. A log on this machine beats a record (which may come from the other
    machine kind, and whose total includes any pauses); among several, the newest wins."""
    found: list[tuple[tuple, str, float, dict]] = []  # (rank, source, pace, config)
    records = load_records(results_dir) if Path(results_dir).is_dir() else []
    segments = {rec.get("name"): rec.get("training_segments") for rec in records}
    for rec in records:
        if rec.get("kind") != "model" or not rec.get("training_seconds") or "config" not in rec:
            continue
        per_epoch = _patches_per_epoch(rec["config"])
        epochs, seconds = _record_time_here(rec)
        if per_epoch and seconds:
            pace = per_epoch * epochs / seconds
            found.append(((0, str(rec.get("created", ""))), f"record {rec['name']}", pace, rec["config"]))
    for name, config in runs.items():
        rows = _this_machine(_log_rows(runs_dir / name), segments.get(name))
        if rows:
            pace = statistics.median(float(r["patches_per_s"]) for r in rows)
            found.append(((1, (runs_dir / name / "log.csv").stat().st_mtime), f"pace of {name}",
                          pace, config))
    exact: dict[tuple, tuple[float, str]] = {}
    by_network: dict[tuple, tuple[float, str]] = {}
    for _, source, pace, config in sorted(found, key=lambda f: f[0]):  # best source written last
        exact[_pace_key(config)] = (pace, source)
        by_network[_pace_key(config, options=False)] = (pace, f"{source}, other options")
    return exact, by_network


def estimate(configs: dict[str, dict], todo: list[str], runs_dir: str | Path,
             results_dir: str | Path) -> dict[str, Estimate]:
    """Training time left for each run in ``todo``.

    ``configs``: ``{run name: resolved config dict}`` for every run of the study (runs not in
    ``todo`` lend their pace to the others).
    """
    runs_dir, results_dir = Path(runs_dir), Path(results_dir)
    exact, by_network = _paces(configs, runs_dir, results_dir)
    out = {}
    for name in todo:
        config = configs[name]
        epochs = int(config["train"]["epochs"])
        rows = _log_rows(runs_dir / name)
        own, done = _this_machine(rows), len(rows)
        left = max(epochs - done, 0)
        if own:
            seconds = left * statistics.median(float(r["seconds"]) for r in own)
            out[name] = Estimate(seconds, "its own pace", done, epochs)
            continue
        per_epoch = _patches_per_epoch(config)
        # The same network with other options (an ablation variant, another skip removed) runs at
        # a close but not equal pace: used only without an exact match, and the source says so.
        found = exact.get(_pace_key(config)) or by_network.get(_pace_key(config, options=False))
        if per_epoch is None:
            out[name] = Estimate(None, f"training-set size of {config['dataset']['name']!r} not known",
                                 done, epochs)
        elif found is None:
            out[name] = Estimate(None, f"no {config['model']['name']} run timed yet", done, epochs)
        else:
            pace, source = found
            out[name] = Estimate(per_epoch * left / pace, source, done, epochs)
    return out


def summary(estimates: dict[str, Estimate]) -> str:
    """One line: the total training time left and how many runs it leaves out."""
    timed = [e.seconds for e in estimates.values() if e.seconds is not None]
    missing = len(estimates) - len(timed)
    if not estimates:
        return "nothing left to train"
    line = f"about {format_duration(sum(timed))} of training left in {len(timed)} run(s)"
    if missing:
        line += f", plus {missing} run(s) with no estimate yet"
    return line + " (evaluation not included)"
