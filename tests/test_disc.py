"""The optic disc: read off a probability map, the disc data sets, and what `measure` does without one."""

import math

import numpy as np
import pytest
from conftest import requires_dataset

from vesselseg.segmentation.disc import MIN_CONFIDENCE, disc_from_probability


def blob(shape=(300, 400), centre=(250.0, 120.0), radius=30.0, peak=0.95):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    d = np.hypot(xx - centre[0], yy - centre[1])
    return np.where(d <= radius, peak, 0.05).astype(np.float32)


def test_a_disc_is_read_off_its_probability_map():
    prob = blob()
    prob[20:24, 20:24] = 0.9  # a small bright speck elsewhere: less probability mass, not chosen
    disc, reason = disc_from_probability(prob)
    assert reason == "" and disc.source == "detected"
    assert disc.x == pytest.approx(250.0, abs=0.5) and disc.y == pytest.approx(120.0, abs=0.5)
    assert disc.radius == pytest.approx(30.0, rel=0.03) and disc.confidence == pytest.approx(0.95)


def test_no_disc_is_said_not_guessed():
    none, reason = disc_from_probability(np.full((200, 200), 0.1, np.float32))
    assert none is None and "no optic disc found" in reason
    faint, reason = disc_from_probability(blob(peak=MIN_CONFIDENCE - 0.05))
    assert faint is None and "confidence" in reason
    tiny, reason = disc_from_probability(blob(radius=1.5))
    assert tiny is None and "too small" in reason
    # outside the field of view does not count
    fov = np.zeros((300, 400), bool)
    fov[:, :200] = True
    assert disc_from_probability(blob(), fov)[0] is None


def test_measure_without_a_disc_model_says_so(monkeypatch):
    import vesselseg.api as api
    import vesselseg.inference.weights as weights

    monkeypatch.setattr(weights, "shipped_weights", lambda: {})
    disc, row = api._disc_for(None, np.zeros((10, 10, 3), np.float32), None, True)
    assert disc is None and "no disc model" in row["disc_source"]
    disc, row = api._disc_for((5.0, 6.0, 7.0), None, None, True)
    assert disc == (5.0, 6.0, 7.0) and row["disc_source"] == "given"
    assert api._disc_for(None, None, None, True) == (None, {})  # a mask: no photograph to look at


@requires_dataset("drive", "drishti_od", "idrid_od")
def test_disc_sets_split_and_labels():
    from vesselseg.io.datasets import load_sample, load_split

    idrid_train, idrid_test = load_split("idrid_od", "train"), load_split("idrid_od", "test")
    assert (len(idrid_train), len(idrid_test)) == (484, 121)
    assert not {s.name for s in idrid_train} & {s.name for s in idrid_test}
    s = load_sample(idrid_test[0], observer2=False)
    cx, cy, w, h = idrid_test[0].ellipse
    assert s.label[round(cy), round(cx)] and s.label.sum() == pytest.approx(math.pi * w * h / 4, rel=0.05)
    drishti = load_sample(load_split("drishti_od", "test")[0], observer2=False)
    assert 0.01 < drishti.label.mean() < 0.2  # the majority disc, not the soft map's faint rim
    assert len(load_split("drive_od", "test")) == 20
