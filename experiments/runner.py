"""``python -m experiments study STUDY.yaml``: train and evaluate a list of runs, picking up where it stopped.

A study file (``configs/studies/*.yaml``) is data::

    name: reproduce
    runs:
      - {config: configs/drive_caffnet.yaml, weights: drive}   # evaluate shipped weights, no training
      - {config: configs/chase_unet.yaml}                       # run name = the config's name
      - {config: configs/chase_unet.yaml, seed: 1}              # -> chase_unet_s1
      - {config: configs/chase_unet.yaml, name: chase_unet_nodrop, set: [model.options.dropout=0]}
    human: [drive, stare, chase]                                # second observer vs first
    cross: {runs: [drive_caffnet, stare_caffnet], datasets: [drive, stare, chase]}

For each run: a finished record in ``results/`` -> skipped; finished weights in ``runs/<name>`` ->
evaluated only; a checkpoint -> training resumed; nothing -> trained from the start. Killing the
study at any moment loses at most the epoch (or evaluation) in progress.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import shutil
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from experiments.eta import Estimate
from experiments.results import (
    cross_record,
    human_record,
    model_record,
    read_record,
    result_path,
    write_record,
)
from vesselseg.errors import ConfigError, InputError

DATASETS = ("drive", "stare", "chase")


@dataclass
class RunSpec:
    """One training run of a study."""

    name: str
    config: Path
    overrides: list[str] = field(default_factory=list)
    weights: str | None = None  # evaluate these instead of training


@dataclass
class Study:
    name: str
    runs: list[RunSpec]
    human: list[str]
    cross_runs: list[str]
    cross_datasets: list[str]


def _config_name(path: Path) -> str:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read config ({exc})") from None
    return str(data.get("name") or path.stem)


def load_study(path: str | Path) -> Study:
    """Parse and check a study file; config paths are relative to the current folder."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such study file")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a study file is a mapping with 'runs', 'human' and 'cross'")
    unknown = set(data) - {"name", "runs", "human", "cross"}
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {sorted(unknown)}")
    runs = []
    for i, entry in enumerate(data.get("runs") or []):
        if not isinstance(entry, dict) or "config" not in entry:
            raise ConfigError(f"{path}: runs[{i}] needs a 'config'")
        bad = set(entry) - {"config", "name", "seed", "set", "weights"}
        if bad:
            raise ConfigError(f"{path}: runs[{i}]: unknown key(s) {sorted(bad)}")
        config = Path(entry["config"])
        if not config.is_file():
            raise ConfigError(f"{path}: runs[{i}]: config {config} not found")
        overrides = [str(s) for s in entry.get("set") or []]
        name = entry.get("name") or _config_name(config)
        if entry.get("seed") is not None:
            overrides.append(f"train.seed={int(entry['seed'])}")
            name = entry.get("name") or f"{name}_s{int(entry['seed'])}"
        runs.append(RunSpec(str(name), config, overrides, entry.get("weights")))
    names = [r.name for r in runs]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise ConfigError(f"{path}: run names must be unique; repeated: {sorted(dup)}")
    human = [str(d) for d in data.get("human") or []]
    cross = data.get("cross") or {}
    cross_runs = [str(r) for r in cross.get("runs") or []]
    cross_datasets = [str(d) for d in cross.get("datasets") or []]
    for d in human + cross_datasets:
        if d not in DATASETS:
            raise ConfigError(f"{path}: unknown dataset {d!r}; choose from {', '.join(DATASETS)}")
    for r in cross_runs:
        if r not in names:
            raise ConfigError(f"{path}: cross run {r!r} is not one of the study's runs")
    return Study(str(data.get("name") or path.stem), runs, human, cross_runs, cross_datasets)


def _checkpoint_state(run_dir: Path) -> str:
    """``"trained"`` (final weights), ``"partial"`` (a checkpoint), ``"empty"`` or ``"none"``."""
    if (run_dir / "model.safetensors").is_file() and (run_dir / "model.json").is_file():
        return "trained"
    ckpt = run_dir / "checkpoints"
    if (ckpt / "last.pt").is_file() or (ckpt / "prev.pt").is_file():
        return "partial"
    return "empty" if run_dir.exists() else "none"


def _same_experiment(run_dir: Path, spec: RunSpec) -> None:
    """Refuse to resume a run folder that holds a different experiment than the study asks for."""
    from vesselseg.engine.config import load_config

    saved = run_dir / "config.yaml"
    if not saved.is_file():
        return
    want = load_config(spec.config, spec.overrides).to_dict()
    have = load_config(saved).to_dict()
    for d in (want, have):  # threads and progress do not change the experiment
        d["train"].pop("threads", None)
        d.pop("name", None)
    if want != have:
        raise InputError(f"{run_dir} holds a different experiment than {spec.config} "
                         f"{' '.join(spec.overrides)}; move it away or rename the run in the study")


LOCK_NAME = "study.lock"


def _lock_holder(run_dir: Path) -> str | None:
    """Who is working on ``run_dir`` (``"process 123 on host"``), or None if nobody alive is.

    A lock left by a process that died (killed, machine restarted) counts as free; one from
    another host cannot be checked and counts as held.
    """
    try:
        pid_text, _, host = (run_dir / LOCK_NAME).read_text().strip().partition(" ")
        pid = int(pid_text)
    except (OSError, ValueError):
        return None
    if host == socket.gethostname():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass  # alive, someone else's
    return f"process {pid} on {host}"


@contextlib.contextmanager
def _run_lock(run_dir: Path) -> Iterator[None]:
    """Hold ``run_dir`` for one study process: two studies sharing ``runs/`` (started twice by
    mistake, or reproduce.yaml beside ablation.yaml) would otherwise resume the same checkpoint
    and overwrite each other's epochs."""
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = run_dir / LOCK_NAME
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            break
        except FileExistsError:
            holder = _lock_holder(run_dir)
            if holder:
                raise InputError(f"{run_dir} is being worked on by {holder}; wait for it to finish "
                                 f"(or delete {lock} if that process is gone)") from None
            lock.unlink(missing_ok=True)  # stale: its process died
    else:
        raise InputError(f"{lock}: cannot take the lock")
    with os.fdopen(fd, "w") as fh:
        fh.write(f"{os.getpid()} {socket.gethostname()}\n")
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)


def _train(spec: RunSpec, run_dir: Path, progress: bool, echo: Callable[[str], None]) -> None:
    from vesselseg.api import train

    state = _checkpoint_state(run_dir)
    if state == "trained":
        return
    if state == "partial":
        _same_experiment(run_dir, spec)
        echo(f"{spec.name}: resuming {run_dir}")
        train(resume=run_dir, progress=progress)
        return
    if state == "empty":
        # Killed before the first checkpoint: only the config and an empty log exist. Clear just
        # those trainer files (anything else in the folder is left alone) and start over.
        for leftover in ("config.yaml", "log.csv", "learning_curve.png"):
            (run_dir / leftover).unlink(missing_ok=True)
        shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)
    echo(f"{spec.name}: training {spec.config} {' '.join(spec.overrides)}".rstrip())
    train(spec.config, spec.overrides, out_dir=run_dir, progress=progress)


def run_weights(spec: RunSpec, runs_dir: Path) -> str | Path:
    return spec.weights if spec.weights else runs_dir / spec.name


def _matches(name: str, globs: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatch(name, p) for p in globs)


def plan(study: Study, runs_dir: Path, results_dir: Path, redo: tuple[str, ...] = (),
         only: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """``[(item, status)]`` without doing anything (``--dry-run``); ``only`` and ``redo`` as in
    :func:`run_study`."""
    redone = lambda name: _matches(name, redo)  # noqa: E731
    rows = []
    for spec in study.runs:
        if result_path(results_dir, "model", spec.name).is_file():
            status = "re-evaluate" if redone(spec.name) else "done"
        elif spec.weights:
            status = f"evaluate weights {spec.weights}"
        else:
            status = {"trained": "trained, evaluate", "partial": "resume training", "empty": "train",
                      "none": "train"}[_checkpoint_state(runs_dir / spec.name)]
            holder = _lock_holder(runs_dir / spec.name)
            if holder:
                status = f"in progress ({holder})"
        rows.append((spec.name, status))
    for d in study.human:
        done = result_path(results_dir, "human", "", d).is_file()
        rows.append((f"human_{d}", "re-evaluate" if done and redone(f"human_{d}") else "done" if done else "evaluate"))
    for r in study.cross_runs:
        for d in study.cross_datasets:
            spec = next(s for s in study.runs if s.name == r)
            if d == _dataset_of(spec):
                continue
            done = result_path(results_dir, "cross", r, d).is_file()
            status = ("re-evaluate" if redone(f"{r}_on_{d}") else "done") if done else "evaluate (after training)"
            rows.append((f"{r}_on_{d}", status))
    if only:
        rows = [(n, st) for n, st in rows if _matches(n, only)]
    return rows


def time_left(study: Study, runs_dir: Path, results_dir: Path,
              rows: list[tuple[str, str]]) -> dict[str, Estimate]:
    """Training time left for the runs among ``rows`` (from :func:`plan`) that still train."""
    from experiments.eta import estimate
    from vesselseg.engine.config import load_config

    configs = {s.name: load_config(s.config, s.overrides).to_dict() for s in study.runs if not s.weights}
    todo = [name for name, status in rows
            if (status in ("train", "resume training") or status.startswith("in progress")) and name in configs]
    return estimate(configs, todo, runs_dir, results_dir)


def _dataset_of(spec: RunSpec) -> str:
    from vesselseg.engine.config import load_config

    return load_config(spec.config, spec.overrides).dataset.name


def run_study(study: Study, runs_dir: str | Path = "runs", results_dir: str | Path = "results",
              only: tuple[str, ...] = (), data: str | Path | None = None, progress: bool = True,
              echo: Callable[[str], None] = print, redo: tuple[str, ...] = ()) -> list[Path]:
    """Do every unfinished item of ``study`` (those matching the ``only`` globs, if given).

    ``redo``: globs of items (runs, ``<run>_on_<dataset>``, ``human_<dataset>``) whose records
    are made again from the existing weights -- after an evaluation change; never retrains.
    A record is only replaced by a complete new one. Returns the record paths written.
    """
    runs_dir, results_dir = Path(runs_dir), Path(results_dir)
    wanted = (lambda name: _matches(name, only)) if only else (lambda name: True)
    done_now: set[str] = set()  # each item is redone once per call

    def redone(name: str) -> bool:
        return name not in done_now and _matches(name, redo)

    for spec in study.runs:
        if redone(spec.name) and wanted(spec.name) and not spec.weights \
                and result_path(results_dir, "model", spec.name).is_file() \
                and _checkpoint_state(runs_dir / spec.name) != "trained":
            raise InputError(f"--redo {spec.name}: no finished weights in {runs_dir / spec.name} to re-evaluate")
    written = []

    def save(record: dict, path: Path) -> None:
        write_record(record, path)
        written.append(path)
        echo(f"wrote {path}")

    for d in study.human:
        path = result_path(results_dir, "human", "", d)
        if wanted(f"human_{d}") and (not path.is_file() or redone(f"human_{d}")):
            save(human_record(d, data), path)

    def cross(spec: RunSpec) -> None:
        """The cross-dataset records of a run, as soon as its own record exists."""
        if spec.name not in study.cross_runs or not result_path(results_dir, "model", spec.name).is_file():
            return
        trained_on = _dataset_of(spec)
        for d in study.cross_datasets:
            path = result_path(results_dir, "cross", spec.name, d)
            item = f"{spec.name}_on_{d}"
            if d == trained_on or not wanted(item) or (path.is_file() and not redone(item)):
                continue
            echo(f"{item}: evaluating")
            done_now.add(item)
            save(cross_record(spec.name, run_weights(spec, runs_dir), d, data, progress=progress), path)

    for spec in study.runs:  # cheap work first: what finished runs still lack
        if result_path(results_dir, "model", spec.name).is_file():
            cross(spec)
    for spec in study.runs:
        path = result_path(results_dir, "model", spec.name)
        if not wanted(spec.name):
            continue
        again = path.is_file() and redone(spec.name)
        if path.is_file() and not again:
            echo(f"{spec.name}: done ({path})")
            continue
        with _run_lock(runs_dir / spec.name) if not spec.weights else contextlib.nullcontext():
            if not spec.weights and not again:
                if _checkpoint_state(runs_dir / spec.name) != "trained":
                    left = time_left(study, runs_dir, results_dir, [(spec.name, "train")])[spec.name]
                    echo(f"{spec.name}: training time left {left.describe()}")
                _train(spec, runs_dir / spec.name, progress, echo)
            echo(f"{spec.name}: evaluating on the test split (whole and sliding)")
            done_now.add(spec.name)
            save(model_record(spec.name, run_weights(spec, runs_dir), data, progress=progress), path)
        cross(spec)
    return written


__all__ = ["Study", "RunSpec", "load_study", "plan", "run_study", "read_record", "time_left"]
