"""Probability maps on disk: 16-bit PNG (p x 65535), read back at full precision, 8-bit still read."""

import numpy as np
import pytest
from conftest import assert_clean_error, needs_data, requires_dataset, run_cli
from PIL import Image

from vesselseg.errors import InputError
from vesselseg.io.images import read_probability, write_png, write_probability
from vesselseg.metrics import Evaluator


def test_written_map_is_16_bit_and_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    p = rng.random((40, 50)).astype(np.float32)
    p[0, :3] = (0.0, 1.0, 1e-4)  # 1e-4 is 0 in an 8-bit file, 7 in a 16-bit one
    path = write_probability(tmp_path / "p16.png", p)
    with Image.open(path) as im:
        assert im.mode == "I;16"
        raw = np.asarray(im)
    assert raw[0, 0] == 0 and raw[0, 1] == 65535 and raw[0, 2] == 7
    back = read_probability(path)
    assert back.dtype == np.float32 and back.shape == p.shape
    assert np.abs(back - p).max() <= 0.5 / 65535 + 1e-7


def test_8_bit_maps_are_read_by_their_bit_depth_not_their_values(tmp_path):
    dark = np.full((8, 8), 0.2, np.float32)  # every 8-bit value <= 51: must still read as 0.2
    path = write_png(tmp_path / "p8.png", dark)
    assert np.allclose(read_probability(path), 51 / 255)
    # and a 16-bit map whose values are all small is not mistaken for an 8-bit one
    small = np.full((8, 8), 100 / 65535, np.float32)
    path16 = write_probability(tmp_path / "p16small.png", small)
    assert np.allclose(read_probability(path16), 100 / 65535)


def test_colour_file_is_not_a_probability_map(tmp_path):
    rgb = np.zeros((6, 6, 3), np.float32)
    rgb[..., 0] = 1.0
    path = write_png(tmp_path / "rgb.png", rgb)
    with pytest.raises(InputError, match="grey"):
        read_probability(path)
    with pytest.raises(InputError, match="map is 6x6"):
        read_probability(write_png(tmp_path / "g.png", rgb[..., 1]), (5, 6))


@pytest.mark.slow
@needs_data
def test_auc_from_written_file_equals_in_memory_auc_on_drive(tmp_path):
    """The issue's acceptance test: scoring the written 16-bit file gives the in-memory AUC (1e-4);
    the 8-bit file does not (ties)."""
    from vesselseg.io.datasets import load_sample, load_split
    from vesselseg.segmentation import Segmenter

    ls = load_sample(load_split("drive", "test")[0])
    prob = Segmenter("drive", scale="none").run(ls.image, ls.fov).prob
    aucs = {}
    for tag, writer in (("memory", None), ("16", write_probability), ("8", write_png)):
        p = prob if writer is None else read_probability(writer(tmp_path / f"{tag}.png", prob))
        ev = Evaluator(0.5)
        ev.add(p, ls.label, ls.fov)
        aucs[tag] = ev.result()["pooled"]["auc"]
    assert abs(aucs["16"] - aucs["memory"]) < 1e-4
    assert abs(aucs["8"] - aucs["memory"]) > abs(aucs["16"] - aucs["memory"])


@pytest.mark.slow
@requires_dataset("stare")
def test_evaluate_maps_scores_written_files(tmp_path):
    """`evaluate --maps` scores a folder of maps; the result matches scoring the model directly."""
    maps = tmp_path / "maps"
    proc = run_cli("evaluate", "--weights", "drive", "--dataset", "stare", "--scale", "auto",
                   "--out", maps, "--no-progress")
    assert proc.returncode == 0, proc.stderr
    direct = __import__("json").loads((maps / "metrics.json").read_text())
    files = sorted(maps.glob("*_prob.png"))
    assert len(files) == 10
    with Image.open(files[0]) as im:
        assert im.mode == "I;16"
    out = tmp_path / "scored"
    proc = run_cli("evaluate", "--dataset", "stare", "--maps", maps, "--out", out, "--no-progress")
    assert proc.returncode == 0, proc.stderr
    scored = __import__("json").loads((out / "metrics.json").read_text())
    assert abs(scored["pooled"]["auc"] - direct["pooled"]["auc"]) < 1e-4
    assert scored["pooled"]["f1"] == pytest.approx(direct["pooled"]["f1"], abs=1e-4)
    assert scored["setup"]["weights"].startswith("maps in")
    files[0].unlink()
    assert_clean_error(run_cli("evaluate", "--dataset", "stare", "--maps", maps, "--out", tmp_path / "x",
                               "--no-progress"), "no probability map for test image")
