"""Training engine on real DRIVE data: tiny runs, resume after SIGKILL, weights + card, evaluate."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

from conftest import assert_clean_error, needs_data, run_cli
from vesselseg.api import train
from vesselseg.engine.evaluate import evaluate
from vesselseg.engine.weights import load_model

pytestmark = needs_data

# A very small U-Net and few patches: the point is the machinery, not the accuracy.
TINY = ["model.name=unet", "model.options={base_channels: 4, depth: 2}", "patches.per_image=8",
        "train.batch_size=16", "train.threads=1", "train.eval_after=false", "train.seed=5"]


def _rows(run_dir):
    with open(run_dir / "log.csv") as fh:
        return list(csv.DictReader(fh))


def _weights(run_dir):
    return load_file(str(run_dir / "model.safetensors"))


def test_run_folder_contents_and_card(tmp_path):
    out = train(None, TINY + ["train.epochs=2", "train.eval_after=true", "eval.mode=whole"],
                out_dir=tmp_path / "run", progress=False)
    run = tmp_path / "run"
    for name in ("config.yaml", "log.csv", "learning_curve.png", "model.safetensors", "model.json",
                 "checkpoints/last.pt", "eval/metrics.json", "eval/roc.png"):
        assert (run / name).exists(), name
    assert [r["epoch"] for r in _rows(run)] == ["1", "2"]
    card = json.loads((run / "model.json").read_text())
    assert card["model"]["name"] == "unet" and card["model"]["options"] == {"base_channels": 4, "depth": 2}
    assert set(card["stats"]) == {"mean", "std", "lo", "hi"}
    assert card["protocol"]["model_selection"].startswith("last epoch")
    assert 0.0 <= card["test_metrics"]["pooled"]["auc"] <= 1.0
    assert out["metrics"] and "auc=" in out["metrics"]
    model, card2 = load_model(run / "model.safetensors")
    assert not model.training and card2["stats"] == card["stats"]


def test_resume_in_process_equals_uninterrupted(tmp_path):
    full = train(None, TINY + ["train.epochs=3"], out_dir=tmp_path / "full", progress=False)
    train(None, TINY + ["train.epochs=3"], out_dir=tmp_path / "part", progress=False, stop_after=1)
    assert not (tmp_path / "part" / "model.safetensors").exists()
    train(resume=tmp_path / "part", progress=False)
    a, b = _weights(full["run_dir"]), _weights(tmp_path / "part")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)  # bitwise, deterministic CPU settings
    assert _rows(tmp_path / "full") == [
        {**r, "seconds": r2["seconds"], "patches_per_s": r2["patches_per_s"]}
        for r, r2 in zip(_rows(tmp_path / "part"), _rows(tmp_path / "full"))
    ]


def test_sigkill_mid_epoch_then_resume(tmp_path):
    """Kill the training process while it is inside epoch 2 or 3, resume, compare to a clean run."""
    run = tmp_path / "killed"
    args = ["train", "--out", run, "--no-progress"]
    for s in TINY + ["train.epochs=4", "patches.per_image=100"]:
        args += ["--set", s]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "vesselseg", *map(str, args)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 300
    while time.time() < deadline:
        if (run / "log.csv").exists() and len(_rows(run)) >= 1:
            break
        time.sleep(0.05)
    time.sleep(float(_rows(run)[0]["seconds"]) / 2)  # about half-way into epoch 2
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = len(_rows(run))
    assert 1 <= done < 4, "the kill should land before the run finishes"
    assert not (run / "model.safetensors").exists()
    res = run_cli("train", "--resume", run, "--no-progress", env={"OMP_NUM_THREADS": "1"})
    assert res.returncode == 0, res.stderr
    rows = _rows(run)
    assert [r["epoch"] for r in rows] == ["1", "2", "3", "4"]  # no gap, no duplicate
    clean = train(None, TINY + ["train.epochs=4", "patches.per_image=100"], out_dir=tmp_path / "clean",
                  progress=False)
    a, b = _weights(clean["run_dir"]), _weights(run)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_existing_run_is_not_overwritten(tmp_path):
    train(None, TINY + ["train.epochs=1"], out_dir=tmp_path / "run", progress=False)
    before = (tmp_path / "run" / "model.safetensors").read_bytes()
    proc = run_cli("train", "--out", tmp_path / "run", "--set", "train.epochs=1")
    assert_clean_error(proc, "already holds a run")
    assert (tmp_path / "run" / "model.safetensors").read_bytes() == before


def test_evaluate_sliding_and_whole_agree_and_observer2(tmp_path):
    train(None, TINY + ["train.epochs=1"], out_dir=tmp_path / "run", progress=False)
    w = tmp_path / "run" / "model.safetensors"
    whole = evaluate(w, "drive", out=tmp_path / "whole", progress=False)
    sliding = evaluate(w, "drive", mode="sliding", progress=False, save_maps=False)
    assert abs(whole["pooled"]["auc"] - sliding["pooled"]["auc"]) < 0.05
    assert len(list((tmp_path / "whole").glob("*_prob.png"))) == 20
    assert (tmp_path / "whole" / "metrics.md").read_text().count("|") > 20
    human = evaluate(None, "drive", observer=2, progress=False)
    assert 0.75 < human["pooled"]["f1"] < 0.82 and 0.94 < human["pooled"]["accuracy"] < 0.96
    whole_img = evaluate(w, "drive", region="image", progress=False, save_maps=False)
    assert whole_img["pooled"]["accuracy"] != whole["pooled"]["accuracy"]


def test_evaluate_cli_errors(tmp_path):
    assert_clean_error(run_cli("evaluate", "--weights", tmp_path / "nope.safetensors"), "no such weights")
    (tmp_path / "w.pt").write_bytes(b"\x80\x04junk")
    assert_clean_error(run_cli("evaluate", "--weights", tmp_path / "w.pt"), "pickled weights are refused")
    (tmp_path / "t.safetensors").write_bytes(b"\x00" * 10)
    (tmp_path / "t.json").write_text(json.dumps({"model": {"name": "unet", "options": {}}}))
    assert_clean_error(run_cli("evaluate", "--weights", tmp_path / "t.safetensors"), "t.safetensors")
