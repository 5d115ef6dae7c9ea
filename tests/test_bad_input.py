"""The bad-input catalogue, through the real command line (a subprocess per case).

Every bad input gives one ``error: ...`` line naming the problem and a non-zero exit -- never a
traceback -- and leaves existing outputs alone. Inputs that are merely unusual (grey, RGBA,
palette, 16-bit) are segmented. ``python -m pytest tests/test_bad_input.py -s`` prints the
catalogue: case -> exit status -> first line of stderr.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch
from conftest import (
    assert_clean_error,
    default_sigint,
    fundus,
    make_folder,
    record_case,
    run_cli,
    save_image,
    write_photos,
)
from PIL import Image

# --- bad images and masks: `vesselseg segment` -----------------------------------------------------

def _bad_image_case(case, tmp):
    """-> (extra CLI args, expected fragment of the error)."""
    photo = save_image(tmp / "eye.png", fundus())
    if case == "missing path":
        return [tmp / "nope.jpg"], "no such file"
    if case == "directory instead of a FOV mask file":
        (tmp / "maskdir").mkdir()
        return [photo, "--fov", tmp / "maskdir"], "is a folder"
    if case == "zero-byte file":
        (tmp / "zero.png").write_bytes(b"")
        return [tmp / "zero.png"], "empty"
    if case == "truncated JPEG":
        save_image(tmp / "t.jpg", fundus(), quality=95)
        data = (tmp / "t.jpg").read_bytes()
        (tmp / "t.jpg").write_bytes(data[: len(data) // 2])
        return [tmp / "t.jpg"], "t.jpg"
    if case == "truncated PNG":
        data = photo.read_bytes()
        (tmp / "t.png").write_bytes(data[: len(data) // 2])
        return [tmp / "t.png"], "t.png"
    if case == "text file named .png":
        (tmp / "text.png").write_text("hello, I am text")
        return [tmp / "text.png"], "not an image"
    if case == "1x1 image":
        return [save_image(tmp / "one.png", np.zeros((1, 1, 3), np.uint8))], "at least 16x16"
    if case == "10x10 image":
        return [save_image(tmp / "ten.png", np.zeros((10, 10, 3), np.uint8))], "at least 16x16"
    if case == "image over the pixel limit":
        return [photo], "limit of 5000"
    if case == "FOV mask of another size":
        return [photo, "--fov", save_image(tmp / "m.png", np.full((50, 60), 255, np.uint8))], "60x50"
    if case == "all-zero FOV mask":
        return [photo, "--fov", save_image(tmp / "z.png", np.zeros((160, 200), np.uint8))], "empty"
    raise AssertionError(case)


BAD_IMAGES = ["missing path", "directory instead of a FOV mask file", "zero-byte file", "truncated JPEG",
              "truncated PNG", "text file named .png", "1x1 image", "10x10 image", "image over the pixel limit",
              "FOV mask of another size", "all-zero FOV mask"]


@pytest.mark.slow
@pytest.mark.parametrize("case", BAD_IMAGES)
def test_bad_images_and_masks(weights, tmp_path, case):
    args, fragment = _bad_image_case(case, tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("earlier results")
    env = {"VESSELSEG_MAX_PIXELS": "5000"} if case == "image over the pixel limit" else None
    proc = run_cli("segment", *args, "--out", out, "--weights", weights, "--no-progress", env=env)
    record_case(f"segment: {case}", proc)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert fragment.lower() in proc.stderr.lower(), proc.stderr
    assert (out / "keep.txt").read_text() == "earlier results"
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]  # nothing half-written


@pytest.mark.slow
@pytest.mark.parametrize("case", ["grey PNG", "RGBA PNG", "palette PNG", "16-bit PNG", "16-bit TIFF"])
def test_unusual_but_valid_images_are_segmented(weights, tmp_path, case):
    rgb = fundus()
    if case == "grey PNG":
        path = save_image(tmp_path / "g.png", rgb[..., 0])
    elif case == "RGBA PNG":
        path = save_image(tmp_path / "a.png", np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)]))
    elif case == "palette PNG":
        path = tmp_path / "p.png"
        Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE).save(path)
    elif case == "16-bit PNG":
        path = tmp_path / "s.png"
        Image.fromarray(rgb[..., 0].astype(np.uint16) * 257).save(path)
    else:
        path = tmp_path / "s.tif"
        tifffile.imwrite(path, rgb.astype(np.uint16) * 257)
    proc = run_cli("segment", path, "--out", tmp_path / "out", "--weights", weights, "--no-progress")
    record_case(f"segment: {case}", rc=proc.returncode, message="segmented")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out" / f"{path.stem}_vessels.png").is_file()


# --- weights, configs, datasets, output folders ----------------------------------------------------

@pytest.mark.slow
def test_truncated_weights(weights, tmp_path):
    cut = tmp_path / "cut.safetensors"
    data = Path(weights).read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    (tmp_path / "cut.json").write_text(Path(weights).with_suffix(".json").read_text())
    write_photos(tmp_path / "p", 1)
    proc = run_cli("segment", tmp_path / "p", "--out", tmp_path / "o", "--weights", cut, "--no-progress")
    record_case("segment: truncated .safetensors", proc)
    assert_clean_error(proc, "cut.safetensors")


@pytest.mark.slow
def test_weights_for_another_architecture(weights, tmp_path):
    other = tmp_path / "other.safetensors"
    other.write_bytes(Path(weights).read_bytes())  # CaFFNet tensors...
    card = json.loads(Path(weights).with_suffix(".json").read_text())
    card["model"] = {"name": "unet", "options": {}}  # ...described as a U-Net
    other.with_suffix(".json").write_text(json.dumps(card))
    write_photos(tmp_path / "p", 1)
    proc = run_cli("segment", tmp_path / "p", "--out", tmp_path / "o", "--weights", other, "--no-progress")
    record_case("segment: weights of another architecture", proc)
    assert_clean_error(proc, "unet")


@pytest.mark.slow
def test_pickle_weights_are_refused(tmp_path):
    torch.save({"x": torch.zeros(1)}, tmp_path / "w.pt")
    write_photos(tmp_path / "p", 1)
    proc = run_cli("segment", tmp_path / "p", "--out", tmp_path / "o", "--weights", tmp_path / "w.pt", "--no-progress")
    record_case("segment: pickled weights (.pt)", proc)
    assert_clean_error(proc, "pickle")


@pytest.mark.slow
@pytest.mark.parametrize("override, fragment", [("train.epochz=3", "epochz"), ("train.epochs=many", "train.epochs")])
def test_bad_config_keys_and_types(tmp_path, override, fragment):
    proc = run_cli("train", "--set", override, "--out", tmp_path / "run")
    record_case(f"train: --set {override}", proc)
    assert_clean_error(proc, fragment)
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_dataset_folder_with_a_missing_label(weights, tmp_path):
    make_folder(tmp_path / "data", n=2, size=64)
    next((tmp_path / "data" / "masks").iterdir()).unlink()
    proc = run_cli("evaluate", "--weights", weights, "--dataset", "folder", "--data", tmp_path / "data",
                   "--out", tmp_path / "ev", "--no-progress")
    record_case("evaluate: folder dataset with a missing label", proc)
    assert_clean_error(proc, "mask")


@pytest.mark.slow
def test_read_only_output_folder(weights, tmp_path):
    photo = save_image(tmp_path / "eye.png", fundus())
    if os.geteuid() == 0:  # root ignores permission bits: use a place nobody can create folders in
        out = Path("/proc/vesselseg_out")
    else:
        out = tmp_path / "ro"
        out.mkdir()
        out.chmod(0o500)
    proc = run_cli("segment", photo, "--out", out, "--weights", weights, "--no-progress")
    record_case("segment: output folder not writable", proc)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert str(out) in proc.stderr


@pytest.mark.slow
def test_ctrl_c_during_a_batch_leaves_no_half_written_file(weights, tmp_path):
    photos, out = tmp_path / "photos", tmp_path / "out"
    photos.mkdir()
    for i in range(40):
        save_image(photos / f"eye{i:02d}.png", fundus(480, 600, radius=220, seed=i))
    proc = subprocess.Popen([sys.executable, "-m", "vesselseg", "segment", str(photos), "--out", str(out),
                             "--weights", str(weights), "--no-progress", "--threads", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, OMP_NUM_THREADS="1"), preexec_fn=default_sigint)
    deadline = time.time() + 120
    while time.time() < deadline and not (out.exists() and len(list(out.glob("*_overlay.png"))) >= 3):
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    record_case("segment: Ctrl-C mid-batch", rc=proc.returncode, message=err.strip().splitlines()[-1] if err.strip() else "")
    assert proc.returncode == 130 and "Traceback" not in err and "interrupted" in err
    names = [p.name for p in out.iterdir()]
    assert not [n for n in names if not n.endswith(".png") or n.startswith(".")], names  # no temporary files
    for png in out.iterdir():
        with Image.open(png) as im:
            im.load()  # every file there is complete
    done = {n.rsplit("_", 1)[0] for n in names}
    assert 3 <= len(done) < 40
    # rerunning finishes the batch, skipping what is complete
    proc = run_cli("segment", photos, "--out", out, "--weights", weights, "--no-progress")
    assert proc.returncode == 0 and "skipped" in proc.stdout
    assert len(list(out.glob("*_vessels.png"))) == 40


# --- round 2 (issue 28): outputs kept, degenerate masks, divergence, caches, full disks ------------

def _photo_and_outputs(weights, tmp):
    """A photograph segmented once into tmp/out -> (photo, out, {kind: path})."""
    photo = save_image(tmp / "eye.png", fundus())
    out = tmp / "out"
    proc = run_cli("segment", photo, "--out", out, "--weights", weights, "--no-progress")
    assert proc.returncode == 0, proc.stderr
    return photo, out, {k: out / f"eye_{k}.png" for k in ("vessels", "prob", "overlay")}


@pytest.mark.slow
def test_an_edited_mask_is_kept_when_another_output_is_missing(weights, tmp_path):
    photo, out, paths = _photo_and_outputs(weights, tmp_path)
    edited = np.zeros((160, 200), np.uint8)
    edited[10:20, 10:190] = 255  # the user's hand-corrected mask
    save_image(paths["vessels"], edited)
    before = paths["vessels"].read_bytes()
    paths["overlay"].unlink()
    proc = run_cli("segment", photo, "--out", out, "--weights", weights, "--no-progress")
    record_case("segment: edited _vessels.png, _overlay.png deleted", proc, message=proc.stdout.splitlines()[0])
    assert proc.returncode == 0, proc.stderr
    assert paths["vessels"].read_bytes() == before  # not replaced
    assert paths["overlay"].is_file()  # the missing one is made
    assert "kept the existing eye_vessels.png, eye_prob.png" in proc.stdout


@pytest.mark.slow
def test_read_only_outputs_are_never_replaced(weights, tmp_path):
    photo, out, paths = _photo_and_outputs(weights, tmp_path)
    paths["prob"].unlink()
    paths["vessels"].chmod(0o444)
    before = paths["vessels"].read_bytes()
    proc = run_cli("segment", photo, "--out", out, "--weights", weights, "--no-progress")
    assert proc.returncode == 0 and paths["prob"].is_file()
    proc = run_cli("segment", photo, "--out", out, "--weights", weights, "--no-progress", "--overwrite")
    record_case("segment --overwrite: a read-only (0444) output", proc)
    assert_clean_error(proc, "eye_vessels.png", "read-only")
    assert paths["vessels"].read_bytes() == before and not (paths["vessels"].stat().st_mode & 0o222)


@pytest.mark.slow
def test_a_mask_of_two_isolated_pixels_is_measured(tmp_path):
    mask = np.zeros((64, 64), np.uint8)
    mask[10, 10] = mask[40, 50] = 255
    path = save_image(tmp_path / "specks.png", mask)
    proc = run_cli("measure", path, "--out", tmp_path / "m")
    record_case("measure: a mask of two isolated pixels", proc, message=proc.stdout.strip().splitlines()[0])
    assert proc.returncode == 0, proc.stderr
    row = next(iter(__import__("csv").DictReader(open(tmp_path / "m" / "measurements.csv"))))
    assert row["segments"] == "0" and row["vessel_pixels"] == "2" and row["length_px"] == "0"
    assert "isolated specks" in row["note"]


def test_measure_without_the_measure_extra_says_what_to_install(monkeypatch):
    from vesselseg.errors import InputError
    from vesselseg.measure import measure_mask

    monkeypatch.setitem(sys.modules, "skan", None)  # as if skan were not installed
    mask = np.zeros((40, 40), bool)
    mask[20, 5:35] = True
    with pytest.raises(InputError, match=r"pip install 'vesselseg\[measure\]'"):
        measure_mask(mask, None, None, name="x")


@pytest.mark.slow
def test_segment_measure_batch_goes_on_past_a_failed_measurement_and_keeps_the_table(weights, tmp_path):
    photos = tmp_path / "photos"
    write_photos(photos, 2)
    out = tmp_path / "out"
    proc = run_cli("segment", photos, "--out", out, "--weights", weights, "--no-progress", "--measure")
    assert proc.returncode == 0, proc.stderr
    table = out / "measurements.csv"
    edited = table.read_text().replace("eye0,derived,", "eye0,derived (checked by hand),", 1)
    assert edited != table.read_text()
    table.write_text(edited)
    write_photos(photos, 3)  # a third photograph arrives
    proc = run_cli("segment", photos, "--out", out, "--weights", weights, "--no-progress", "--measure")
    record_case("segment --measure: re-run with an edited table", proc, message=proc.stdout.strip().splitlines()[-2])
    assert proc.returncode == 0, proc.stderr
    text = table.read_text()
    assert text.startswith(edited)  # the user's rows are kept verbatim...
    assert len(text.strip().splitlines()) == 4 and "\neye2," in text  # ...and the new image appended
    assert len(json.loads(table.with_suffix(".json").read_text())) == 3


@pytest.mark.slow
def test_training_that_diverges_stops_with_a_clear_error_and_saves_no_weights(tmp_path):
    make_folder(tmp_path / "data", n=2, size=64)
    run = tmp_path / "run"
    proc = run_cli("train", "--set", "dataset.name=folder", "--set", f"dataset.data={tmp_path / 'data'}",
                   "--set", "model.name=unet", "--set", "model.options={base_channels: 4, depth: 2}",
                   "--set", "patches.per_image=32", "--set", "train.epochs=3", "--set", "train.batch_size=16",
                   "--set", "optim.lr=1e30", "--out", run, "--no-progress")
    record_case("train: optim.lr=1e30 (the loss becomes NaN)", proc)
    assert_clean_error(proc, "training diverged", "loss is nan")
    assert not (run / "model.safetensors").exists()


@pytest.mark.slow
def test_training_stops_at_the_first_non_finite_loss(tmp_path, monkeypatch):
    """Library level: a loss that turns NaN in the second epoch keeps the first epoch's checkpoint."""
    from vesselseg.engine import trainer as trainer_mod
    from vesselseg.errors import TrainingError

    make_folder(tmp_path / "data", n=2, size=64)
    real = trainer_mod.Trainer.train_epoch

    def poisoned(self):
        if self.epoch == 1:
            self.loss_fn.terms = lambda out, y: {"total": out["logits"].sum() * float("nan"),
                                                 "base": out["logits"].sum()}
        return real(self)

    monkeypatch.setattr(trainer_mod.Trainer, "train_epoch", poisoned)
    from vesselseg.api import train

    with pytest.raises(TrainingError, match="epoch 2, batch 1.*checkpoint of epoch 1 is kept"):
        train(None, ["dataset.name=folder", f"dataset.data={tmp_path / 'data'}", "model.name=unet",
                     "model.options={base_channels: 4, depth: 2}", "patches.per_image=32", "train.epochs=3",
                     "train.batch_size=16", "train.threads=1"], out_dir=tmp_path / "run", progress=False)
    from vesselseg.engine.checkpoint import load_latest

    state, _ = load_latest(tmp_path / "run" / "checkpoints")
    assert state["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())


@pytest.mark.slow
@pytest.mark.skipif(not __import__("importlib").util.find_spec("onnxruntime"), reason="needs the export extra")
def test_a_broken_cached_onnx_export_is_made_again_and_exports_never_share_a_temp_name(weights, tmp_path, monkeypatch):
    import vesselseg.inference.onnx as onnx_mod

    monkeypatch.setenv("VESSELSEG_CACHE", str(tmp_path / "cache"))
    first = onnx_mod.onnx_for_weights(weights)
    good = first.read_bytes()
    first.write_bytes(good[: len(good) // 3])  # what a crashed or racing exporter left behind
    again = onnx_mod.onnx_for_weights(weights)
    assert again == first and again.read_bytes() == good
    # several processes exporting at once: every one succeeds and the cache holds one good file
    first.unlink()
    code = ("import sys; from vesselseg.inference.onnx import onnx_for_weights, OnnxModel; "
            "p = onnx_for_weights(sys.argv[1]); OnnxModel(p); print(p)")
    env = dict(os.environ, VESSELSEG_CACHE=str(tmp_path / "cache"), OMP_NUM_THREADS="1")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(weights)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(3)]
    results = [p.communicate(timeout=300) for p in procs]
    record_case("segment --backend onnxruntime: 3 processes exporting one cache entry at once",
                rc=max(p.returncode for p in procs), message="all exported; no temporary file left")
    assert all(p.returncode == 0 for p in procs), [r[1] for r in results]
    assert [p.name for p in first.parent.iterdir()] == [first.name]  # no temporary files left


def test_an_unwritable_cache_does_not_leave_a_new_temp_folder_every_run(weights, tmp_path, monkeypatch):
    import vesselseg.inference.onnx as onnx_mod

    monkeypatch.setenv("VESSELSEG_CACHE", "/proc/vesselseg-cache")  # cannot be created, even by root
    monkeypatch.setattr(onnx_mod.tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    a = onnx_mod.onnx_for_weights(weights)
    b = onnx_mod.onnx_for_weights(weights)
    assert a == b and a.is_relative_to(tmp_path / "tmp")
    assert len(list((tmp_path / "tmp").iterdir())) == 1


@pytest.mark.slow
@pytest.mark.parametrize("overlap", [True, False])
def test_a_full_disk_stops_the_batch_cleanly_with_no_partial_outputs(weights, tmp_path, monkeypatch, overlap):
    import errno

    from vesselseg.segmentation import Segmenter, segment_files

    photos = tmp_path / "photos"
    write_photos(photos, 4)
    files = sorted(photos.iterdir())
    import vesselseg.io.images as images_mod

    out = tmp_path / "out"
    saves = {"n": 0}
    real_atomic_write = images_mod.atomic_write

    def atomic_write(path, write, **kw):
        def counted(fh):
            saves["n"] += 1
            if saves["n"] > 4:  # the first image's three files fit; the second image's second one does not
                raise OSError(errno.ENOSPC, "No space left on device")
            return write(fh)

        return real_atomic_write(path, counted, **kw)

    monkeypatch.setattr(images_mod, "atomic_write", atomic_write)
    # the second image's outputs fail in the writer thread while the third is segmented
    report = segment_files(files, out, Segmenter(str(weights)), on_result=lambda s: None, overlap=overlap)
    assert [Path(p).name for p, _ in report.done] == ["eye0.png"]
    assert len(report.failed) == 1 and "No space left" in report.failed[0][1]
    assert report.stopped and "disk is full" in report.stopped and len(report.not_done) == 2
    assert sorted(p.name for p in out.iterdir()) == ["eye0_overlay.png", "eye0_prob.png", "eye0_vessels.png"]
    # an unreadable image right after the one whose write hits the full disk: that image is not
    # done (not also failed), and the lines come in the batch's order
    (photos / "eye2.png").write_bytes(b"not an image")
    saves["n"] = 0
    lines = []
    out2 = tmp_path / "out2"
    report = segment_files(files, out2, Segmenter(str(weights)), on_result=lines.append, overlap=overlap)
    assert [Path(p).name for p, _ in report.failed] == ["eye1.png"]
    assert [Path(p).name for p in report.not_done] == ["eye2.png", "eye3.png"]
    assert len(report.done) + len(report.failed) + len(report.not_done) == 4
    assert [line.split(":")[0] for line in lines] == ["eye0.png", "eye1.png", "stopped"]


@pytest.mark.slow
def test_training_images_smaller_than_a_patch_give_a_clear_error(tmp_path):
    make_folder(tmp_path / "data", n=2, size=40)
    proc = run_cli("train", "--set", "dataset.name=folder", "--set", f"dataset.data={tmp_path / 'data'}",
                   "--set", "model.name=unet", "--set", "patches.size=48", "--out", tmp_path / "run", "--no-progress")
    record_case("train: folder images (40x40) smaller than patches.size=48", proc)
    assert_clean_error(proc, "patches.size=48", "40x40")
