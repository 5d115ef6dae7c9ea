"""Bad values (issue 28, hardening round 2): environment variables, option values, config keys,
model cards, weights, non-regular files.

Each is refused with one ``error: ...`` line naming the value, exit status 2 and no traceback,
and leaves existing outputs alone. Behaviour that belongs to a function is tested on the function
(fast); each distinct user-facing path once through the real command line (a subprocess each),
recorded in the catalogue that ``pytest tests/test_bad_input*.py -s`` prints.
"""

import json
import os
import signal
import tempfile
import warnings
from contextlib import contextmanager
from pathlib import Path

import click
import numpy as np
import pytest
import torch
from conftest import fundus, make_folder, record_case, run_cli
from PIL import Image

from vesselseg.engine.config import MAX_PATCH, load_config
from vesselseg.errors import ConfigError, InputError
from vesselseg.inference.weights import load_model, save_weights
from vesselseg.models import create

TORCHRUN_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE")


@pytest.fixture
def no_torchrun(monkeypatch):
    for name in TORCHRUN_VARS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@contextmanager
def no_hang(seconds=20):
    """Fail (instead of blocking the test run forever) if the body does not return in time."""
    def alarm(signum, frame):
        raise TimeoutError(f"blocked for more than {seconds} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _photo(folder: Path, name="eye.png") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(fundus()).save(folder / name)
    return folder / name


def _one_error_line(proc, *fragments):
    """Exit 2, no traceback, stderr exactly one ``error: ...`` line holding every fragment."""
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for f in fragments:
        assert f in lines[0], f"{f!r} not in {lines[0]!r}"
    return lines[0]


def _keep(out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    (out / "keep.txt").write_text("earlier results")
    return out


def _kept(out: Path) -> bool:
    return sorted(p.name for p in out.iterdir()) == ["keep.txt"] and (out / "keep.txt").read_text() == "earlier results"


def _card_variant(weights: Path, folder: Path, name: str, change) -> Path:
    """A copy of the tiny weights whose card is edited by ``change(card)``."""
    folder.mkdir(parents=True, exist_ok=True)
    dst = folder / f"{name}.safetensors"
    dst.write_bytes(Path(weights).read_bytes())
    card = json.loads(Path(weights).with_suffix(".json").read_text())
    change(card)
    dst.with_suffix(".json").write_text(json.dumps(card))
    return dst


# --- environment variables (library) -----------------------------------------------------------

@pytest.mark.parametrize("value, expected", [("2e8", 200_000_000), ("200000000", 200_000_000),
                                             ("5000", 5000), (" 3e4 ", 30_000), ("", 200_000_000)])
def test_max_pixels_accepts_whole_numbers_written_any_way(monkeypatch, value, expected):
    from vesselseg.io.images import max_pixels

    monkeypatch.setenv("VESSELSEG_MAX_PIXELS", value)
    assert max_pixels() == expected


@pytest.mark.parametrize("value", ["abc", "0", "-5", "1.5", "inf", "nan", "100"])
def test_max_pixels_refuses_non_numbers_and_too_small_limits(monkeypatch, value):
    from vesselseg.io.images import max_pixels

    monkeypatch.setenv("VESSELSEG_MAX_PIXELS", value)
    with pytest.raises(ConfigError, match=r"\$VESSELSEG_MAX_PIXELS"):
        max_pixels()


@pytest.mark.parametrize("value", ["abc", "-4", "100000", "2.5"])
def test_vesselseg_threads_is_checked(monkeypatch, value):
    from vesselseg.settings import set_threads

    monkeypatch.setenv("VESSELSEG_THREADS", value)
    asked = []
    monkeypatch.setattr(torch, "set_num_threads", asked.append)
    with pytest.raises(ConfigError, match=r"\$VESSELSEG_THREADS"):
        set_threads()
    assert asked == []


@pytest.mark.parametrize("n", [-1, 100_000, 2.5, True])
def test_set_threads_refuses_counts_outside_its_bound(monkeypatch, n):
    from vesselseg.settings import max_threads, set_threads

    asked = []  # never hand torch 100000 threads, even if the check regressed (it crashed the process)
    monkeypatch.setattr(torch, "set_num_threads", asked.append)
    assert max_threads() >= max(256, os.cpu_count() or 1)
    with pytest.raises(ConfigError, match="threads"):
        set_threads(n)
    assert asked == []


def test_workers_are_bounded():
    from vesselseg.settings import check_workers, max_workers

    assert 4 <= max_workers() <= 64
    assert check_workers(0) == 0 and check_workers(max_workers()) == max_workers()
    for bad in (-1, max_workers() + 1, 1000):
        with pytest.raises(ConfigError, match="--workers"):
            check_workers(bad)


@pytest.mark.parametrize("env, fragment", [
    ({"RANK": "x", "WORLD_SIZE": "2"}, "$RANK='x'"),
    ({"RANK": "0", "WORLD_SIZE": "two"}, "$WORLD_SIZE='two'"),
    ({"RANK": "5", "WORLD_SIZE": "2"}, "$RANK=5 with $WORLD_SIZE=2"),
    ({"RANK": "-1", "WORLD_SIZE": "2"}, "$RANK=-1"),
    ({"RANK": "3"}, "$WORLD_SIZE unset"),
    ({"WORLD_SIZE": "0"}, "$WORLD_SIZE=0"),
    ({"RANK": "0", "WORLD_SIZE": "2", "LOCAL_WORLD_SIZE": "0"}, "$LOCAL_WORLD_SIZE=0"),
    ({"RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "7"}, "$LOCAL_RANK=7"),
])
def test_torchrun_variables_are_checked_for_shards_and_training(no_torchrun, env, fragment):
    from vesselseg.engine import distributed
    from vesselseg.segmentation.batch import parse_shard

    for k, v in env.items():
        no_torchrun.setenv(k, v)
    with pytest.raises(ConfigError) as shard_err:
        parse_shard(None)
    assert fragment in str(shard_err.value)
    with pytest.raises(ConfigError, match="RANK|WORLD_SIZE"):
        distributed.setup()  # refused before any process group is joined


def test_valid_torchrun_variables_still_choose_the_shard(no_torchrun):
    from vesselseg.segmentation.batch import parse_shard

    assert parse_shard(None) is None
    no_torchrun.setenv("RANK", "1")
    no_torchrun.setenv("WORLD_SIZE", "2")
    assert parse_shard(None) == (2, 2)
    no_torchrun.setenv("WORLD_SIZE", "1")
    no_torchrun.setenv("RANK", "0")
    assert parse_shard(None) is None
    assert parse_shard("2/3") == (2, 3)
    from vesselseg.settings import env_ranks

    for k, v in {"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"}.items():
        no_torchrun.setenv(k, v)  # what torchrun sets on the second of two nodes
    assert env_ranks() == (3, 4, 1) and parse_shard(None) == (4, 4)


def test_empty_path_variables_mean_unset(monkeypatch):
    from vesselseg.settings import data_root

    monkeypatch.setenv("VESSELSEG_DATA", "")
    assert data_root().name == "datasets"  # not Path(""), the current folder


# --- config values (library) -------------------------------------------------------------------

@pytest.mark.parametrize("override, key", [
    ("patches.size=0", "patches.size"),
    ("patches.size=1000", "patches.size"),
    ("patches.size=8", "patches.size"),
    ("optim.lr=nan", "optim.lr"),
    ("optim.lr=.inf", "optim.lr"),
    ("optim.lr=0", "optim.lr"),
    ("optim.lr=-1e-3", "optim.lr"),
    ("optim.weight_decay=-1", "optim.weight_decay"),
    ("optim.min_lr=1.0", "optim.min_lr"),
    ("train.epochs=0", "train.epochs"),
    ("train.batch_size=-3", "train.batch_size"),
    ("patches.per_image=0", "patches.per_image"),
    ("train.threads=-1", "train.threads"),
    ("train.threads=100000", "train.threads"),
    ("train.seed=-1", "train.seed"),
    ("eval.threshold=nan", "eval.threshold"),
    ("eval.threshold=1.5", "eval.threshold"),
    ("dataset.fov_diameter=nan", "dataset.fov_diameter"),
    ("patches.scale_jitter=nan", "patches.scale_jitter"),
    ("loss.ds_weights=[0.5, .nan, 0.2]", "loss.ds_weights[1]"),
    ("loss.ds_weights=[0.5, x, 0.2]", "loss.ds_weights[1]"),
    ("preprocess.gamma=nan", "preprocess.gamma"),
    ("preprocess.gamma=0", "preprocess.gamma"),
    ("preprocess.clahe_clip=inf", "preprocess.clahe_clip"),
    ("preprocess.clahe_tiles=100000", "preprocess.clahe_tiles"),
    ("preprocess.clahe_tiles=0", "preprocess.clahe_tiles"),
    ("model.options={base_channels: x}", "base_channels"),
])
def test_bad_config_values_are_refused_at_load_naming_the_key(override, key):
    with pytest.raises(ConfigError) as err:
        load_config(None, [override])
    assert key in str(err.value)


def test_patch_size_must_cover_the_networks_down_sampling():
    with pytest.raises(ConfigError, match="down-samples by 32"):
        load_config(None, ["model.name=ce_net", "patches.size=24"])
    assert load_config(None, ["model.name=ce_net", "patches.size=32"]).patches.size == 32
    assert load_config(None, [f"patches.size={MAX_PATCH}"]).patches.size == MAX_PATCH


def test_every_shipped_config_still_loads():
    root = Path(__file__).resolve().parents[1] / "configs"
    paths = [p for p in sorted(root.rglob("*.yaml")) if "studies" not in p.parts]
    assert paths
    for p in paths:
        load_config(p)


def test_preprocess_config_refuses_non_finite_and_huge_values():
    from vesselseg.preprocess import PreprocessConfig
    from vesselseg.preprocess.pipeline import MAX_CLAHE_TILES

    for kw, key in [({"gamma": float("nan")}, "gamma"), ({"gamma": float("inf")}, "gamma"),
                    ({"clahe_clip": float("nan")}, "clahe_clip"), ({"clahe_tiles": 100000}, "clahe_tiles"),
                    ({"gamma": "x"}, "gamma"), ({"clahe": "yes"}, "clahe")]:
        with pytest.raises(ConfigError, match=key):
            PreprocessConfig(**kw)
    assert PreprocessConfig(clahe_tiles=MAX_CLAHE_TILES).clahe_tiles == MAX_CLAHE_TILES


def test_the_cli_clahe_bound_is_the_librarys():
    from vesselseg import cli
    from vesselseg.preprocess.pipeline import MAX_CLAHE_TILES

    assert cli.MAX_CLAHE_TILES == MAX_CLAHE_TILES


# --- model cards and weights (library) ---------------------------------------------------------

CARD_CASES = {
    "options as a string": (lambda c: c["model"].__setitem__("options", "base_channels=8"), "model.options"),
    "stats mean as text": (lambda c: c.__setitem__("stats", {"mean": "x", "std": 0.2, "lo": -2, "hi": 2}), "stats.mean"),
    "stats without std": (lambda c: c.__setitem__("stats", {"mean": 0.4}), "stats.std"),
    "stats std zero": (lambda c: c.__setitem__("stats", {"mean": 0.4, "std": 0, "lo": -2, "hi": 2}), "stats.std"),
    "stats as a list": (lambda c: c.__setitem__("stats", [0.4, 0.2]), "stats"),
    "preprocess as a string": (lambda c: c.__setitem__("preprocess", "image"), "preprocess"),
    "preprocess gamma NaN": (lambda c: c["preprocess"].__setitem__("gamma", float("nan")), "preprocess.gamma"),
    "resolution as a number": (lambda c: c.__setitem__("resolution", 540), "resolution"),
    "negative FOV diameter": (lambda c: c.__setitem__("resolution", {"fov_diameter_px": -5}), "fov_diameter_px"),
    "patch size as text": (lambda c: c.__setitem__("protocol", {"patch_size": "big"}), "protocol.patch_size"),
    "model name a number": (lambda c: c["model"].__setitem__("name", 7), "model.name"),
    "model a string": (lambda c: c.__setitem__("model", "caffnet"), "model name"),
    "unknown model": (lambda c: c["model"].__setitem__("name", "resnet"), "unknown model 'resnet'"),
    "unknown option": (lambda c: c["model"]["options"].__setitem__("widthh", 3), "widthh"),
    "option of a wrong type": (lambda c: c["model"]["options"].__setitem__("base_channels", "wide"), "base_channels"),
}


@pytest.mark.parametrize("case", sorted(CARD_CASES))
def test_wrongly_typed_model_cards_name_the_card_file(weights, tmp_path, case):
    change, fragment = CARD_CASES[case]
    w = _card_variant(weights, tmp_path, "w", change)
    with pytest.raises(InputError) as err:
        load_model(w)
    assert str(w.with_suffix(".json")) in str(err.value) and fragment in str(err.value)


def test_a_card_that_is_not_an_object_is_refused(weights, tmp_path):
    w = tmp_path / "w.safetensors"
    w.write_bytes(Path(weights).read_bytes())
    w.with_suffix(".json").write_text('"model"')
    with pytest.raises(InputError, match="JSON object"):
        load_model(w)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_weights_holding_nan_or_inf_are_refused_at_load(tmp_path, bad):
    model = create("caffnet", base_channels=8)
    with torch.no_grad():
        next(model.parameters()).view(-1)[3] = bad
    card = {"name": "broken", "model": {"name": "caffnet", "options": {"base_channels": 8}}}
    w = save_weights(model, card, tmp_path / "diverged.safetensors")
    with pytest.raises(InputError, match="NaN or infinite") as err:
        load_model(w)
    assert str(w) in str(err.value)


def test_a_fifo_as_weights_or_card_is_refused_at_once(weights, tmp_path):
    fifo = tmp_path / "pipe.safetensors"
    os.mkfifo(fifo)
    with no_hang(), pytest.raises(InputError, match="not a regular file"):
        load_model(fifo)
    w = tmp_path / "w.safetensors"
    w.write_bytes(Path(weights).read_bytes())
    os.mkfifo(tmp_path / "w.json")
    with no_hang(), pytest.raises(InputError, match=r"w\.json: not a regular file"):
        load_model(w)


def test_a_fifo_as_image_is_refused_at_once_and_not_called_empty(tmp_path):
    from vesselseg.io.images import read_image, read_mask

    fifo = tmp_path / "eye.png"
    os.mkfifo(fifo)
    for reader in (read_image, read_mask):
        with no_hang(), pytest.raises(InputError) as err:
            reader(fifo)
        assert "not a regular file" in str(err.value) and "empty" not in str(err.value)


def test_a_fifo_as_config_is_refused_at_once(tmp_path):
    fifo = tmp_path / "run.yaml"
    os.mkfifo(fifo)
    with no_hang(), pytest.raises(ConfigError, match=r"run\.yaml: not a regular file"):
        load_config(fifo)


# --- values given to the Python API ------------------------------------------------------------

@pytest.mark.parametrize("kw, fragment", [
    ({"threshold": float("nan")}, "threshold"), ({"threshold": 1.5}, "threshold"),
    ({"pixel_size_um": float("inf")}, "pixel size"), ({"pixel_size_um": 0.0}, "pixel size"),
    ({"workers": 1000}, "--workers"),
])
def test_segment_paths_refuses_bad_numbers_before_any_work(weights, tmp_path, kw, fragment):
    from vesselseg.api import segment_paths

    photo = _photo(tmp_path / "in")
    with pytest.raises((InputError, ConfigError), match=fragment):
        segment_paths([photo], tmp_path / "out", weights, **kw)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("kw, fragment", [
    ({"threshold": float("nan")}, "threshold"), ({"pixel_size_um": float("nan")}, "pixel size"),
    ({"disc": (float("nan"), 10.0, 5.0)}, "disc x"), ({"disc": (10.0, 10.0, -1.0)}, "disc radius"),
    ({"min_segment": float("inf")}, "minimum segment"),
])
def test_measure_paths_refuses_bad_numbers_before_any_work(tmp_path, kw, fragment):
    from vesselseg.api import measure_paths

    mask = np.zeros((64, 64), np.uint8)
    mask[30:33, 5:60] = 255
    Image.fromarray(mask).save(tmp_path / "m.png")
    with pytest.raises(InputError, match=fragment):
        measure_paths([tmp_path / "m.png"], tmp_path / "out" / "t.csv", **kw)
    assert not (tmp_path / "out").exists()


def test_measure_refuses_a_nan_pixel_size():
    from vesselseg.api import measure

    with pytest.raises(InputError, match="pixel size"):
        measure(np.ones((32, 32), bool), pixel_size_um=float("nan"))


def test_evaluate_refuses_nan_threshold_and_a_window_past_the_image(weights, tmp_path):
    from vesselseg.engine.evaluate import evaluate

    make_folder(tmp_path / "data", n=2, size=64)
    with pytest.raises(InputError, match="threshold"):
        evaluate(weights, "folder", tmp_path / "data", threshold=float("nan"), progress=False)
    with pytest.raises(InputError, match=r"--window 2000 is larger than .* \(64x64 px\)"):
        evaluate(weights, "folder", tmp_path / "data", mode="sliding", window=2000, stride=16,
                 out=tmp_path / "ev", progress=False)
    assert not list((tmp_path / "ev").glob("*.png"))  # refused before the first map


# --- helpers of the command line (library) -----------------------------------------------------

def test_finite_float_refuses_nan_and_inf_inside_any_range():
    from vesselseg.cli import FiniteFloat

    t = FiniteFloat(0, 1)
    assert t.convert("0.25", None, None) == 0.25
    for bad in ("nan", "inf", "-inf", "NaN"):
        with pytest.raises(click.BadParameter, match="not a finite number"):
            t.convert(bad, None, None)
    with pytest.raises(click.BadParameter):
        t.convert("2", None, None)
    assert FiniteFloat(min=0, min_open=True).convert("1e300", None, None) == 1e300


def test_one_line_escapes_control_characters():
    from vesselseg.validation import one_line

    assert one_line("a/b c.png: fine") == "a/b c.png: fine"
    assert one_line("bad\nname\t.png\x1b[31m") == "bad\\nname\\t.png\\x1b[31m"
    assert "\n" not in one_line("x\r\n\x00y") and one_line("µm é") == "µm é"


# --- formats, warnings, cache ------------------------------------------------------------------

def test_folder_listings_take_every_format_the_reader_decodes(tmp_path):
    from PIL import features

    from vesselseg.io.images import IMAGE_SUFFIXES, read_image
    from vesselseg.segmentation import collect_inputs

    registered = Image.registered_extensions()
    assert all(s in registered for s in IMAGE_SUFFIXES), [s for s in IMAGE_SUFFIXES if s not in registered]
    if not features.check("webp"):
        pytest.skip("Pillow without WebP")
    assert ".webp" in IMAGE_SUFFIXES
    Image.fromarray(fundus()).save(tmp_path / "eye.webp")
    files, problems = collect_inputs([tmp_path])
    assert [f.name for f in files] == ["eye.webp"] and not problems
    assert read_image(files[0]).shape == (160, 200, 3)


def test_pillow_warnings_do_not_reach_stderr(tmp_path):
    from vesselseg.io.images import read_image

    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"II*\x00garbage")  # Pillow warns "Corrupt EXIF data" before failing
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(InputError, match="bad.tif"):
            read_image(bad)


def test_an_empty_fov_gives_no_numpy_warning_and_no_nan():
    from vesselseg.preprocess import PreprocessConfig, fit_stats, preprocess

    rgb = np.random.default_rng(0).random((64, 64, 3)).astype(np.float32)
    empty = np.zeros((64, 64), bool)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = preprocess(rgb, None, PreprocessConfig(standardise="image"), fov=empty)
        assert np.isfinite(out).all()
        with pytest.raises(InputError, match="no pixel inside"):
            fit_stats([rgb[..., 0]], [empty])


def test_an_unwritable_onnx_cache_does_not_leave_a_folder_per_run(weights, tmp_path, monkeypatch):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from vesselseg.inference.onnx import onnx_for_weights

    # A cache that cannot be created whoever runs the test (root ignores permission bits).
    monkeypatch.setenv("VESSELSEG_CACHE", "/proc/vesselseg_cache_test")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    first = onnx_for_weights(weights)
    listing = sorted(p.name for p in scratch.iterdir())
    second = onnx_for_weights(weights)
    assert first == second and first.is_file() and first.parent.parent.parent == scratch
    assert sorted(p.name for p in scratch.iterdir()) == listing, listing  # the second run made nothing new
    assert not [n for n in listing if n.startswith("vesselseg-onnx-")], listing  # no mkdtemp folder per run


# --- through the command line ------------------------------------------------------------------

ENV_CASES = [
    ("VESSELSEG_MAX_PIXELS=abc", {"VESSELSEG_MAX_PIXELS": "abc"}, "$VESSELSEG_MAX_PIXELS='abc'"),
    ("VESSELSEG_THREADS=abc", {"VESSELSEG_THREADS": "abc"}, "$VESSELSEG_THREADS='abc'"),
    ("VESSELSEG_THREADS=-4", {"VESSELSEG_THREADS": "-4"}, "$VESSELSEG_THREADS='-4'"),
    ("RANK=x WORLD_SIZE=2", {"RANK": "x", "WORLD_SIZE": "2"}, "$RANK='x'"),
    ("RANK=0 WORLD_SIZE=two", {"RANK": "0", "WORLD_SIZE": "two"}, "$WORLD_SIZE='two'"),
    ("RANK=5 WORLD_SIZE=2", {"RANK": "5", "WORLD_SIZE": "2"}, "0 <= RANK < WORLD_SIZE"),
]


@pytest.mark.slow
@pytest.mark.parametrize("case, env, fragment", ENV_CASES, ids=[c[0] for c in ENV_CASES])
def test_cli_bad_environment_variables(weights, tmp_path, case, env, fragment):
    photo = _photo(tmp_path / "in")
    out = _keep(tmp_path / "out")
    proc = run_cli("segment", photo, "--out", out, "--weights", weights, "--no-progress", env=env, timeout=120)
    record_case(f"segment: {case}", proc)
    _one_error_line(proc, fragment)
    assert _kept(out)


@pytest.mark.slow
def test_cli_max_pixels_written_as_2e8_is_accepted(weights, tmp_path):
    photo = _photo(tmp_path / "in")
    proc = run_cli("segment", photo, "--out", tmp_path / "out", "--weights", weights, "--no-progress",
                   env={"VESSELSEG_MAX_PIXELS": "2e8"}, timeout=120)
    record_case("segment: VESSELSEG_MAX_PIXELS=2e8 (accepted)", rc=proc.returncode, message="segmented")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out" / "eye_vessels.png").is_file()


@pytest.mark.slow
def test_cli_train_with_a_rank_outside_the_world_creates_nothing(tmp_path):
    proc = run_cli("train", "--out", tmp_path / "run", env={"RANK": "5", "WORLD_SIZE": "2"}, timeout=120)
    record_case("train: RANK=5 WORLD_SIZE=2", proc)
    _one_error_line(proc, "$RANK=5")
    assert not (tmp_path / "run").exists()


OPTION_CASES = [
    ("segment --threads 100000", ["segment", "{photo}", "--threads", "100000"], "--threads"),
    ("segment --workers 1000", ["segment", "{photo}", "--workers", "1000"], "--workers"),
    ("segment --threshold nan", ["segment", "{photo}", "--threshold", "nan"], "--threshold"),
    ("segment --measure --pixel-size-um nan", ["segment", "{photo}", "--measure", "--pixel-size-um", "nan"],
     "--pixel-size-um"),
    ("segment --scale nan", ["segment", "{photo}", "--scale", "nan"], "scale nan"),
    ("evaluate --mode sliding --window 100000", ["evaluate", "--mode", "sliding", "--window", "100000"], "--window"),
    ("evaluate --threshold nan", ["evaluate", "--threshold", "nan"], "--threshold"),
    ("preprocess --clahe-tiles 100000", ["preprocess", "--clahe-tiles", "100000"], "--clahe-tiles"),
    ("preprocess --gamma nan", ["preprocess", "--gamma", "nan"], "--gamma"),
    ("preprocess --clahe-clip inf", ["preprocess", "--clahe-clip", "inf"], "--clahe-clip"),
    ("measure --threshold nan", ["measure", "{mask}", "--threshold", "nan"], "--threshold"),
    ("measure --pixel-size-um inf", ["measure", "{mask}", "--pixel-size-um", "inf"], "--pixel-size-um"),
    ("measure --disc nan,10,5", ["measure", "{mask}", "--disc", "nan,10,5"], "--disc"),
    ("train --threads 100000", ["train", "--threads", "100000"], "--threads"),
]


#: refused only after torch (or scikit-image) is imported: seconds each, the rest fail in option parsing
SLOW_OPTION_CASES = {"segment --scale nan", "measure --disc nan,10,5"}


@pytest.mark.parametrize("case, args, fragment", [
    pytest.param(*c, id=c[0], marks=[pytest.mark.slow] if c[0] in SLOW_OPTION_CASES else []) for c in OPTION_CASES])
def test_cli_bad_option_values(weights, tmp_path, case, args, fragment):
    photo = _photo(tmp_path / "in")
    mask = tmp_path / "in" / "mask.png"
    Image.fromarray(np.pad(np.full((4, 40), 255, np.uint8), 20)).save(mask)
    out = _keep(tmp_path / "out")
    cmd = [a.format(photo=photo, mask=mask) for a in args]
    if cmd[0] in ("segment", "evaluate"):
        cmd += ["--weights", weights, "--no-progress"]
    cmd += ["--out", out]
    proc = run_cli(*cmd, timeout=120)
    record_case(case, proc)
    _one_error_line(proc, fragment)
    assert _kept(out)


@pytest.mark.slow
@pytest.mark.parametrize("override", ["patches.size=0", "patches.size=1000", "optim.lr=nan"])
def test_cli_bad_config_values(tmp_path, override):
    proc = run_cli("train", "--set", override, "--out", tmp_path / "run", timeout=120)
    record_case(f"train: --set {override}", proc)
    _one_error_line(proc, override.split("=")[0])
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
@pytest.mark.parametrize("case", ["options as a string", "stats mean as text", "unknown model"])
def test_cli_bad_model_cards(weights, tmp_path, case):
    change, fragment = CARD_CASES[case]
    w = _card_variant(weights, tmp_path / "w", "card", change)
    out = _keep(tmp_path / "out")
    proc = run_cli("segment", _photo(tmp_path / "in"), "--out", out, "--weights", w, "--no-progress", timeout=120)
    record_case(f"segment: model card with {case}", proc)
    _one_error_line(proc, "card.json", fragment)
    assert _kept(out)


@pytest.mark.slow
def test_cli_nan_weights(tmp_path):
    model = create("caffnet", base_channels=8)
    with torch.no_grad():
        next(model.parameters()).fill_(float("nan"))
    w = save_weights(model, {"name": "nan", "model": {"name": "caffnet", "options": {"base_channels": 8}}},
                     tmp_path / "nan.safetensors")
    out = _keep(tmp_path / "out")
    proc = run_cli("segment", _photo(tmp_path / "in"), "--out", out, "--weights", w, "--no-progress", timeout=120)
    record_case("segment: weights holding NaN", proc)
    _one_error_line(proc, "nan.safetensors", "NaN")
    assert _kept(out)


@pytest.mark.slow
@pytest.mark.parametrize("what", ["weights", "image"])
def test_cli_fifo_instead_of_a_file(weights, tmp_path, what):
    fifo = tmp_path / ("pipe.safetensors" if what == "weights" else "pipe.png")
    os.mkfifo(fifo)
    out = _keep(tmp_path / "out")
    photo = _photo(tmp_path / "in")
    if what == "weights":
        proc = run_cli("segment", photo, "--out", out, "--weights", fifo, "--no-progress", timeout=60)
    else:
        proc = run_cli("segment", fifo, "--out", out, "--weights", weights, "--no-progress", timeout=60)
    record_case(f"segment: a named pipe as the {what}", proc)
    line = _one_error_line(proc, fifo.name, "not a regular file")
    assert "empty" not in line
    assert _kept(out)


@pytest.mark.slow
def test_cli_a_newline_in_a_file_name_stays_one_line(weights, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    bad = folder / "bad\nname.png"
    bad.write_text("not a picture")
    proc = run_cli("segment", bad, "--out", tmp_path / "out", "--weights", weights, "--no-progress", timeout=120)
    record_case("segment: newline in the file name", proc)
    _one_error_line(proc, "bad\\nname.png", "not an image")
    assert all("bad\\nname.png" in l or "bad" not in l for l in proc.stdout.splitlines())  # progress lines too


@pytest.mark.slow
def test_cli_exit_status_one_bad_image_is_2_a_batch_with_failures_is_1(weights, tmp_path):
    folder = tmp_path / "in"
    _photo(folder, "good.png")
    (folder / "broken.png").write_text("text")
    single = run_cli("segment", folder / "broken.png", "--out", tmp_path / "o1", "--weights", weights,
                     "--no-progress", timeout=120)
    record_case("segment: the one image given is broken", single)
    _one_error_line(single, "broken.png")
    batch = run_cli("segment", folder, "--out", tmp_path / "o2", "--weights", weights, "--no-progress", timeout=120)
    record_case("segment: a batch with one broken image", batch)
    assert batch.returncode == 1 and "Traceback" not in batch.stderr
    assert batch.stderr.startswith("error: 1 of 2 failed:") and (tmp_path / "o2" / "good_vessels.png").is_file()
    measure_one = run_cli("measure", folder / "broken.png", "--out", tmp_path / "m", timeout=120)
    record_case("measure: the one input given is broken", measure_one)
    _one_error_line(measure_one, "broken.png")


def test_cli_usage_errors_are_one_line_too(tmp_path):
    proc = run_cli("segment", "--no-such-option", timeout=120)
    record_case("segment --no-such-option", proc)
    _one_error_line(proc, "--no-such-option", "vesselseg segment --help")
