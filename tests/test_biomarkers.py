"""CRAE / CRVE / AVR and the zones: known answers on synthetic artery/vein maps, formulas by hand."""

import math

import numpy as np
import pytest

from vesselseg.io.av import ARTERY, CROSSING, VEIN
from vesselseg.measure.biomarkers import (
    DISC_DIAMETER_UM,
    class_masks,
    knudtson,
    measure_av,
    parr_hubbard,
    zone_vessels,
)
from vesselseg.measure.zones import zone_mask

pytest.importorskip("skan")

CENTRE, RADIUS = (200.0, 200.0), 40.0
OFFSETS = (-75, -45, -15, 15, 45, 75)
ARTERY_WIDTHS = (13, 11, 9, 9, 7, 5)  # odd: the distance transform gives them exactly
VEIN_WIDTHS = (15, 13, 13, 11, 9, 7)


def synthetic_av(artery_widths=ARTERY_WIDTHS, vein_widths=VEIN_WIDTHS, shape=(400, 400)):
    """Horizontal arteries running right from the disc and veins running left, each crossing zone B once."""
    classes = np.zeros(shape, np.uint8)
    cx, cy = int(CENTRE[0]), int(CENTRE[1])
    for o, w in zip(OFFSETS, artery_widths):
        classes[cy + o - w // 2: cy + o + w // 2 + 1, cx:] = ARTERY
    for o, w in zip(OFFSETS, vein_widths):
        classes[cy + o - w // 2: cy + o + w // 2 + 1, :cx] = VEIN
    return classes


def knudtson_by_hand(w, k):
    """Six widths sorted: (w6,w1) (w5,w2) (w4,w3) -> three; then (p3,p1) and p2 carried -> two; -> one."""
    w = sorted(w, reverse=True)
    f = lambda a, b: k * math.sqrt(a * a + b * b)  # noqa: E731
    p = sorted([f(w[5], w[0]), f(w[4], w[1]), f(w[3], w[2])], reverse=True)
    q = [f(p[2], p[0]), p[1]]
    return f(min(q), max(q))


def test_knudtson_pairing_matches_the_hand_computation():
    w = [150.0, 140.0, 120.0, 110.0, 95.0, 80.0]
    assert knudtson(w, "artery") == pytest.approx(knudtson_by_hand(w, 0.88), rel=1e-12)
    assert knudtson(w, "vein") == pytest.approx(knudtson_by_hand(w, 0.95), rel=1e-12)
    # only the six widest count; order of the input does not matter
    assert knudtson(w[::-1] + [10.0, 5.0], "artery") == pytest.approx(knudtson(w, "artery"))
    # two vessels: one pair; one vessel: itself; none: undefined
    assert knudtson([100.0, 60.0], "vein") == pytest.approx(0.95 * math.sqrt(100 ** 2 + 60 ** 2))
    assert knudtson([100.0], "vein") == 100.0 and knudtson([], "artery") is None


def test_parr_hubbard_by_hand():
    a, b = 80.0, 120.0  # narrower, wider
    pair_a = math.sqrt(0.87 * a * a + 1.01 * b * b - 0.22 * a * b - 10.76)
    pair_v = math.sqrt(0.72 * a * a + 0.91 * b * b + 450.05)
    assert parr_hubbard([b, a], "artery") == pytest.approx(pair_a)
    assert parr_hubbard([a, b], "vein") == pytest.approx(pair_v)
    # three: (narrowest, widest) paired, the middle carried, then paired with the result
    w = [100.0, 90.0, 70.0]
    first = math.sqrt(0.72 * 70 ** 2 + 0.91 * 100 ** 2 + 450.05)
    lo, hi = sorted([first, 90.0])
    assert parr_hubbard(w, "vein") == pytest.approx(math.sqrt(0.72 * lo * lo + 0.91 * hi * hi + 450.05))


def test_zone_geometry():
    b = zone_mask((400, 400), CENTRE, RADIUS, "B")
    c = zone_mask((400, 400), CENTRE, RADIUS, "C")
    at = lambda d: (int(CENTRE[1]), int(CENTRE[0] + d))  # noqa: E731 -- a pixel d px right of the centre
    assert not b[at(79)] and b[at(80)] and b[at(120)] and not b[at(121)]
    assert c[at(80)] and c[at(199)] and not c[at(79)]
    assert (b <= c).all()  # zone B lies inside zone C
    expected_b = math.pi * ((3 * RADIUS) ** 2 - (2 * RADIUS) ** 2)
    assert b.sum() == pytest.approx(expected_b, rel=0.02)


def test_zone_vessels_and_calibres_of_a_known_map():
    masks = class_masks(synthetic_av())
    arteries = zone_vessels(masks["artery"], "artery", CENTRE, RADIUS)
    veins = zone_vessels(masks["vein"], "vein", CENTRE, RADIUS)
    assert sorted(v.calibre_px for v in arteries) == sorted(float(w) for w in ARTERY_WIDTHS)
    assert sorted(v.calibre_px for v in veins) == sorted(float(w) for w in VEIN_WIDTHS)
    assert all(v.x > CENTRE[0] for v in arteries) and all(v.x < CENTRE[0] for v in veins)


def test_crae_crve_avr_of_a_known_map():
    row, vessels = measure_av(synthetic_av(), disc=(*CENTRE, RADIUS))
    um = DISC_DIAMETER_UM / (2 * RADIUS)  # no pixel size: the disc is the ruler, and the row says so
    assert row["um_per_px"] == pytest.approx(um) and "1800" in row["um_per_px_source"]
    crae = knudtson_by_hand([w * um for w in ARTERY_WIDTHS], 0.88)
    crve = knudtson_by_hand([w * um for w in VEIN_WIDTHS], 0.95)
    assert row["crae_knudtson_um"] == pytest.approx(crae, rel=1e-9)
    assert row["crve_knudtson_um"] == pytest.approx(crve, rel=1e-9)
    assert row["avr_knudtson"] == pytest.approx(crae / crve, rel=1e-9)
    assert row["zoneB_arteries"] == 6 and row["zoneB_veins"] == 6 and len(vessels) == 12
    assert 0 < row["crae_hubbard_um"] < row["crve_hubbard_um"] and row["avr_hubbard"] < 1
    assert row["disc_source"] == "given" and row["av_note"] == ""
    # a given pixel size replaces the disc ruler; Knudtson's AVR does not depend on it
    row2, _ = measure_av(synthetic_av(), disc=(*CENTRE, RADIUS), pixel_size_um=10.0)
    assert row2["um_per_px_source"] == "given"
    assert row2["crae_knudtson_um"] == pytest.approx(knudtson_by_hand([w * 10.0 for w in ARTERY_WIDTHS], 0.88))
    assert row2["avr_knudtson"] == pytest.approx(row["avr_knudtson"])


def test_crossings_count_for_both_classes_and_missing_vessels_are_noted():
    classes = synthetic_av(artery_widths=ARTERY_WIDTHS, vein_widths=(15, 13))  # two veins only
    row, _ = measure_av(classes, disc=(*CENTRE, RADIUS))
    assert row["zoneB_arteries"] == 6 and row["zoneB_veins"] == 2
    assert "2 veins in zone B (6 expected)" in row["av_note"]
    # the widest artery drawn as a crossing (green) is an artery and a vein at once
    y = int(CENTRE[1]) + OFFSETS[0]
    classes[y - 6: y + 7][classes[y - 6: y + 7] == ARTERY] = CROSSING
    masks = class_masks(classes)
    assert masks["artery"][y, 300] and masks["vein"][y, 300]
    row, vessels = measure_av(classes, disc=(*CENTRE, RADIUS))
    assert row["zoneB_arteries"] == 6 and row["zoneB_veins"] == 3
    assert sorted(v["calibre_px"] for v in vessels if v["kind"] == "vein") == [13.0, 13.0, 15.0]
    no_disc, vessels = measure_av(classes)
    assert no_disc["crae_knudtson_um"] is None and vessels == [] and "--disc" in no_disc["av_note"]
    assert no_disc["artery_density"] > 0 and no_disc["vein_density"] > 0


@pytest.mark.slow
def test_measure_reads_an_artery_vein_map_and_writes_the_biomarkers(tmp_path):
    from conftest import run_cli
    from PIL import Image

    rgb = np.zeros((400, 400, 3), np.uint8)
    classes = synthetic_av()
    rgb[classes == ARTERY] = (255, 0, 0)
    rgb[classes == VEIN] = (0, 0, 255)
    Image.fromarray(rgb).save(tmp_path / "av.png")
    proc = run_cli("measure", tmp_path / "av.png", "--disc", "200,200,40", "--pixel-size-um", "10",
                   "--out", tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    import csv
    import json

    row = next(csv.DictReader(open(tmp_path / "out" / "measurements.csv")))
    assert row["note"] == "artery/vein map" and row["um_per_px_source"] == "given"
    expected = knudtson_by_hand([w * 10.0 for w in ARTERY_WIDTHS], 0.88)
    assert float(row["crae_knudtson_um"]) == pytest.approx(expected, rel=1e-5)  # CSV keeps 6 digits
    assert int(row["zoneB_arteries"]) == 6 and int(row["zoneB_veins"]) == 6
    detail = json.loads((tmp_path / "out" / "measurements.json").read_text())
    assert len(detail[0]["zone_b_vessels"]) == 12
    zones = np.asarray(Image.open(tmp_path / "out" / "av_zones.png"))
    assert tuple(zones[200, 200 + 80]) != (0, 0, 0)  # the zone-B ring is drawn at 2r
