"""Vessel measurements on synthetic masks with known answers, degenerate masks, and the CLI."""

import json

import numpy as np
import pytest
from conftest import assert_clean_error, run_cli, save_image
from scipy import ndimage as ndi
from skimage.draw import line

from vesselseg.api import measure
from vesselseg.errors import InputError
from vesselseg.measure import fractal_dimension, measure_mask
from vesselseg.measure.tortuosity import arc_chord, mean_curvature
from vesselseg.measure.zones import zone_b


@pytest.mark.parametrize("width", [3, 5, 9])
def test_straight_bar_width_and_graph(width):
    m = np.zeros((100, 200), bool)
    m[50 - width // 2: 50 + width // 2 + 1, 20:180] = True
    s = measure_mask(m).summary
    assert abs(s["width_median_px"] - width) <= 1
    assert abs(s["width_mean_px"] - width) <= 1
    assert s["segments"] == 1 and s["branch_points"] == 0 and s["end_points"] == 2
    assert s["tortuosity_arc_chord"] == pytest.approx(1.0, abs=0.01)
    assert s["curvature_rad_per_px"] < 0.01


@pytest.mark.parametrize("angle", [0, 22.5, 45, 67.5])
def test_oblique_line_length_is_not_the_staircase_length(angle):
    """An 8-connected chain is up to 8 % too long; the smoothed centreline is within 2 %."""
    m = np.zeros((260, 260), bool)
    t = np.radians(angle)
    r0, c0, length = 130, 130, 200
    rr, cc = line(int(round(r0 - length / 2 * np.sin(t))), int(round(c0 - length / 2 * np.cos(t))),
                  int(round(r0 + length / 2 * np.sin(t))), int(round(c0 + length / 2 * np.cos(t))))
    m[rr, cc] = True
    m = ndi.binary_dilation(m)
    assert measure_mask(m).summary["length_px"] == pytest.approx(length, rel=0.03)


def test_sine_vessel_tortuosity_within_two_percent():
    amp, lam = 10.0, 100.0
    x = np.linspace(0, 300, 6001)
    y = 100 + amp * np.sin(2 * np.pi * x / lam)
    truth = np.hypot(np.diff(x), np.diff(y)).sum() / np.hypot(x[-1] - x[0], y[-1] - y[0])
    m = np.zeros((200, 340), bool)
    for xi, yi in zip(x, y):
        r, c = int(round(yi)), int(round(xi)) + 20
        m[r - 1:r + 2, c - 1:c + 2] = True
    s = measure_mask(m).summary
    assert s["segments"] == 1
    assert s["tortuosity_arc_chord"] == pytest.approx(truth, rel=0.02)
    assert s["curvature_rad_per_px"] > 0.01  # it bends; a straight bar gives < 0.01


def test_curvature_of_a_circle_arc_is_one_over_radius():
    t = np.linspace(0, np.pi, 400)
    r = 60.0
    path = np.stack([100 + r * np.sin(t), 100 + r * np.cos(t)], axis=1)
    assert mean_curvature(path) == pytest.approx(1 / r, rel=0.05)
    assert arc_chord(path) == pytest.approx(np.pi / 2, rel=0.02)


def test_filled_disk_density_exact():
    yy, xx = np.mgrid[:200, :200]
    disk = (yy - 100) ** 2 + (xx - 100) ** 2 < 80**2
    fov = (yy - 100) ** 2 + (xx - 100) ** 2 < 95**2
    s = measure_mask(disk, fov).summary
    assert s["density"] == disk.sum() / fov.sum()
    assert "probably not a vessel mask" in s["note"]  # 71 % of the FOV


def test_y_junction_one_branch_point_three_end_points():
    m = np.zeros((200, 200), bool)
    for r0, c0, r1, c1 in [(100, 100, 20, 100), (100, 100, 170, 40), (100, 100, 170, 160)]:
        rr, cc = line(r0, c0, r1, c1)
        m[rr, cc] = True
    s = measure_mask(ndi.binary_dilation(m)).summary
    assert (s["branch_points"], s["end_points"], s["segments"]) == (1, 3, 3)


def test_fractal_dimension_line_and_square():
    line_mask = np.zeros((512, 512), bool)
    line_mask[256, :] = True
    d, r2 = fractal_dimension(line_mask)
    assert d == pytest.approx(1.0, abs=0.05) and r2 > 0.99
    d, r2 = fractal_dimension(np.ones((512, 512), bool))
    assert d == pytest.approx(2.0, abs=0.05) and r2 > 0.99
    assert np.isnan(fractal_dimension(np.zeros((64, 64), bool))[0])


def test_empty_and_full_masks_have_defined_documented_answers():
    s = measure_mask(np.zeros((50, 60), bool)).summary
    assert s["density"] == 0 and s["length_px"] == 0 and s["segments"] == 0
    assert s["width_mean_px"] is None and s["fractal_dimension"] is None and s["tortuosity_arc_chord"] is None
    assert "undefined" in s["note"]
    full = measure_mask(np.ones((50, 60), bool)).summary
    assert full["density"] == 1.0 and "not a vessel mask" in full["note"]
    assert all(v is None or np.isfinite(v) for v in full.values() if isinstance(v, float) or v is None)
    with pytest.raises(InputError, match="empty"):
        measure_mask(np.ones((10, 10)), np.zeros((10, 10), bool))
    with pytest.raises(InputError, match="FOV is"):
        measure_mask(np.ones((10, 10)), np.ones((10, 12), bool))


def test_pixel_size_and_zone_b():
    m = np.zeros((100, 200), bool)
    m[49:52, 20:180] = True
    res = measure(m, pixel_size_um=10.0, disc=(100, 50, 15))
    s = res.summary
    assert s["length_mm"] == pytest.approx(s["length_px"] * 0.01)
    assert s["width_mean_um"] == pytest.approx(s["width_mean_px"] * 10)
    ring = zone_b((100, 200), (100, 50), 15)
    assert ring[50, 100 + 38] and not ring[50, 100 + 20] and not ring[50, 100 + 50]
    assert s["zoneB_length_px"] < s["length_px"] and s["zoneB_segments"] == 2  # the bar crosses the ring twice


@pytest.mark.slow
def test_cli_measure_masks_probability_maps_and_bad_files(tmp_path):
    m = np.zeros((100, 200), np.uint8)
    m[45:56, 20:180] = 255
    save_image(tmp_path / "bar.png", m)
    save_image(tmp_path / "binary01.png", (m > 0).astype(np.uint8))  # a 0/1 mask is still a mask
    grad = np.tile(np.linspace(0, 255, 200).astype(np.uint8), (100, 1))
    save_image(tmp_path / "prob.png", grad)
    save_image(tmp_path / "empty.png", np.zeros((60, 60), np.uint8))
    (tmp_path / "broken.png").write_text("not an image")
    table = tmp_path / "out" / "measurements.csv"
    proc = run_cli("measure", tmp_path, "--out", tmp_path / "out")
    assert proc.returncode == 1 and "broken.png" in proc.stderr and "Traceback" not in proc.stderr
    rows = table.read_text().splitlines()
    assert rows[0].startswith("image,fov_source,fov_pixels") and len(rows) == 5
    by_name = {r.split(",")[0]: r for r in rows[1:]}
    assert by_name["bar"] .split(",")[11] == "11"  # width_median_px
    assert by_name["binary01"].split(",")[4] == by_name["bar"].split(",")[4]  # same density
    assert "probability map" in by_name["prob"] and "undefined" in by_name["empty"]
    detail = json.loads(table.with_suffix(".json").read_text())
    assert detail[0]["segments"] and "width_histogram" in detail[0]
    assert (tmp_path / "out" / "bar_widths.png").exists()
    again = run_cli("measure", tmp_path / "bar.png", "--out", tmp_path / "out")
    assert_clean_error(again, "exists", "--overwrite")
    assert_clean_error(run_cli("measure", tmp_path / "none.png", "--out", tmp_path / "x"), "no such file")
    # --out is a folder for every command: the old table-file habit is refused, nothing is created
    assert_clean_error(run_cli("measure", tmp_path / "bar.png", "--out", tmp_path / "x.csv"), "--out is a folder")
    assert not (tmp_path / "x.csv").exists()
    assert_clean_error(run_cli("measure", tmp_path / "bar.png", "--disc", "1,2", "--out", tmp_path / "y"), "--disc")
