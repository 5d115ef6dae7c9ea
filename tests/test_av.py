"""Arteries and veins: targets, the masked loss, colour input, the segment vote, the classifier, `segment --av`."""

import csv

import numpy as np
import pytest
import torch
from conftest import assert_clean_error, requires_dataset, run_cli

from vesselseg.engine.config import load_config
from vesselseg.errors import ConfigError, InputError
from vesselseg.inference.prediction import predict
from vesselseg.inference.weights import save_weights
from vesselseg.io.av import ARTERY, BACKGROUND, CROSSING, UNCERTAIN, VEIN, av_targets, snap_av_colours
from vesselseg.io.images import read_image
from vesselseg.losses import build_loss
from vesselseg.models import create
from vesselseg.preprocess import PreprocessConfig, input_channels, model_input
from vesselseg.segmentation.av import (
    ArteryVeinClassifier,
    av_colour_image,
    av_overlay,
    pixel_classes,
    segment_vote,
    skeleton_segments,
)


def test_targets_crossing_is_both_and_uncertain_is_left_out():
    classes = np.array([[BACKGROUND, ARTERY, VEIN, CROSSING, UNCERTAIN]], np.uint8)
    artery, vein, known = av_targets(classes)
    assert artery.tolist() == [[0, 1, 0, 1, 0]]
    assert vein.tolist() == [[0, 0, 1, 1, 0]]
    assert known.tolist() == [[1, 1, 1, 1, 0]]


def test_masked_loss_ignores_weight_zero_pixels():
    loss = build_loss("masked_bce_dice", deep_supervision=False)
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 2, 16, 16, generator=g)
    target = torch.zeros(2, 3, 16, 16)
    target[:, 0, 4:6] = 1
    target[:, 1, 10:12] = 1
    target[:, 2] = 1
    target[:, 2, :, :3] = 0  # left out
    changed = logits.clone()
    changed[:, :, :, :3] = 50.0  # wildly wrong, but only where the weight is 0
    assert loss(changed, target).item() == pytest.approx(loss(logits, target).item(), rel=1e-6)
    # a perfect prediction scores far lower than a random one
    perfect = torch.where(target[:, :2] > 0, 20.0, -20.0)
    assert loss(perfect, target).item() < 0.05 < loss(logits, target).item()
    with pytest.raises(ValueError, match="weight channel"):
        loss(logits, target[:, :2])


def test_colour_input_has_four_standardised_channels():
    rng = np.random.default_rng(0)
    rgb = rng.random((40, 50, 3)).astype(np.float32)
    cfg = PreprocessConfig(standardise="image", colour=True)
    x = model_input(rgb, None, cfg)
    assert x.shape == (4, 40, 50) and x.dtype == np.float32 and input_channels(cfg) == 4
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert model_input(rgb, None, PreprocessConfig(standardise="image")).shape == (40, 50)
    with pytest.raises(InputError, match="colour"):
        model_input(rgb[..., 0], None, cfg)


def test_two_output_unet_predicts_two_maps():
    model = create("unet", in_channels=4, out_channels=2, base_channels=4, depth=2)
    out = model(torch.zeros(1, 4, 20, 28))
    assert out["logits"].shape == (1, 2, 20, 28)
    prob = predict(model, np.zeros((4, 20, 28), np.float32))
    assert prob.shape == (2, 20, 28) and 0 <= prob.min() and prob.max() <= 1


def _config(tmp_path, **sections):
    import yaml

    data = {"name": "av", "dataset": {"name": "mixture", "sources": ["rite"], "labels": "av"},
            "preprocess": {"standardise": "image", "colour": True},
            "model": {"name": "unet", "options": {"in_channels": 4, "out_channels": 2}},
            "loss": {"name": "masked_bce_dice", "deep_supervision": False}, "train": {"eval_after": False}}
    for key, value in sections.items():
        data[key] = {**data[key], **value}
    path = tmp_path / "av.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_av_config_checks_channels_loss_and_sources(tmp_path):
    assert load_config(_config(tmp_path)).dataset.labels == "av"
    bad = [({"model": {"options": {"in_channels": 1, "out_channels": 2}}}, "in_channels"),
           ({"model": {"options": {"in_channels": 4}}}, "out_channels"),
           ({"loss": {"name": "bce_dice"}}, "masked_bce_dice"),
           ({"dataset": {"sources": ["drive"]}}, "artery/vein sets"),
           ({"dataset": {"labels": "arteries"}}, "dataset.labels"),
           ({"train": {"eval_after": True}}, "av_eval")]
    for sections, fragment in bad:
        with pytest.raises(ConfigError, match=fragment):
            load_config(_config(tmp_path, **sections))


def _line(shape, row, cols):
    m = np.zeros(shape, bool)
    m[row - 1 : row + 2, cols[0] : cols[1]] = True
    return m


def test_segment_vote_gives_each_vessel_its_majority_class():
    shape = (60, 120)
    upper, lower = _line(shape, 15, (5, 115)), _line(shape, 45, (5, 115))
    vessels = upper | lower
    score = np.where(upper, 0.4, -0.4).astype(np.float32)
    # 20 % of each vessel's pixels vote the other way
    flip = np.zeros(shape, bool)
    flip[:, 30:52] = True
    score[flip & vessels] *= -1
    pix = pixel_classes(vessels, score)
    assert (pix[upper] == VEIN).any()  # the pixel vote is noisy ...
    voted = segment_vote(vessels, score)
    assert (voted[upper] == ARTERY).all() and (voted[lower] == VEIN).all()  # ... the segment vote is not
    assert (voted[~vessels] == BACKGROUND).all()


def test_segment_vote_splits_at_branchings():
    shape = (80, 80)
    trunk = np.zeros(shape, bool)
    trunk[40:43, 5:40] = True  # left half of a horizontal vessel
    branch = np.zeros(shape, bool)
    branch[5:42, 39:42] = True  # a vertical vessel meeting it
    rest = np.zeros(shape, bool)
    rest[40:43, 42:75] = True
    vessels = trunk | branch | rest
    score = np.where(branch & ~trunk & ~rest, -1.0, 1.0).astype(np.float32)
    _, n = skeleton_segments(vessels)
    assert n >= 3
    voted = segment_vote(vessels, score)
    assert (voted[10:30, 39:42] == VEIN).all()
    assert (voted[40:43, 5:30] == ARTERY).all() and (voted[40:43, 50:75] == ARTERY).all()


def test_colour_image_and_overlay():
    classes = np.zeros((30, 40), np.uint8)
    classes[5, :] = ARTERY
    classes[20, :] = VEIN
    img = av_colour_image(classes)
    assert img.dtype == np.uint8 and tuple(img[5, 3]) == (255, 0, 0) and tuple(img[20, 3]) == (0, 0, 255)
    assert tuple(img[0, 0]) == (0, 0, 0)
    assert (snap_av_colours(img) == classes).all()  # the written map reads back as the same classes
    rgb = np.full((30, 40, 3), 0.5, np.float32)
    out = av_overlay(rgb, classes)
    assert out.shape == (30, 40, 3) and out[5, 3, 0] > out[5, 3, 2] and out[20, 3, 2] > out[20, 3, 0]
    # with a disc: its circle and zone B's circles at 2r and 3r (x = 56 and 64 on the centre's row)
    grey = np.full((80, 100, 3), 0.5, np.float32)
    none = np.zeros((80, 100), np.uint8)
    base, ringed = av_overlay(grey, none), av_overlay(grey, none, disc=(40.0, 40.0, 8.0))
    changed = (ringed[40] != base[40]).any(axis=1)
    assert changed[48] and changed[56] and changed[64]
    assert not changed[44] and not changed[52] and not changed[60] and not changed[70]


@pytest.fixture(scope="module")
def tiny_av_weights(tmp_path_factory):
    """An untrained artery/vein model with a proper card: for the machinery, not the accuracy."""
    torch.manual_seed(0)
    options = {"in_channels": 4, "out_channels": 2, "base_channels": 4, "depth": 2}
    model = create("unet", **options)
    card = {"name": "tiny_av", "model": {"name": "unet", "options": options, "in_channels": 4, "out_channels": 2,
                                         "labels": "av"},
            "preprocess": PreprocessConfig(standardise="image", colour=True).to_dict(), "stats": None,
            "resolution": {"fov_diameter_px": 540.0}, "protocol": {"patch_size": 96}}
    return save_weights(model, card, tmp_path_factory.mktemp("av") / "tiny_av.safetensors")


def test_classifier_labels_only_vessel_pixels(tiny_av_weights):
    rng = np.random.default_rng(1)
    rgb = rng.random((120, 140, 3)).astype(np.float32)
    vessels = np.zeros((120, 140), bool)
    vessels[60:63, 10:130] = True
    result = ArteryVeinClassifier(tiny_av_weights).classify(rgb, vessels, fov="none")
    assert result.classes.shape == (120, 140) and result.artery_prob.shape == (120, 140)
    assert set(np.unique(result.classes[vessels])) <= {ARTERY, VEIN}
    assert (result.classes[~vessels] == BACKGROUND).all()
    with pytest.raises(InputError, match="vessel mask is"):
        ArteryVeinClassifier(tiny_av_weights).classify(rgb, vessels[:100], fov="none")


def test_vessel_weights_are_refused_as_artery_vein_model():
    with pytest.raises(InputError, match="not an artery/vein model"):
        ArteryVeinClassifier("drive")


def test_artery_vein_weights_are_refused_as_vessel_model(tiny_av_weights, tmp_path):
    from vesselseg.segmentation import Segmenter

    with pytest.raises(InputError, match="an artery/vein model, not a vessel model"):
        Segmenter(tiny_av_weights)
    mask = np.zeros((64, 64), np.uint8)
    mask[30:33, 5:60] = 255
    from vesselseg.io.images import write_png

    write_png(tmp_path / "mask.png", mask)
    res = run_cli("measure", tmp_path / "mask.png", "--out", tmp_path / "m", "--av-weights", tmp_path / "nothere")
    assert_clean_error(res, "no such artery/vein model")


def test_colour_input_needs_a_mixture_run(tmp_path):
    with pytest.raises(ConfigError, match="preprocess.colour"):
        load_config(_config(tmp_path, dataset={"name": "drive", "sources": [], "labels": "vessels"},
                            model={"options": {"in_channels": 4}}, loss={"name": "bce_dice"}))


@pytest.mark.slow
def test_segment_av_writes_the_map_overlay_and_biomarkers(tmp_path, tiny_av_weights):
    out = tmp_path / "out"
    res = run_cli("segment", "--out", out, "--av", "--av-weights", tiny_av_weights, "--measure",
                  "--weights", "general", "--no-progress")
    assert res.returncode == 0, res.stderr
    av = read_image(out / "sample_retina_av.png")
    classes = snap_av_colours(av)
    vessels = read_image(out / "sample_retina_vessels.png")[..., 0] > 0.5
    assert set(np.unique(classes)) <= {BACKGROUND, ARTERY, VEIN}
    assert ((classes != BACKGROUND) == vessels).all()  # every vessel pixel classified, nothing else
    assert (out / "sample_retina_av_overlay.png").is_file()
    with open(out / "measurements.csv") as fh:
        row = next(csv.DictReader(fh))
    for key in ("artery_density", "vein_density", "crae_knudtson_um", "avr_knudtson", "disc_source"):
        assert key in row, key
    # run again: the image is skipped and its artery/vein files are kept as they are
    stamps = {p.name: p.stat().st_mtime_ns for p in out.glob("sample_retina_av*.png")}
    again = run_cli("segment", "--out", out, "--av", "--av-weights", tiny_av_weights, "--no-progress")
    assert again.returncode == 0 and "skipped" in again.stdout, again.stderr
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("sample_retina_av*.png")} == stamps
    # a vessel model given as the A/V model: a clean error, no traceback
    bad = run_cli("segment", "--out", tmp_path / "bad", "--av", "--av-weights", "drive", "--no-progress")
    assert_clean_error(bad, "not an artery/vein model")


def test_av_metrics_count_dice_and_centreline_accuracy():
    from vesselseg.metrics.av import av_counts, truth_centreline

    truth = np.zeros((40, 60), np.uint8)
    truth[9:12, 5:55] = ARTERY  # a 3-px artery, centreline row 10
    truth[29:32, 5:55] = VEIN  # a 3-px vein, centreline row 30
    truth[19:22, 5:55] = UNCERTAIN  # left out of every score
    line = truth_centreline(truth)
    assert line[10, 10] and line[30, 10] and not line[20, 10] and not line[9, 10]
    # perfect classes: Dice 1, accuracy 1, everything detected
    perfect = np.where(truth == UNCERTAIN, VEIN, truth)  # a guess on uncertain pixels costs nothing
    s = av_counts(perfect, truth, on_truth=truth).scores()
    assert s["artery_dice"] == 1 and s["vein_dice"] == 1
    assert s["acc_truth_centreline"] == 1 and s["acc_detected_centreline"] == 1 and s["detected_fraction"] == 1
    # the artery called vein: artery Dice 0, vein Dice 2*|V| / (2|V| + |A|), half the centreline wrong
    swapped = np.where(truth == ARTERY, VEIN, truth).astype(np.uint8)
    swapped[truth == UNCERTAIN] = BACKGROUND
    c = av_counts(swapped, truth, on_truth=swapped)
    s = c.scores()
    assert s["artery_dice"] == 0 and s["vein_dice"] == pytest.approx(2 * 150 / (2 * 150 + 150))
    assert s["acc_truth_centreline"] == pytest.approx(0.5, abs=0.02)
    # the vein missed by the vessel mask: detected fraction ~1/2, accuracy on what was detected 1
    missed = np.where(truth == ARTERY, ARTERY, BACKGROUND).astype(np.uint8)
    s2 = av_counts(missed, truth).scores()
    assert s2["detected_fraction"] == pytest.approx(0.5, abs=0.02) and s2["acc_detected_centreline"] == 1
    assert s2["acc_truth_centreline"] == 0  # no on_truth given: nothing counted as right
    # pooled by adding counts
    total = c + av_counts(perfect, truth, on_truth=truth)
    assert total.centreline == 2 * c.centreline
    with pytest.raises(ValueError, match="differ in shape"):
        av_counts(perfect[:10], truth)


@requires_dataset("drive", "rite")
def test_rite_pairs_drive_photographs_with_artery_vein_maps():
    from vesselseg.io.datasets import load_av_classes, load_sample, load_split

    train, test = load_split("rite", "train"), load_split("rite", "test")
    assert len(train) == 20 and len(test) == 20
    assert {s.name for s in test} == {s.name for s in load_split("drive", "test")}
    sample = test[0]
    classes = load_av_classes(sample)
    loaded = load_sample(sample)
    assert classes.shape == loaded.image.shape[:2] == loaded.fov.shape
    assert {ARTERY, VEIN} <= set(np.unique(classes).tolist())
    assert (loaded.label == (classes != BACKGROUND)).all()  # the vessel label: every labelled class


def test_segment_vote_keeps_each_pixel_in_its_own_vessel():
    """A wide vessel's edge beside a thin vessel joins the wide vessel's pieces, not the thin one's."""
    shape = (60, 120)
    wide = np.zeros(shape, bool)
    wide[10:24, 5:115] = True  # 14 px wide
    thin = np.zeros(shape, bool)
    thin[26:28, 5:115] = True  # 2 px wide, 2 px below it
    vessels = wide | thin
    score = np.where(wide, 1.0, -1.0).astype(np.float32)
    score[22:24, :] = -1.0  # the wide vessel's lower edge votes the other way
    voted = segment_vote(vessels, score)
    assert (voted[wide] == ARTERY).all() and (voted[thin] == VEIN).all()
