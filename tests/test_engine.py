"""Training engine on real DRIVE data: tiny runs, resume after SIGKILL, weights + card, evaluate."""

import csv
import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest
import torch
from conftest import assert_clean_error, needs_data, run_cli
from safetensors.torch import load_file

from vesselseg.api import train
from vesselseg.engine.evaluate import evaluate
from vesselseg.inference.weights import load_model

pytestmark = [pytest.mark.slow, needs_data]  # every test trains (or runs the CLI) on DRIVE

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
    # the card carries what the evaluation after training wrote, and the summary line says it
    scored = json.loads((run / "eval" / "metrics.json").read_text())
    assert scored["n_images"] == 20 and scored["setup"]["dataset"] == "drive" and scored["setup"]["split"] == "test"
    assert card["test_metrics"]["pooled"] == pytest.approx(scored["pooled"])
    assert f"auc={scored['pooled']['auc']:.4f}" in out["metrics"]
    # (2 epochs of this net score AUC ~0.53: the run is about the machinery, so no bound on quality)
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


def test_card_says_which_machine_trained_which_epochs(tmp_path, monkeypatch):
    """A run resumed on another machine (a GPU lease, then the CPU) keeps one segment per machine
    in its card; a resume on the same machine extends the segment it stopped in."""
    from vesselseg.engine import trainer as trainer_mod

    train(None, TINY + ["train.epochs=4"], out_dir=tmp_path / "run", progress=False, stop_after=1)
    train(resume=tmp_path / "run", progress=False, stop_after=1)  # same machine: one segment
    real = trainer_mod.machine_summary
    monkeypatch.setattr(trainer_mod, "machine_summary", lambda: dict(real(), gpu="Test GPU"))
    train(resume=tmp_path / "run", progress=False)
    card = json.loads((tmp_path / "run" / "model.json").read_text())
    segs = card["training_segments"]
    assert [s["epochs"] for s in segs] == [[1, 2], [3, 4]]
    assert "gpu" not in segs[0]["trained_on"] and segs[1]["trained_on"]["gpu"] == "Test GPU"
    assert sum(s["seconds"] for s in segs) == pytest.approx(card["training_seconds"], abs=0.1)
    assert [r["device"] for r in _rows(tmp_path / "run")] == ["cpu"] * 4  # what the ETA times by


def _wait_for_rows(run, n, proc, timeout=300):
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if (run / "log.csv").exists() and len(_rows(run)) >= n:
            return True
        time.sleep(0.02)
    return False


def test_sigkill_at_random_moments_then_resume(tmp_path):
    """SIGKILL training at random moments -- during start-up (before any checkpoint) and at a
    random point of later epochs (mid-step or mid-checkpoint) -- resuming after each kill. The
    finished run has a gapless log and equals an uninterrupted run bitwise (deterministic CPU)."""
    run = tmp_path / "killed"
    first = ["train", "--out", run, "--no-progress"]
    for s in TINY + ["train.epochs=4", "patches.per_image=100"]:
        first += ["--set", s]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    rng = random.Random(1234)
    plan = ["start-up", "in-epoch", "in-epoch", "in-epoch"]
    moments = []
    for launch in range(len(plan) + 1):
        args = first if not run.exists() else ["train", "--resume", run, "--no-progress"]
        proc = subprocess.Popen([sys.executable, "-m", "vesselseg", *map(str, args)], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if launch < len(plan):
            rows = len(_rows(run)) if (run / "log.csv").exists() else 0
            if plan[launch] == "start-up":
                time.sleep(rng.uniform(0.2, 2.0))
            elif _wait_for_rows(run, rows + 1, proc):  # a new epoch was logged: kill within the next
                time.sleep(rng.uniform(0.0, 1.0) * float(_rows(run)[-1]["seconds"]))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                moments.append((plan[launch], len(_rows(run)) if (run / "log.csv").exists() else 0))
                continue
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err.decode()[-2000:]
        break
    assert len(moments) >= 3, moments
    assert [r["epoch"] for r in _rows(run)] == ["1", "2", "3", "4"]  # no gap, no duplicate
    assert (run / "model.safetensors").exists()
    clean = train(None, TINY + ["train.epochs=4", "patches.per_image=100"], out_dir=tmp_path / "clean",
                  progress=False)
    a, b = _weights(clean["run_dir"]), _weights(run)
    assert all(torch.equal(a[k], b[k]) for k in a), moments
    print("kills (when, epochs logged at the kill):", moments)


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
    # region=image counts every pixel of the 20 test images (565x584), region=fov only the FOV's
    from vesselseg.io.datasets import load_sample, load_split

    fov_pixels = sum(int(load_sample(s).fov.sum()) for s in load_split("drive", "test"))
    assert whole_img["region"] == "image" and whole["region"] == "fov"
    assert sum(whole_img["counts"].values()) == 20 * 565 * 584
    assert sum(whole["counts"].values()) == fov_pixels < 0.75 * 20 * 565 * 584
    assert all(whole_img["counts"][k] >= whole["counts"][k] for k in ("tp", "fp", "fn", "tn"))


def test_evaluate_window_options_and_padded_patch_warning(tmp_path):
    from vesselseg.inference.predictor import Predictor

    train(None, TINY + ["train.epochs=1"], out_dir=tmp_path / "run", progress=False)
    w = tmp_path / "run" / "model.safetensors"
    plain = evaluate(w, "drive", mode="sliding", window=64, stride=64, progress=False, save_maps=False)
    assert plain["setup"]["window"] == 64 and plain["setup"]["stride"] == 64 and "warnings" not in plain
    # The same weights, said to have trained on 46-px patches: the depth-2 net pads them to 48
    p = Predictor(w)
    p.card = dict(p.card, protocol=dict(p.card["protocol"], patch_size=46))
    warned = evaluate(w, "drive", mode="sliding", window=64, stride=64, predictor=p, progress=False,
                      out=tmp_path / "ev", save_maps=False)
    assert "pads its 46-px training patches to 48 px" in warned["warnings"][0]
    assert "--window 46" in (tmp_path / "ev" / "metrics.md").read_text()
    quiet = evaluate(w, "drive", mode="sliding", window=46, stride=46, predictor=p, progress=False,
                     save_maps=False)
    assert "warnings" not in quiet and (quiet["setup"]["window"], quiet["setup"]["stride"]) == (46, 46)
    # the windows really are 46 px: the first image scores as a direct 46-px sliding prediction does
    from vesselseg.io.datasets import load_sample, load_split
    from vesselseg.metrics import Evaluator

    first = load_sample(load_split("drive", "test")[0])
    direct = Evaluator(0.5)
    direct.add(p(first.image, first.fov, mode="sliding", window=46, stride=46), first.label, first.fov)
    assert quiet["per_image"][0] == pytest.approx(direct.result()["per_image"][0], abs=1e-9)
    assert quiet["per_image"][0]["auc"] != plain["per_image"][0]["auc"]  # and 46 px is not what 64 px gives


def test_evaluate_cli_errors(tmp_path):
    assert_clean_error(run_cli("evaluate", "--weights", tmp_path / "nope.safetensors"), "no such weights")
    (tmp_path / "w.pt").write_bytes(b"\x80\x04junk")
    assert_clean_error(run_cli("evaluate", "--weights", tmp_path / "w.pt"), "pickled weights are refused")
    (tmp_path / "t.safetensors").write_bytes(b"\x00" * 10)
    (tmp_path / "t.json").write_text(json.dumps({"model": {"name": "unet", "options": {}}}))
    assert_clean_error(run_cli("evaluate", "--weights", tmp_path / "t.safetensors"), "t.safetensors")
    assert_clean_error(run_cli("evaluate", "--mode", "sliding", "--window", "32", "--stride", "40"),
                       "would leave pixels uncovered")


def test_init_from_fine_tunes_and_refuses_another_model(tmp_path):
    train(None, TINY + ["train.epochs=1"], out_dir=tmp_path / "donor", progress=False)
    # a learning rate of ~0 leaves the weights where init_from put them: the donor's
    train(None, TINY + ["train.epochs=1", "optim.lr=1e-12", f"train.init_from={tmp_path / 'donor'}"],
          out_dir=tmp_path / "tuned", progress=False)
    donor, tuned = _weights(tmp_path / "donor"), _weights(tmp_path / "tuned")
    assert donor.keys() == tuned.keys()
    assert all(torch.allclose(donor[k].float(), tuned[k].float(), atol=1e-6) for k in donor if "running" not in k and "num_batches" not in k)
    card = json.loads((tmp_path / "tuned" / "model.json").read_text())
    assert card["protocol"]["init_from"]["weights"] == str(tmp_path / "donor")
    assert len(card["protocol"]["init_from"]["file_sha256"]) == 64
    # other options than the donor's: a config error naming both, and no run folder content
    res = run_cli("train", "--out", tmp_path / "bad", "--set", "model.name=unet", "--set",
                  "model.options={base_channels: 8, depth: 2}", "--set", f"train.init_from={tmp_path / 'donor'}",
                  "--set", "train.threads=1")
    assert_clean_error(res, "train.init_from")
    assert not (tmp_path / "bad" / "checkpoints").exists()
