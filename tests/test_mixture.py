"""The general (any-camera) model's data path: AV labels, AVRDB, camera augmentation, mixtures."""

import numpy as np
import pytest
import torch
from conftest import assert_clean_error, requires_dataset, run_cli

from vesselseg.engine.config import load_config
from vesselseg.engine.mixture import parse_sources, split_counts
from vesselseg.errors import ConfigError
from vesselseg.io.av import ARTERY, BACKGROUND, CROSSING, VEIN, snap_av_colours, vessel_from_av
from vesselseg.patches import sample_coords
from vesselseg.patches.camera import camera_augment


def test_av_colours_snap_to_the_nearest_class_through_jpeg_noise():
    rgb = np.array([[[250, 12, 8], [6, 3, 240], [20, 230, 30], [30, 25, 20], [128, 10, 120]]], np.uint8)
    classes = snap_av_colours(rgb)
    assert classes.tolist() == [[ARTERY, VEIN, CROSSING, BACKGROUND, ARTERY]]  # (128,10,120): nearer red
    assert vessel_from_av(classes).tolist() == [[True, True, True, False, True]]
    # float input in [0, 1] is the same image
    assert (snap_av_colours(rgb.astype(np.float32) / 255) == classes).all()
    with pytest.raises(ValueError):
        snap_av_colours(np.zeros((4, 4)))


def test_camera_augment_changes_the_fov_only_and_stays_in_range():
    rng = np.random.default_rng(1)
    rgb = np.random.default_rng(2).random((64, 80, 3)).astype(np.float32) * 0.8
    fov = np.zeros((64, 80), bool)
    fov[8:56, 10:70] = True
    outs = [camera_augment(rgb, fov, rng) for _ in range(5)]
    for out in outs:
        assert out.shape == rgb.shape and out.dtype == np.float32
        assert out.min() >= 0 and out.max() <= 1
        assert np.array_equal(out[~fov], rgb[~fov])
        assert np.abs(out[fov] - rgb[fov]).mean() > 1e-3
    assert not np.allclose(outs[0], outs[1])  # every call is another camera


def test_sample_coords_takes_a_count_per_image():
    sizes = torch.tensor([[60, 70], [80, 50], [64, 64]])
    coords = sample_coords(sizes, [3, 0, 5], 32, torch.Generator().manual_seed(0))
    assert coords.shape == (8, 3)
    assert torch.bincount(coords[:, 0], minlength=3).tolist() == [3, 0, 5]
    for i, y, x in coords.tolist():
        assert 0 <= y <= sizes[i, 0] - 32 and 0 <= x <= sizes[i, 1] - 32
    with pytest.raises(ValueError, match="2 patch counts for 3 images"):
        sample_coords(sizes, [1, 2], 32, torch.Generator())


def test_split_counts_and_sources():
    assert split_counts(10, 4) == [3, 3, 2, 2] and sum(split_counts(7501, 40)) == 7501
    src = parse_sources(["drive", {"name": "avrdb", "weight": 0.5}])
    assert [(s.name, s.weight) for s in src] == [("drive", 1.0), ("avrdb", 0.5)]
    for bad, msg in ((["nope"], "unknown dataset"), (["drive", "drive"], "twice"), ([], "needs dataset.sources"),
                     ([{"name": "drive", "weight": 0}], "positive"), ([{"name": "drive", "w": 1}], "expected a name")):
        with pytest.raises(ConfigError, match=msg):
            parse_sources(bad)


@pytest.mark.slow
def test_mixture_config_is_checked_at_load(tmp_path):
    cfg = load_config("configs/general/general_unet.yaml")
    assert cfg.dataset.sources == ["drive", "stare", "chase", "avrdb"] and cfg.patches.variants == 4
    with pytest.raises(ConfigError, match="standardises each image"):
        load_config("configs/general/general_unet.yaml", ["preprocess.standardise=dataset"])
    with pytest.raises(ConfigError, match="mixture only"):
        load_config(None, ["dataset.sources=[drive]"])
    with pytest.raises(ConfigError, match="scale_jitter"):
        load_config("configs/general/general_unet.yaml", ["patches.scale_jitter=3"])
    proc = run_cli("train", "configs/general/general_unet.yaml", "--set", "dataset.sources=[drive, hrf]",
                   "--out", tmp_path / "run")
    assert_clean_error(proc, "unknown dataset 'hrf'")
    assert not (tmp_path / "run").exists()


@requires_dataset("avrdb")
def test_avrdb_split_and_labels():
    from vesselseg.io.datasets import load_sample, load_split

    train, test = load_split("avrdb", "train"), load_split("avrdb", "test")
    assert len(train) == 70 and len(test) == 30
    assert not {s.name for s in train} & {s.name for s in test}
    assert test[0].name == sorted(s.name for s in train + test)[70]
    ls = load_sample(test[0])
    assert ls.label.shape == ls.image.shape[:2] == (1000, 1504)
    frac = (ls.label & ls.fov).sum() / ls.fov.sum()
    assert 0.05 < frac < 0.25  # a vessel tree, not JPEG noise (snapping) and not everything
    assert ls.fov_derived and 0.4 < ls.fov.mean() < 0.7


@requires_dataset("stare", "chase")
@pytest.mark.slow
def test_tiny_mixture_run_trains_and_evaluates_every_source(tmp_path):
    """Two small sources (STARE, CHASE_DB1) keep it quick; AVRDB's reading is tested above."""
    import json

    proc = run_cli("train", "configs/general/general_unet.yaml", "--set", "dataset.sources=[stare, chase]",
                   "--set", "train.epochs=1", "--set", "patches.per_image=2", "--set", "patches.variants=2",
                   "--set", "patches.size=32", "--set", "model.options={base_channels: 4}",
                   "--out", tmp_path / "run", "--no-progress", timeout=900)
    assert proc.returncode == 0, proc.stderr
    card = json.loads((tmp_path / "run" / "model.json").read_text())
    assert card["resolution"]["fov_diameter_px"] == 540
    assert card["dataset"]["name"] == "mixture"
    sources = card["dataset"]["sources"]
    assert set(sources) == {"stare", "chase"} and sources["chase"]["images"] == 20
    assert 900 < sources["chase"]["fov_diameter_px"] < 940  # CHASE_DB1's ruler, resampled to 540
    assert card["preprocess"]["standardise"] == "image" and card["stats"] is None
    assert set(card["test_metrics"]) == {"stare", "chase"}
    assert card["test_metrics"]["chase"]["setup"]["scale"] == "auto"
    # each source got its share of the epoch: 30 images x 2 patches = 60, 30 per source
    assert {s["patches_per_epoch"] for s in sources.values()} == {30}
    assert "stare: auc=" in proc.stdout and "chase: auc=" in proc.stdout
