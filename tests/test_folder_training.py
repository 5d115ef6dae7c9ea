"""Bring-your-own-data: train and evaluate on a folder of synthetic images and masks."""

import json

import pytest
from conftest import make_folder

from vesselseg.api import train

_make_folder = make_folder  # the name tests/test_study.py imports

pytestmark = pytest.mark.slow  # trains a network


def test_train_and_evaluate_on_folder(tmp_path):
    """Trained on data/train, scored on the held-out data/test (other images, other vessels)."""
    make_folder(tmp_path / "data" / "train", n=3, seed=0)
    make_folder(tmp_path / "data" / "test", n=2, seed=1, stem="held_out")
    out = train(None, [
        "dataset.name=folder", f"dataset.data={tmp_path / 'data'}", "model.name=unet",
        "model.options={base_channels: 4, depth: 2}", "patches.per_image=64", "train.epochs=3",
        "train.batch_size=16", "train.threads=1", "optim.lr=0.01",
    ], out_dir=tmp_path / "run", progress=False)
    card = json.loads((tmp_path / "run" / "model.json").read_text())
    assert card["dataset"] == {"name": "folder", "train_images": 3}
    scored = json.loads((tmp_path / "run" / "eval" / "metrics.json").read_text())
    assert scored["names"] == ["held_out0", "held_out1"]  # the test split, none of the 3 training images
    assert scored["setup"]["split"] == "test"
    # synthetic dark lines on a flat background are easy: the ranking on unseen images must already be good
    assert card["test_metrics"]["pooled"]["auc"] > 0.9, out["metrics"]
