"""Study runner, result records, README report and figures (synthetic folder data, tiny models)."""

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import assert_clean_error, requires_dataset, run_experiments
from test_folder_training import _make_folder

from experiments.figures import roc_figure, thin_vessel_boxes
from experiments.report import Records, render, update_file, update_text
from experiments.results import FORMAT, load_records, schedule_of
from experiments.runner import load_study, plan, run_study
from vesselseg.errors import VesselsegError

REPO = Path(__file__).resolve().parents[1]


def _tiny_config(path: Path, data: Path, name: str = "tiny_unet", epochs: int = 2) -> Path:
    cfg = {
        "name": name,
        "dataset": {"name": "folder", "data": str(data)},
        "model": {"name": "unet", "options": {"base_channels": 4, "depth": 2}},
        "patches": {"per_image": 32},
        "train": {"epochs": epochs, "batch_size": 16, "threads": 1},
        "optim": {"lr": 0.01},
    }
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture
def study_dir(tmp_path, monkeypatch):
    """A working folder with a synthetic dataset, a tiny config and a study file naming it."""
    _make_folder(tmp_path / "data", n=3, size=64)
    cfg = _tiny_config(tmp_path / "tiny.yaml", tmp_path / "data")
    (tmp_path / "study.yaml").write_text(yaml.safe_dump({
        "name": "t", "runs": [{"config": str(cfg)}, {"config": str(cfg), "seed": 3}]}))
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.slow
def test_study_trains_evaluates_and_skips_finished_runs(study_dir):
    study = load_study("study.yaml")
    assert [r.name for r in study.runs] == ["tiny_unet", "tiny_unet_s3"]
    assert plan(study, Path("runs"), Path("results")) == [("tiny_unet", "train"), ("tiny_unet_s3", "train")]
    written = run_study(study, progress=False, echo=lambda s: None)
    assert [p.name for p in written] == ["tiny_unet.json", "tiny_unet_s3.json"]
    rec = json.loads(Path("results/tiny_unet.json").read_text())
    assert rec["format"] == FORMAT and rec["kind"] == "model"
    assert set(rec["evaluations"]) == {"whole", "sliding"}
    whole = rec["evaluations"]["whole"]
    assert len(whole["per_image"]) == whole["n_images"] == 3
    assert {"name", "auc", "f1"} <= set(whole["per_image"][0])
    assert len(whole["roc"]["fpr"]) == len(whole["roc"]["tpr"]) > 2
    assert rec["schedule"]["label"].startswith("short: 2 ep")
    assert rec["training_seconds"] > 0 and rec["model"]["parameters"] > 0
    assert json.loads(Path("results/tiny_unet_s3.json").read_text())["seed"] == 3
    # a second call does nothing: records exist
    before = Path("results/tiny_unet.json").stat().st_mtime_ns
    msgs = []
    assert run_study(study, progress=False, echo=msgs.append) == []
    assert Path("results/tiny_unet.json").stat().st_mtime_ns == before
    assert any("done" in m for m in msgs)
    # a finished run whose record was deleted is evaluated again, not retrained
    Path("results/tiny_unet.json").unlink()
    weights_time = Path("runs/tiny_unet/model.safetensors").stat().st_mtime_ns
    assert plan(study, Path("runs"), Path("results"))[0] == ("tiny_unet", "trained, evaluate")
    run_study(study, only=("tiny_unet",), progress=False, echo=lambda s: None)
    assert Path("results/tiny_unet.json").is_file()
    assert Path("runs/tiny_unet/model.safetensors").stat().st_mtime_ns == weights_time


@pytest.mark.slow
def test_study_redo_reevaluates_without_retraining(study_dir):
    study = load_study("study.yaml")
    run_study(study, only=("tiny_unet",), progress=False, echo=lambda s: None)
    record, weights = Path("results/tiny_unet.json"), Path("runs/tiny_unet/model.safetensors")
    created, trained = json.loads(record.read_text())["created"], weights.stat().st_mtime_ns
    assert plan(study, Path("runs"), Path("results"), redo=("tiny_*",), only=("tiny_unet",)) == \
        [("tiny_unet", "re-evaluate")]
    os.utime(record, ns=(0, 0))
    msgs = []
    written = run_study(study, only=("tiny_unet",), redo=("tiny_unet",), progress=False, echo=msgs.append)
    assert written == [Path("results/tiny_unet.json")] and record.stat().st_mtime_ns > 0
    assert weights.stat().st_mtime_ns == trained and not any("training" in m for m in msgs)
    assert json.loads(record.read_text())["created"] >= created
    # nothing to re-evaluate from: a clear error, the record untouched
    shutil.rmtree("runs/tiny_unet")
    with pytest.raises(VesselsegError, match="no finished weights"):
        run_study(study, only=("tiny_unet",), redo=("tiny_unet",), progress=False, echo=lambda s: None)
    assert record.stat().st_mtime_ns > 0


@pytest.mark.slow
def test_study_resumes_an_interrupted_run(study_dir):
    from vesselseg.api import train

    cfg = _tiny_config(Path("tiny3.yaml"), study_dir / "data", name="tiny3", epochs=3)
    out = train(cfg, out_dir=Path("runs/tiny3"), progress=False, stop_after=1)  # "killed" after epoch 1
    assert out["weights"] is None
    Path("s.yaml").write_text(yaml.safe_dump({"runs": [{"config": str(cfg)}]}))
    study = load_study("s.yaml")
    assert plan(study, Path("runs"), Path("results")) == [("tiny3", "resume training")]
    msgs = []
    run_study(study, progress=False, echo=msgs.append)
    assert any("resuming" in m for m in msgs)
    assert any("training time left epoch 1/3, about" in m and "its own pace" in m for m in msgs)
    epochs = Path("runs/tiny3/log.csv").read_text().strip().splitlines()[1:]
    assert len(epochs) == 3  # epoch 1 from the first call, 2-3 resumed: nothing repeated
    assert Path("results/tiny3.json").is_file()


@pytest.mark.slow
def test_study_refuses_to_resume_a_different_experiment(study_dir):
    from vesselseg.api import train

    cfg = _tiny_config(Path("tiny3.yaml"), study_dir / "data", name="tiny3", epochs=3)
    train(cfg, ["optim.lr=0.5"], out_dir=Path("runs/tiny3"), progress=False, stop_after=1)
    Path("s.yaml").write_text(yaml.safe_dump({"runs": [{"config": str(cfg)}]}))
    with pytest.raises(VesselsegError, match="different experiment"):
        run_study(load_study("s.yaml"), progress=False, echo=lambda s: None)


@pytest.mark.slow
def test_study_restarts_a_run_killed_before_its_first_checkpoint(study_dir):
    run_dir = Path("runs/tiny_unet")
    run_dir.mkdir(parents=True)
    (run_dir / "config.yaml").write_text("name: tiny_unet\n")
    (run_dir / "notes.txt").write_text("mine")
    run_study(load_study("study.yaml"), only=("tiny_unet",), progress=False, echo=lambda s: None)
    assert (run_dir / "model.safetensors").is_file()
    assert (run_dir / "notes.txt").read_text() == "mine"  # foreign files are left alone


@pytest.mark.parametrize("content, fragment", [
    ("runs: [{name: x}]", "needs a 'config'"),
    ("runs: [{config: nope.yaml}]", "not found"),
    ("runz: []", "unknown key"),
    ("runs: [{config: tiny.yaml}, {config: tiny.yaml}]", "unique"),
    ("human: [drivee]", "unknown dataset"),
    ("runs: [{config: tiny.yaml}]\ncross: {runs: [other], datasets: [drive]}", "not one of the study's runs"),
    ("[1, 2", "not valid YAML"),
])
def test_bad_study_files_give_clean_errors(study_dir, content, fragment):
    Path("bad.yaml").write_text(content)
    proc = run_experiments("study", "bad.yaml", cwd=study_dir)
    assert_clean_error(proc, fragment)


@pytest.mark.slow
def test_study_cli_dry_run_and_missing_file(study_dir):
    proc = run_experiments("study", "study.yaml", "--dry-run", cwd=study_dir)
    assert proc.returncode == 0, proc.stderr
    assert "tiny_unet_s3" in proc.stdout and "train" in proc.stdout
    # a folder dataset's size is not known in advance: said, not guessed
    assert "training-set size of 'folder' not known" in proc.stdout
    assert "plus 2 run(s) with no estimate yet" in proc.stdout.splitlines()[-1]
    assert not Path("runs").exists() and not Path("results").exists()  # a dry run writes nothing
    assert_clean_error(run_experiments("study", "missing.yaml", cwd=study_dir), "no such study file")


def test_schedule_label_names_shorter_schedules():
    base = {"train": {"epochs": 50}, "patches": {"per_image": 1000, "size": 48}}
    assert schedule_of(base)["label"] == "paper"
    short = {"train": {"epochs": 10}, "patches": {"per_image": 1000, "size": 48}}
    assert schedule_of(short)["label"] == "short: 10 ep x 1000 patches/img"


# ----- report -------------------------------------------------------------------------------


def _model_rec(name, dataset, auc, f1, model="caffnet", params=617748):
    pooled = {"auc": auc, "pr_auc": auc - 0.07, "f1": f1, "accuracy": 0.95, "sensitivity": 0.8,
              "specificity": 0.97, "mcc": f1 - 0.02}
    ev = {"pooled": pooled, "mean": pooled, "std": {k: 0.01 for k in pooled}, "n_images": 4,
          "roc": {"fpr": [0, 0.05, 1], "tpr": [0, 0.9, 1]}}
    return {"format": FORMAT, "kind": "model", "name": name, "dataset": dataset,
            "model": {"name": model, "options": {}, "parameters": params},
            "schedule": {"label": "paper"}, "training_seconds": 600.0,
            "weights": {"source": "x", "sha256": "0"},
            "evaluations": {"whole": ev, "sliding": {"pooled": dict(pooled, auc=auc + 0.001)}}}


def _write(results: Path, rec: dict, sub: str = "") -> None:
    (results / sub).mkdir(parents=True, exist_ok=True)
    (results / sub / f"{rec['name']}.json").write_text(json.dumps(rec))


@pytest.fixture
def results_dir(tmp_path):
    res = tmp_path / "results"
    caffnet = _model_rec("drive_caffnet", "drive", 0.9802, 0.8291)
    caffnet["evaluations"]["whole_global"] = {"pooled": {"auc": 0.9790, "f1": 0.8111}}
    _write(res, caffnet)
    _write(res, _model_rec("drive_unet", "drive", 0.9790, 0.8250, model="unet", params=480000))
    _write(res, _model_rec("drive_caffnet_dual", "drive", 0.9810, 0.8300))
    human = {"format": FORMAT, "kind": "human", "name": "human_drive", "dataset": "drive",
             "evaluations": {"observer2": {"pooled": {"auc": 0.87, "pr_auc": 0.7, "f1": 0.7891, "accuracy": 0.947,
                                                       "sensitivity": 0.77, "specificity": 0.97, "mcc": 0.76},
                                            "mean": {"f1": 0.78, "sensitivity": 0.77, "specificity": 0.97},
                                            "std": {"f1": 0.02, "sensitivity": 0.05, "specificity": 0.01},
                                            "n_images": 20}}}
    _write(res, human)
    cross = {"format": FORMAT, "kind": "cross", "name": "drive_caffnet_on_stare", "run": "drive_caffnet",
             "dataset": "stare", "evaluations": {"native": {"pooled": {"auc": 0.95, "f1": 0.70}},
                                                "rescaled": {"pooled": {"auc": 0.96, "f1": 0.75}}}}
    _write(res, cross, "cross")
    return res


def test_report_tables_come_from_the_records(results_dir):
    tables = render(results_dir)
    main = tables["main"]
    assert "| DRIVE | CaFFNet | 0.62 M | paper | 0.9802 |" in main
    assert "| DRIVE | U-Net | 0.48 M |" in main
    assert "second observer (human)" in main and "0.7891" in main
    assert "Not run yet:" in main and "stare_caffnet" in main
    assert "0.9810" in tables["caff_mode"] and "dual_prototype" in tables["caff_mode"]
    assert "0.9500 / 0.7000 → 0.9600 / 0.7500" in tables["cross"]
    assert "**0.9802 / 0.8291**" in tables["cross"]
    assert "AUC 0.9802 < 0.9807" in tables["published"] and "F1 0.8291 ≥ 0.8263" in tables["published"]
    assert "| drive_caffnet | 0.9790 / 0.8111 | 0.9802 / 0.8291 | 0.9812 / 0.8291 |" in tables["pooling_context"]
    assert "drive_unet" not in tables["pooling_context"] and "drive_caffnet_dual" not in tables["pooling_context"]


def test_report_marks_runs_trained_on_more_than_one_machine(results_dir):
    rec = json.loads((results_dir / "drive_unet.json").read_text())
    cpu = {"cpu": "AMD EPYC", "cores": 2}
    rec["training_segments"] = [{"epochs": [1, 40], "seconds": 500.0, "trained_on": dict(cpu, gpu="NVIDIA H200")},
                                {"epochs": [41, 45], "seconds": 50.0, "trained_on": cpu},
                                {"epochs": [46, 50], "seconds": 50.0, "trained_on": dict(cpu, cores=4)}]
    (results_dir / "drive_unet.json").write_text(json.dumps(rec))
    main = render(results_dir)["main"]
    assert "| 10 ‡ |" in main and main.count("‡") == 2  # the U-Net row and its footnote
    assert "drive_unet: epochs 1–40 NVIDIA H200, 41–50 AMD EPYC." in main


def test_report_rewrites_only_marked_sections_and_checks(results_dir, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- report:main -->\nold\n<!-- /report:main -->\noutro\n")
    changed, seen = update_file(readme, results_dir, check=True)
    assert changed and seen == ["main"] and "old" in readme.read_text()  # --check writes nothing
    proc = run_experiments("report", "--file", str(readme), "--results", str(results_dir), "--check")
    assert proc.returncode == 1 and "out of date" in proc.stderr
    proc = run_experiments("report", "--file", str(readme), "--results", str(results_dir))
    assert proc.returncode == 0, proc.stderr
    text = readme.read_text()
    assert text.startswith("intro\n<!-- report:main -->\n| dataset |") and text.endswith("<!-- /report:main -->\noutro\n")
    proc = run_experiments("report", "--file", str(readme), "--results", str(results_dir), "--check")
    assert proc.returncode == 0 and "up to date" in proc.stdout


def test_report_errors_are_clean(results_dir, tmp_path):
    readme = tmp_path / "R.md"
    readme.write_text("<!-- report:nosuch -->\nx\n<!-- /report:nosuch -->\n")
    assert_clean_error(run_experiments("report", "--file", str(readme), "--results", str(results_dir)), "nosuch")
    assert readme.read_text() == "<!-- report:nosuch -->\nx\n<!-- /report:nosuch -->\n"
    readme.write_text("no markers\n")
    assert_clean_error(run_experiments("report", "--file", str(readme), "--results", str(results_dir)), "no <!-- report")
    assert_clean_error(run_experiments("report", "--file", str(readme), "--results", str(tmp_path / "none")),
                       "no results folder")
    bad = tmp_path / "badres"
    bad.mkdir()
    (bad / "x.json").write_text("{")
    readme.write_text("<!-- report:main -->\n<!-- /report:main -->\n")
    assert_clean_error(run_experiments("report", "--file", str(readme), "--results", str(bad)), "x.json")


def test_update_text_leaves_unmarked_text_alone():
    text = "a <!-- report:main --> inline is not a marker\n"
    new, seen = update_text(text, {"main": "T\n"})
    assert new == text and seen == []


def test_repository_readme_matches_its_results():
    """The committed README and docs tables are exactly what `python -m experiments report` makes of results/."""
    if not (REPO / "results").is_dir():
        pytest.skip("no results/ in this checkout")
    proc = run_experiments("report", "--check", cwd=REPO)
    assert proc.returncode == 0, proc.stderr + proc.stdout


def test_committed_records_are_well_formed():
    recs = load_records(REPO / "results")  # committed: a missing or emptied folder must fail, not pass
    assert {"model", "human", "cross"} <= {r["kind"] for r in recs}, f"{len(recs)} records in {REPO / 'results'}"
    for r in recs:
        for ev in r["evaluations"].values():
            assert 0.5 < ev["pooled"]["f1"] <= 1.0 or r["kind"] == "cross", r["_path"]
            assert not Path(ev["setup"]["weights"]).is_absolute(), r["_path"]  # portable records
        if r["kind"] == "model":
            assert r["protocol"] == {"region": "fov", "ground_truth": "first observer", "threshold": 0.5}
            assert len(r["evaluations"]["whole"]["per_image"]) == r["evaluations"]["whole"]["n_images"]


# ----- figures ------------------------------------------------------------------------------


def test_roc_figure_from_records(results_dir, tmp_path):
    rec = Records(load_records(results_dir))
    path = roc_figure(rec, "drive", tmp_path / "fig")
    assert path.is_file() and path.stat().st_size > 10_000
    assert roc_figure(rec, "chase", tmp_path / "fig") is None  # no chase records


def test_thin_vessel_boxes_find_thin_vessels_inside_the_fov():
    label = np.zeros((200, 200), bool)
    label[20:180, 40:48] = True  # a thick vessel (8 px)
    for r in range(120, 170, 6):  # a patch of thin (1 px) vessels
        label[r, 120:170] = True
    fov = np.zeros((200, 200), bool)
    fov[5:195, 5:195] = True
    boxes = thin_vessel_boxes(label, fov, size=40, count=2)
    assert len(boxes) == 2
    (r0, c0), (r1, c1) = boxes
    assert 90 <= r0 <= 160 and 90 <= c0 <= 170  # the first box sits on the thin vessels
    assert abs(r0 - r1) >= 40 or abs(c0 - c1) >= 40  # no overlap
    for r, c in boxes:
        assert fov[r:r + 40, c:c + 40].all()


@pytest.mark.slow
def test_figures_cli_draws_roc_from_results(results_dir, tmp_path):
    out = tmp_path / "figs"
    proc = run_experiments("figures", "--kind", "roc", "--results", str(results_dir), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert (out / "roc_drive.png").is_file()
    assert "no model results for stare" in proc.stdout


@pytest.mark.slow
def test_evaluate_through_the_resolution_policy(study_dir):
    """``scale`` routes evaluation through the Segmenter (cross-dataset use); results stay sane."""
    from vesselseg.api import train
    from vesselseg.engine.evaluate import evaluate

    cfg = _tiny_config(Path("t.yaml"), study_dir / "data", name="t", epochs=3)
    train(cfg, out_dir=Path("runs/t"), progress=False)
    native = evaluate("runs/t", "folder", study_dir / "data", progress=False)
    scaled = evaluate("runs/t", "folder", study_dir / "data", progress=False, scale=0.5)
    assert native["setup"]["scale"] == "none" and scaled["setup"]["scale"] == 0.5
    assert scaled["n_images"] == native["n_images"] == 3
    # the pooled AUC is the Segmenter's at scale 0.5 (the images really were resampled), not native
    import numpy as np

    from vesselseg.io.datasets import load_sample, load_split
    from vesselseg.metrics import roc_auc
    from vesselseg.segmentation import Segmenter

    samples = [load_sample(s, observer2=False) for s in load_split("folder", "test", study_dir / "data")]
    seg = Segmenter("runs/t", scale=0.5)
    probs = [seg.run(s.image, fov=s.fov).prob for s in samples]
    direct = roc_auc(np.concatenate([p.ravel() for p in probs]), np.concatenate([s.label.ravel() for s in samples]),
                     np.concatenate([s.fov.ravel() for s in samples]))
    assert scaled["pooled"]["auc"] == pytest.approx(direct, abs=1e-6)
    assert 0.5 < scaled["pooled"]["auc"] <= 1.0
    shutil.rmtree("runs")
    assert not os.path.exists("runs")


@pytest.mark.slow
@requires_dataset("stare")
def test_cross_record_on_a_real_test_split(study_dir):
    """A model on another dataset: native resolution and through the resolution policy."""
    from experiments.results import cross_record
    from vesselseg.api import train

    cfg = _tiny_config(Path("t.yaml"), study_dir / "data", name="t", epochs=1)
    train(cfg, out_dir=Path("runs/t"), progress=False)
    rec = cross_record("t", "runs/t", "stare", progress=False)
    assert rec["kind"] == "cross" and rec["trained_on"] == "folder" and rec["dataset"] == "stare"
    native, rescaled = rec["evaluations"]["native"], rec["evaluations"]["rescaled"]
    assert native["setup"]["scale"] == "none" and rescaled["setup"]["scale"] == "auto"
    assert native["n_images"] == rescaled["n_images"] == 10
    # STARE's FOV (650 px) is not the training images' diameter: the policy resamples (tolerance 10 %)
    assert rescaled["pooled"]["auc"] != native["pooled"]["auc"]
    names = [r["name"] for r in native["per_image"]]
    assert names == [r["name"] for r in rescaled["per_image"]] and len(set(names)) == 10  # the same 10 images


def test_ablation_skip_and_seed_tables(tmp_path):
    res = tmp_path / "results"
    _write(res, _model_rec("chase_ablation_plain", "chase", 0.980, 0.800, model="caffnet", params=482449))
    _write(res, _model_rec("chase_ablation_se", "chase", 0.981, 0.810, model="caffnet", params=486673))
    _write(res, _model_rec("drive_unet", "drive", 0.979, 0.825, model="unet"))
    _write(res, _model_rec("drive_unet_noskip1", "drive", 0.975, 0.815, model="unet"))
    for seed, (fc, fu) in enumerate([(0.83, 0.80), (0.835, 0.805), (0.84, 0.81)]):
        suffix = f"_s{seed}" if seed else ""
        for name, f1 in ((f"chase_caffnet{suffix}", fc), (f"chase_unet{suffix}", fu)):
            rec = _model_rec(name, "chase", 0.98, f1)
            rec["seed"] = seed
            _write(res, rec)
    tables = render(res)
    assert "| — | — | SE | 0.49 M |" in tables["ablation"]
    assert "+0.0100" in tables["ablation"]  # ΔF1 of SE vs plain
    assert "+0.2367" in tables["ablation"]  # per 100k extra params: 0.01 / 4224 * 1e5
    assert "| +0.2367 | 0.9820 / 0.8100 | +0.0100 |" in tables["ablation"]  # sliding columns
    assert "| level 1 |" in tables["skips"] and "| -0.0040 | -0.0100 | 0.9760 / 0.8150 | -0.0100 |" in tables["skips"]
    seeds = tables["seeds"]
    assert "| CaFFNet | 0, 1, 2 | paper |" in seeds and "0.8350 ± 0.0050" in seeds
    assert "\nF1: CaFFNet − U-Net = +0.0300; Welch t = +7.35, df = 4.0, p = 0.002: beyond" in seeds
    assert "AUC: CaFFNet − U-Net = +0.0000; no seed spread" in seeds


def _seed_recs(res, name, f1s, sliding=None):
    """Records ``name``, ``name_s1``, ... with whole F1 ``f1s`` (sliding F1 ``sliding`` if given)."""
    for seed, f1 in enumerate(f1s):
        rec = _model_rec(f"{name}_s{seed}" if seed else name, "chase", 0.98, f1)
        rec["seed"] = seed
        if sliding is not None:
            if sliding[seed] is None:
                del rec["evaluations"]["sliding"]
            else:
                rec["evaluations"]["sliding"]["pooled"]["f1"] = sliding[seed]
        _write(res, rec)


def test_seed_table_is_a_t_test_not_a_fixed_bar(tmp_path):
    """t = 2.5 with 3 seeds a side is p ~ 0.08: not significant (a |t| > 2 rule would say beyond)."""
    res = tmp_path / "results"
    _seed_recs(res, "chase_caffnet", [0.81, 0.82, 0.83])
    _seed_recs(res, "chase_unet", [0.80, 0.80, 0.81])
    seeds = render(res)["seeds"]
    assert "F1: CaFFNet − U-Net = +0.0167; Welch t = +2.50" in seeds
    assert "not significant at p < 0.05 (with 3 and 3 seeds" in seeds and "beyond" not in seeds


def test_seed_table_while_one_model_has_a_single_seed(tmp_path):
    """One seed against three: the t of a new observation (prediction interval), df = n - 1."""
    res = tmp_path / "results"
    _seed_recs(res, "chase_caffnet", [0.83])
    _seed_recs(res, "chase_unet", [0.80, 0.81, 0.82])
    seeds = render(res)["seeds"]
    assert "| CaFFNet | 0 | paper | 0.9800 (one seed) | 0.8300 (one seed) |" in seeds
    assert "| U-Net | 0, 1, 2 | paper | 0.9800 ± 0.0000 | 0.8100 ± 0.0100 |" in seeds
    assert "No test yet: CaFFNet has fewer than two seeds" in seeds
    # t = 0.02 / (0.01 * sqrt(4/3)) = 1.73, two-sided p with 2 df = 0.225
    assert "F1: CaFFNet's single seed 0.8300 vs U-Net's 3 seeds 0.8100 ± 0.0100: t = +1.73, df = 2, p = 0.225" in seeds
    assert "AUC: CaFFNet's single seed 0.9800 vs U-Net's 3 seeds 0.9800 ± 0.0000: no seed spread" in seeds
    assert "Welch" not in seeds and "inf" not in seeds


def test_seed_table_survives_nan_and_missing_evaluations(tmp_path):
    res = tmp_path / "results"
    _seed_recs(res, "chase_caffnet", [0.83, float("nan"), 0.84], sliding=[0.85, None, None])
    _seed_recs(res, "chase_unet", [0.80, 0.81, 0.82])
    seeds = render(res)["seeds"]
    assert "| 0.8350 ± 0.0071 (2 of 3 seeds) | 0.8500 (one seed) (1 of 3 seeds) |" in seeds
    assert "\nF1: CaFFNet − U-Net = +0.0250; Welch" in seeds
    assert "sliding F1: not tested (fewer than two seeds with this evaluation on one side)." in seeds


def _write_log(run_dir: Path, epochs: list[tuple[float, float]]) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    lines = ["epoch,loss,lr,seconds,patches_per_s"]
    lines += [f"{i},0.5,0.001,{sec},{pace}" for i, (sec, pace) in enumerate(epochs, 1)]
    (run_dir / "log.csv").write_text("\n".join(lines) + "\n")


def test_time_left_uses_own_log_then_a_sibling_then_a_record(tmp_path):
    from experiments.eta import estimate, format_duration, summary
    from vesselseg.engine.config import load_config

    def cfg(model="unet", options=None, dataset="chase", epochs=50):
        d = load_config(None, [f"dataset.name={dataset}", f"model.name={model}",
                               f"train.epochs={epochs}"]).to_dict()
        d["model"]["options"] = options or {}
        return d

    runs, results = tmp_path / "runs", tmp_path / "results"
    configs = {"a": cfg(), "a_s1": cfg(), "b": cfg(options={"skips": [2, 3]}), "c": cfg("ce_net"),
               "d": cfg("sa_unet", dataset="stare")}
    # "a" stopped after 3 epochs; the 600 s epoch (a pause) must not drag the estimate
    _write_log(runs / "a", [(60.0, 333.0), (600.0, 33.0), (60.0, 333.0)])
    left = estimate(configs, ["a", "a_s1", "b", "c", "d"], runs, results)
    assert left["a"].seconds == pytest.approx(47 * 60.0)
    assert "epoch 3/50" in left["a"].describe() and "own pace" in left["a"].describe()
    # same network and settings: 20 images x 1,000 patches x 50 epochs at 333 patches/s
    assert left["a_s1"].seconds == pytest.approx(20 * 1000 * 50 / 333.0)
    assert "pace of a" in left["a_s1"].basis
    assert left["b"].seconds == pytest.approx(left["a_s1"].seconds) and "other options" in left["b"].basis
    assert left["c"].seconds is None and "no ce_net run" in left["c"].describe()
    # a finished record lends its pace too (STARE: 10 training images)
    results.mkdir()
    record = {"format": FORMAT, "kind": "model", "name": "d0", "training_seconds": 1000.0,
              "config": cfg("sa_unet", dataset="drive"), "created": "2026-01-01"}
    (results / "d0.json").write_text(json.dumps(record))
    left = estimate(configs, ["c", "d"], runs, results)
    assert left["d"].seconds == pytest.approx(500.0) and "record d0" in left["d"].basis
    assert summary(left) == ("about 8 min of training left in 1 run(s), plus 1 run(s) with no "
                             "estimate yet (evaluation not included)")
    assert summary({}) == "nothing left to train"
    assert format_duration(20) == "under 1 min" and format_duration(3 * 3600 + 300) == "3 h 05 min"


@pytest.mark.slow
def test_study_refuses_a_run_another_live_process_holds(study_dir):
    import socket
    import subprocess
    import sys

    from experiments.runner import LOCK_NAME

    run_dir = Path("runs/tiny_unet")
    run_dir.mkdir(parents=True)
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (run_dir / LOCK_NAME).write_text(f"{holder.pid} {socket.gethostname()}\n")
        study = load_study("study.yaml")
        assert plan(study, Path("runs"), Path("results"))[0] == \
            ("tiny_unet", f"in progress (process {holder.pid} on {socket.gethostname()})")
        proc = run_experiments("study", "study.yaml", "--only", "tiny_unet", cwd=study_dir)
        assert_clean_error(proc, "is being worked on by process")
        assert (run_dir / LOCK_NAME).is_file() and not (run_dir / "config.yaml").exists()
    finally:
        holder.kill()
        holder.wait()
    # the holder is gone: its stale lock is taken over, and released when the run is done
    run_study(load_study("study.yaml"), only=("tiny_unet",), progress=False, echo=lambda s: None)
    assert Path("results/tiny_unet.json").is_file() and not (run_dir / LOCK_NAME).exists()


def test_time_left_times_a_machine_only_by_epochs_on_its_kind_of_device(tmp_path, monkeypatch):
    """A run started on a leased GPU and resumed on the CPU: the GPU's fast epochs count as done
    but must not set the CPU's pace (and the other way round on a GPU machine)."""
    from experiments import eta
    from vesselseg.engine.config import load_config

    cfg = load_config(None, ["dataset.name=chase", "model.name=sa_unet", "train.epochs=50"]).to_dict()
    runs = tmp_path / "runs"
    gpu_rows = [f"{i},0.5,0.001,12.0,1666.0,NVIDIA H200" for i in range(1, 41)]
    (runs / "mixed").mkdir(parents=True)
    (runs / "mixed" / "log.csv").write_text("epoch,loss,lr,seconds,patches_per_s,device\n" + "\n".join(
        gpu_rows + ["41,0.5,0.001,70.0,285.0,cpu", "42,0.5,0.001,66.0,303.0,cpu"]) + "\n")
    (runs / "gpu_only").mkdir()
    (runs / "gpu_only" / "log.csv").write_text("epoch,loss,lr,seconds,patches_per_s,device\n"
                                               + "\n".join(gpu_rows) + "\n")
    configs = {"mixed": cfg, "gpu_only": cfg}
    monkeypatch.setattr(eta, "_has_gpu", lambda: False)
    left = eta.estimate(configs, ["mixed", "gpu_only"], runs, tmp_path / "results")
    assert left["mixed"].seconds == pytest.approx(8 * 68.0) and left["mixed"].epochs_done == 42
    # no CPU epoch of its own: the CPU pace of its sibling, for the 10 epochs left
    assert left["gpu_only"].seconds == pytest.approx(20 * 1000 * 10 / 294.0)
    assert "pace of mixed" in left["gpu_only"].basis and "epoch 40/50" in left["gpu_only"].describe()
    monkeypatch.setattr(eta, "_has_gpu", lambda: True)
    left = eta.estimate(configs, ["mixed"], runs, tmp_path / "results")
    assert left["mixed"].seconds == pytest.approx(8 * 12.0)
    # a record lends only its CPU epochs' pace to a CPU machine (epochs 44-50 took 476 s)
    monkeypatch.setattr(eta, "_has_gpu", lambda: False)
    results = tmp_path / "results"
    results.mkdir()
    record = {"format": FORMAT, "kind": "model", "name": "r", "training_seconds": 1056.0, "config": cfg,
              "created": "2026-01-01", "training_segments": [
                  {"epochs": [1, 43], "seconds": 580.0, "trained_on": {"gpu": "NVIDIA H200"}},
                  {"epochs": [44, 50], "seconds": 476.0, "trained_on": {"cpu": "AMD EPYC"}}]}
    (results / "r.json").write_text(json.dumps(record))
    left = eta.estimate({"fresh": cfg}, ["fresh"], tmp_path / "no_runs", results)
    assert left["fresh"].seconds == pytest.approx(50 * 476.0 / 7) and "record r" in left["fresh"].basis
    # its log, written before the device column, is told apart by the record's segments: only the
    # CPU epochs 44-50 (294 patches/s) set the pace, not the GPU's 1,666
    (runs / "r").mkdir()
    (runs / "r" / "log.csv").write_text("epoch,loss,lr,seconds,patches_per_s\n" + "\n".join(
        [f"{i},0.5,0.001,12.0,1666.0" for i in range(1, 44)] + [f"{i},0.5,0.001,68.0,294.0" for i in range(44, 51)]
    ) + "\n")
    left = eta.estimate({"fresh": cfg, "r": cfg}, ["fresh"], runs, results)
    assert left["fresh"].seconds == pytest.approx(20 * 1000 * 50 / 294.0) and "pace of r" in left["fresh"].basis
