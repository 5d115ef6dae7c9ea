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
from PIL import Image

from conftest import assert_clean_error, run_cli
from test_folder_training import _make_folder
from test_segment import _write_photos, fundus
from vesselseg.engine.weights import save_weights
from vesselseg.models import create

CATALOGUE: list[tuple[str, int, str]] = []


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    torch.manual_seed(0)
    model = create("caffnet", base_channels=8).eval()
    card = {"name": "tiny", "model": {"name": "caffnet", "options": {"base_channels": 8}},
            "preprocess": {"standardise": "image"}, "stats": None, "resolution": {"fov_diameter_px": 140.0}}
    return save_weights(model, card, tmp_path_factory.mktemp("w") / "tiny.safetensors")


@pytest.fixture(scope="module", autouse=True)
def print_catalogue():
    yield
    if CATALOGUE:
        print("\n| case | exit | message |\n|---|---|---|")
        for case, rc, msg in CATALOGUE:
            print(f"| {case} | {rc} | {msg} |")


def _record(case, proc):
    first = (proc.stderr.strip().splitlines() or [""])[0]
    CATALOGUE.append((case, proc.returncode, first.replace("|", "\\|")[:150]))


def _save(path, arr, **kw):
    Image.fromarray(arr).save(path, **kw)
    return path


# --- bad images and masks: `vesselseg segment` -----------------------------------------------------

def _bad_image_case(case, tmp):
    """-> (extra CLI args, expected fragment of the error)."""
    photo = _save(tmp / "eye.png", fundus())
    if case == "missing path":
        return [tmp / "nope.jpg"], "no such file"
    if case == "directory instead of a FOV mask file":
        (tmp / "maskdir").mkdir()
        return [photo, "--fov", tmp / "maskdir"], "is a folder"
    if case == "zero-byte file":
        (tmp / "zero.png").write_bytes(b"")
        return [tmp / "zero.png"], "empty"
    if case == "truncated JPEG":
        _save(tmp / "t.jpg", fundus(), quality=95)
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
        return [_save(tmp / "one.png", np.zeros((1, 1, 3), np.uint8))], "at least 16x16"
    if case == "10x10 image":
        return [_save(tmp / "ten.png", np.zeros((10, 10, 3), np.uint8))], "at least 16x16"
    if case == "image over the pixel limit":
        return [photo], "limit of 5000"
    if case == "FOV mask of another size":
        return [photo, "--fov", _save(tmp / "m.png", np.full((50, 60), 255, np.uint8))], "60x50"
    if case == "all-zero FOV mask":
        return [photo, "--fov", _save(tmp / "z.png", np.zeros((160, 200), np.uint8))], "empty"
    raise AssertionError(case)


BAD_IMAGES = ["missing path", "directory instead of a FOV mask file", "zero-byte file", "truncated JPEG",
              "truncated PNG", "text file named .png", "1x1 image", "10x10 image", "image over the pixel limit",
              "FOV mask of another size", "all-zero FOV mask"]


@pytest.mark.parametrize("case", BAD_IMAGES)
def test_bad_images_and_masks(weights, tmp_path, case):
    args, fragment = _bad_image_case(case, tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("earlier results")
    env = {"VESSELSEG_MAX_PIXELS": "5000"} if case == "image over the pixel limit" else None
    proc = run_cli("segment", *args, "--out", out, "--weights", weights, "--no-progress", env=env)
    _record(f"segment: {case}", proc)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert fragment.lower() in proc.stderr.lower(), proc.stderr
    assert (out / "keep.txt").read_text() == "earlier results"
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]  # nothing half-written


@pytest.mark.parametrize("case", ["grey PNG", "RGBA PNG", "palette PNG", "16-bit PNG", "16-bit TIFF"])
def test_unusual_but_valid_images_are_segmented(weights, tmp_path, case):
    rgb = fundus()
    if case == "grey PNG":
        path = _save(tmp_path / "g.png", rgb[..., 0])
    elif case == "RGBA PNG":
        path = _save(tmp_path / "a.png", np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)]))
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
    CATALOGUE.append((f"segment: {case}", proc.returncode, "segmented"))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out" / f"{path.stem}_vessels.png").is_file()


# --- weights, configs, datasets, output folders ----------------------------------------------------

def test_truncated_weights(weights, tmp_path):
    cut = tmp_path / "cut.safetensors"
    data = Path(weights).read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    (tmp_path / "cut.json").write_text(Path(weights).with_suffix(".json").read_text())
    _write_photos(tmp_path / "p", 1)
    proc = run_cli("segment", tmp_path / "p", "--out", tmp_path / "o", "--weights", cut, "--no-progress")
    _record("segment: truncated .safetensors", proc)
    assert_clean_error(proc, "cut.safetensors")


def test_weights_for_another_architecture(weights, tmp_path):
    other = tmp_path / "other.safetensors"
    other.write_bytes(Path(weights).read_bytes())  # CaFFNet tensors...
    card = json.loads(Path(weights).with_suffix(".json").read_text())
    card["model"] = {"name": "unet", "options": {}}  # ...described as a U-Net
    other.with_suffix(".json").write_text(json.dumps(card))
    _write_photos(tmp_path / "p", 1)
    proc = run_cli("segment", tmp_path / "p", "--out", tmp_path / "o", "--weights", other, "--no-progress")
    _record("segment: weights of another architecture", proc)
    assert_clean_error(proc, "unet")


def test_pickle_weights_are_refused(tmp_path):
    torch.save({"x": torch.zeros(1)}, tmp_path / "w.pt")
    _write_photos(tmp_path / "p", 1)
    proc = run_cli("segment", tmp_path / "p", "--out", tmp_path / "o", "--weights", tmp_path / "w.pt", "--no-progress")
    _record("segment: pickled weights (.pt)", proc)
    assert_clean_error(proc, "pickle")


@pytest.mark.parametrize("override, fragment", [("train.epochz=3", "epochz"), ("train.epochs=many", "train.epochs")])
def test_bad_config_keys_and_types(tmp_path, override, fragment):
    proc = run_cli("train", "--set", override, "--out", tmp_path / "run")
    _record(f"train: --set {override}", proc)
    assert_clean_error(proc, fragment)
    assert not (tmp_path / "run").exists()


def test_dataset_folder_with_a_missing_label(weights, tmp_path):
    _make_folder(tmp_path / "data", n=2, size=64)
    next((tmp_path / "data" / "masks").iterdir()).unlink()
    proc = run_cli("evaluate", "--weights", weights, "--dataset", "folder", "--data", tmp_path / "data",
                   "--out", tmp_path / "ev", "--no-progress")
    _record("evaluate: folder dataset with a missing label", proc)
    assert_clean_error(proc, "mask")


def test_read_only_output_folder(weights, tmp_path):
    photo = _save(tmp_path / "eye.png", fundus())
    if os.geteuid() == 0:  # root ignores permission bits: use a place nobody can create folders in
        out = Path("/proc/vesselseg_out")
    else:
        out = tmp_path / "ro"
        out.mkdir()
        out.chmod(0o500)
    proc = run_cli("segment", photo, "--out", out, "--weights", weights, "--no-progress")
    _record("segment: output folder not writable", proc)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert str(out) in proc.stderr


def test_ctrl_c_during_a_batch_leaves_no_half_written_file(weights, tmp_path):
    photos, out = tmp_path / "photos", tmp_path / "out"
    photos.mkdir()
    for i in range(40):
        _save(photos / f"eye{i:02d}.png", fundus(480, 600, radius=220, seed=i))
    proc = subprocess.Popen([sys.executable, "-m", "vesselseg", "segment", str(photos), "--out", str(out),
                             "--weights", str(weights), "--no-progress", "--threads", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, OMP_NUM_THREADS="1"))
    deadline = time.time() + 120
    while time.time() < deadline and not (out.exists() and len(list(out.glob("*_overlay.png"))) >= 3):
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    CATALOGUE.append(("segment: Ctrl-C mid-batch", proc.returncode, err.strip().splitlines()[-1] if err.strip() else ""))
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
