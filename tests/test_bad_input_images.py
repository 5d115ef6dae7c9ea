"""Photographs that used to be read wrongly without a word, and inputs with unbounded cost.

Each case gives a correct result with a one-line ``note:`` on stderr (12-bit data in a 16-bit
file, EXIF orientation, signed or out-of-range data, an implausible field of view, a tile too
small), or one ``error:`` line naming the file and the problem (NaN pixels, a header over the
pixel limit, a ``--scale`` whose result is over it) -- never a traceback. Library-level tests
first (fast); then a few real command lines, recorded in the bad-input catalogue
(``pytest tests/test_bad_input_images.py -s`` prints it).

Large-image memory is measured by ``benchmarks/bench_memory.py``, not here: the tests below only
check, on tiny files, that sizes are refused from the header before anything is decoded.
"""

import struct
import zlib

import numpy as np
import pytest
import tifffile
from conftest import assert_clean_error, fundus, record_case, run_cli
from PIL import Image, ImageOps

from vesselseg.errors import InputError
from vesselseg.inference import predict
from vesselseg.io.fov import fov_implausible
from vesselseg.io.images import as_rgb, read_image, to_uint8, to_uint16
from vesselseg.io.notes import collect_notes
from vesselseg.segmentation import Segmenter
from vesselseg.segmentation.segmenter import MIN_TILE


def _read(path):
    """``(image, notes)`` of :func:`read_image`."""
    with collect_notes() as notes:
        img = read_image(path)
    return img, notes


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _with_png_chunk(path, kind: bytes, data: bytes):
    """Insert a chunk right after IHDR (8-byte signature + 25-byte IHDR chunk)."""
    raw = path.read_bytes()
    path.write_bytes(raw[:33] + _png_chunk(kind, data) + raw[33:])
    return path


def _fake_size_png(path, width, height):
    """A tiny valid PNG whose IHDR claims ``width`` x ``height`` (CRC fixed)."""
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(path)
    raw = bytearray(path.read_bytes())
    struct.pack_into(">II", raw, 16, width, height)
    struct.pack_into(">I", raw, 29, zlib.crc32(bytes(raw[12:29])))
    path.write_bytes(bytes(raw))
    return path


def _fake_size_tiff(path, width, height):
    """A tiny TIFF whose ImageWidth/ImageLength tags claim ``width`` x ``height``."""
    tifffile.imwrite(path, np.zeros((32, 32), np.uint8), metadata=None)
    raw = bytearray(path.read_bytes())
    assert raw[:4] == b"II*\x00"
    ifd = struct.unpack_from("<I", raw, 4)[0]
    for i in range(struct.unpack_from("<H", raw, ifd)[0]):
        entry = ifd + 2 + 12 * i
        tag, kind = struct.unpack_from("<HH", raw, entry)
        if tag in (256, 257):
            struct.pack_into("<H" if kind == 3 else "<I", raw, entry + 8, width if tag == 256 else height)
    path.write_bytes(bytes(raw))
    return path


def _twelve_bit(rgb8):
    """8-bit photograph -> the same photograph as 12-bit camera data (max 4095) in uint16."""
    return ((rgb8.astype(np.int64) * 4095 + 127) // 255).astype(np.uint16)


# --- 1. 12-bit (10-, 14-bit) data in 16-bit files --------------------------------------------------

@pytest.mark.parametrize("bits", [10, 12, 14])
def test_16bit_files_holding_fewer_bits_are_scaled_by_their_depth(tmp_path, bits):
    import cv2

    top = (1 << bits) - 1
    rgb = (fundus().astype(np.float64) / 255 * top).round().astype(np.uint16)
    grey_png = tmp_path / "g.png"
    Image.fromarray(rgb[..., 0]).save(grey_png)  # Pillow: I;16
    colour_png = tmp_path / "c.png"
    cv2.imwrite(str(colour_png), rgb[..., ::-1])  # 16-bit colour PNG (Pillow alone reads it as 8-bit)
    tif = tmp_path / "c.tif"
    tifffile.imwrite(tif, rgb)
    for path, ref in ((grey_png, rgb[..., :1]), (colour_png, rgb), (tif, rgb)):
        img, notes = _read(path)
        np.testing.assert_allclose(img, np.broadcast_to(ref / top, img.shape), atol=1e-6)
        assert len(notes) == 1 and f"read as {bits}-bit (divided by {top}, not 65535)" in notes[0], notes
        assert str(path) in notes[0]


def test_full_16bit_and_8bit_data_in_16bit_files(tmp_path):
    rgb16 = (np.random.default_rng(1).random((20, 20, 3)) * 65535).astype(np.uint16)
    rgb16[0, 0, 0] = 65535
    tifffile.imwrite(tmp_path / "full.tif", rgb16)
    img, notes = _read(tmp_path / "full.tif")
    np.testing.assert_allclose(img, rgb16 / 65535, atol=1e-6)
    assert notes == []
    eight = fundus().astype(np.uint16)  # 8-bit values stored in 16 bits
    tifffile.imwrite(tmp_path / "eight.tif", eight)
    img, notes = _read(tmp_path / "eight.tif")
    np.testing.assert_allclose(img, eight / 255, atol=1e-6)
    assert "read as 8-bit" in notes[0]


def test_16bit_colour_png_keeps_all_16_bits(tmp_path):
    import cv2

    rgb = (np.random.default_rng(2).random((20, 24, 3)) * 65535).astype(np.uint16)
    rgb[0, 0] = 65535
    cv2.imwrite(str(tmp_path / "c.png"), rgb[..., ::-1])
    img, notes = _read(tmp_path / "c.png")
    np.testing.assert_allclose(img, rgb / 65535, atol=1e-6)  # not rgb >> 8 / 255
    assert notes == []


def test_declared_bit_depth_is_used_without_a_note(tmp_path):
    """A file that says its depth (TIFF MaxSampleValue, PNG sBIT) is believed, not guessed."""
    data = np.zeros((20, 20), np.uint16)
    data[5:15] = 900  # would be guessed as 10-bit
    tifffile.imwrite(tmp_path / "m.tif", data, extratags=[(281, "H", 1, 4095, True)])
    img, notes = _read(tmp_path / "m.tif")
    assert img.max() == pytest.approx(900 / 4095) and notes == []
    Image.fromarray(data).save(tmp_path / "s.png")
    _with_png_chunk(tmp_path / "s.png", b"sBIT", bytes([12]))
    img, notes = _read(tmp_path / "s.png")
    assert img.max() == pytest.approx(900 / 4095) and notes == []


def test_arrays_given_to_the_api_get_the_same_scaling():
    u12 = _twelve_bit(fundus())
    with collect_notes() as notes:
        img = as_rgb(u12)
    np.testing.assert_allclose(img, u12 / 4095, atol=1e-6)
    assert "read as 12-bit" in notes[0]


def test_a_faint_probability_map_is_not_taken_for_12bit_data(tmp_path, capsys):
    """``vesselseg measure`` on a 16-bit map whose p stay below 0.25: scaled by 65535, no note."""
    from vesselseg.api import _mask_from_file
    from vesselseg.io.images import write_probability

    prob = np.zeros((64, 64), np.float32)
    prob[10:20], prob[30:40] = 0.2, 0.1
    write_probability(tmp_path / "faint_prob.png", prob)
    mask = _mask_from_file(tmp_path / "faint_prob.png", 0.5, None).mask
    assert not mask.any() and "note:" not in capsys.readouterr().err
    assert _mask_from_file(tmp_path / "faint_prob.png", 0.15, None)[0].sum() == 640


# --- 2. EXIF / TIFF orientation --------------------------------------------------------------------

def _exif(orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_matches_pillows_exif_transpose(tmp_path, orientation):
    rgb = fundus(40, 60)
    rgb[:5, :10] = (255, 255, 255)  # a marked corner
    path = tmp_path / "o.png"
    Image.fromarray(rgb).save(path, exif=_exif(orientation))
    img, notes = _read(path)
    with Image.open(path) as im:
        shown = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    np.testing.assert_array_equal(to_uint8(img), shown)
    assert len(notes) == (orientation != 1)


@pytest.mark.parametrize("orientation, turn", [(6, lambda a: np.rot90(a, -1)), (3, lambda a: a[::-1, ::-1]),
                                               (8, lambda a: np.rot90(a, 1))])
def test_camera_jpeg_and_tiff_are_read_in_the_displayed_orientation(tmp_path, orientation, turn):
    rgb = fundus(60, 90)
    Image.fromarray(rgb).save(tmp_path / "c.jpg", exif=_exif(orientation), quality=95)
    stored = np.asarray(Image.open(tmp_path / "c.jpg").convert("RGB"))
    img, notes = _read(tmp_path / "c.jpg")
    np.testing.assert_array_equal(to_uint8(img), turn(stored))
    assert "outputs are in the displayed orientation" in notes[0] and f"({orientation})" in notes[0]
    tifffile.imwrite(tmp_path / "c.tif", rgb, extratags=[(274, "H", 1, orientation, True)])
    img, notes = _read(tmp_path / "c.tif")
    np.testing.assert_array_equal(to_uint8(img), turn(rgb))


# --- 3. signed, float and PNM data -----------------------------------------------------------------

def test_signed_int16_tiff(tmp_path):
    signed = fundus()[..., 0].astype(np.int16) * 8 - 1000  # negative values
    tifffile.imwrite(tmp_path / "s.tif", signed)
    img, notes = _read(tmp_path / "s.tif")
    lo, hi = signed.min(), signed.max()
    np.testing.assert_allclose(img[..., 0], (signed - lo) / (hi - lo), atol=1e-6)
    assert f"signed 16-bit data with negative values (range {lo} to {hi}): rescaled to [0, 1]" in notes[0]
    positive = _twelve_bit(fundus())[..., 0].astype(np.int16)  # 12-bit data in int16: no negatives
    tifffile.imwrite(tmp_path / "p.tif", positive)
    img, notes = _read(tmp_path / "p.tif")
    np.testing.assert_allclose(img[..., 0], positive / 4095, atol=1e-6)
    assert "read as 12-bit" in notes[0]


def test_float_tiffs(tmp_path):
    unit = fundus().astype(np.float32) / 255
    unit[0, 0] = 1.0
    tifffile.imwrite(tmp_path / "u.tif", unit, photometric="rgb")
    img, notes = _read(tmp_path / "u.tif")
    np.testing.assert_array_equal(img, unit)
    assert notes == []
    wide = unit * 3 - 1  # [-1, 2]
    tifffile.imwrite(tmp_path / "w.tif", wide, photometric="rgb")
    img, notes = _read(tmp_path / "w.tif")
    np.testing.assert_allclose(img, (wide - wide.min()) / (wide.max() - wide.min()), atol=1e-6)
    assert "float data outside [0, 1] (range -1 to 2): rescaled to [0, 1]" in notes[0]
    assert img.min() == 0 and img.max() == 1
    wide[3, 4, 1] = np.nan
    tifffile.imwrite(tmp_path / "n.tif", wide, photometric="rgb")
    with pytest.raises(InputError, match="n.tif: image holds NaN or infinite values"):
        read_image(tmp_path / "n.tif")
    with pytest.raises(InputError, match="infinite"):
        as_rgb(np.where(np.isnan(wide), np.inf, wide))


@pytest.mark.parametrize("maxval", [100, 1000, 4095])
def test_pnm_with_any_maxval_is_scaled_by_it(tmp_path, maxval):
    """Pillow scales P5/P6 data by the header's maxval (checked here: no mis-scaling, no note)."""
    grey = (fundus()[..., 0].astype(np.int64) * maxval // 255).astype(np.uint16)
    wide = maxval > 255
    body = grey.astype(">u2" if wide else np.uint8).tobytes()
    (tmp_path / "g.pgm").write_bytes(f"P5\n{grey.shape[1]} {grey.shape[0]}\n{maxval}\n".encode() + body)
    img, notes = _read(tmp_path / "g.pgm")
    np.testing.assert_allclose(img[..., 0], grey / maxval, atol=1e-4 if wide else 1 / 255)  # 8-bit: Pillow's
    colour = np.repeat(grey[..., None], 3, axis=-1)
    body = colour.astype(">u2" if wide else np.uint8).tobytes()
    (tmp_path / "c.ppm").write_bytes(f"P6\n{grey.shape[1]} {grey.shape[0]}\n{maxval}\n".encode() + body)
    img, more = _read(tmp_path / "c.ppm")
    np.testing.assert_allclose(img, colour / maxval, atol=1 / 255)  # Pillow keeps 8 bits of colour PNM
    assert notes == [] and more == []


# --- 4. sizes from the header; bounded conversions -------------------------------------------------

def test_oversized_tiff_is_refused_from_its_header(tmp_path, monkeypatch):
    path = _fake_size_tiff(tmp_path / "huge.tif", 30000, 30000)
    assert path.stat().st_size < 10_000
    decoded = []
    for cls in (tifffile.TiffPage, tifffile.TiffPageSeries):
        real = cls.asarray
        monkeypatch.setattr(cls, "asarray", lambda self, *a, _real=real, **k: decoded.append(1) or _real(self, *a, **k))
    with pytest.raises(InputError, match=r"huge.tif: image has 900000000 pixels \(30000x30000\), more than the "
                                         r"limit of 200000000"):
        read_image(path)
    assert decoded == []


def test_tiff_stack_reads_its_first_image_with_a_note(tmp_path):
    stack = np.stack([fundus(seed=i) for i in range(5)])  # 5 photographs, 5 pages
    tifffile.imwrite(tmp_path / "stack.tif", stack, photometric="rgb")
    img, notes = _read(tmp_path / "stack.tif")
    np.testing.assert_allclose(img, stack[0] / 255, atol=1e-6)
    assert "TIFF holding 5 images; only the first is read" in notes[0]


def test_oversized_png_is_refused_from_its_header(tmp_path, monkeypatch):
    path = _fake_size_png(tmp_path / "huge.png", 30000, 30000)
    monkeypatch.setenv("VESSELSEG_MAX_PIXELS", str(10**8))
    with pytest.raises(InputError, match="huge.png: image has 900000000 pixels"):
        read_image(path)  # a decode would fail on the missing data instead ("cannot decode")


def test_chunked_conversions_equal_the_plain_formulas():
    rng = np.random.default_rng(3)
    for shape in [(3000, 2000), (700, 900, 3), (5,), ()]:
        a = (rng.random(shape) * 1.2 - 0.1).astype(np.float32)
        np.testing.assert_array_equal(to_uint8(a), np.clip(np.rint(a * 255.0), 0, 255).astype(np.uint8))
        np.testing.assert_array_equal(to_uint16(a), np.clip(np.rint(a.astype(np.float64) * 65535), 0, 65535)
                                      .astype(np.uint16))


def test_overlay_outline_equals_iterated_erosion():
    from scipy import ndimage as ndi

    from vesselseg.segmentation.outputs import fov_outline

    rng = np.random.default_rng(4)
    for _ in range(10):
        h, w = rng.integers(20, 200, 2)
        yy, xx = np.mgrid[:h, :w]
        fov = (yy - h / 2) ** 2 / (0.4 * h) ** 2 + (xx - w / 2) ** 2 / (0.6 * w) ** 2 < 1
        fov |= rng.random((h, w)) < 0.05
        k = int(rng.integers(1, 12))
        np.testing.assert_array_equal(fov_outline(fov, k), fov & ~ndi.binary_erosion(fov, iterations=k))


def test_scale_beyond_the_pixel_limit_is_refused_before_resampling(tiny_weights, monkeypatch):
    monkeypatch.setenv("VESSELSEG_MAX_PIXELS", "1000000")
    seg = Segmenter(tiny_weights, scale=8)
    with pytest.raises(InputError, match=r"scale 8 would make the 173x160 px image \(cropped to its FOV\) "
                                         r"1384x1280 = 1771520 pixels, more than the limit of 1000000"):
        seg.run(fundus())


# --- 5. implausible fields of view, tiles -----------------------------------------------------------

def test_fov_plausibility():
    yy, xx = np.mgrid[:300, :400]
    disc = (yy - 150) ** 2 + (xx - 200) ** 2 < 140**2
    assert fov_implausible(disc) is None
    assert fov_implausible(disc & (yy > 40) & (yy < 260)) is None  # clipped top and bottom
    assert fov_implausible(np.ones((300, 400), bool)) is None  # a cropped photograph
    assert "aspect ratio of 400:1" in fov_implausible(np.ones((50, 20000), bool))
    assert "under 64 px" in fov_implausible(np.ones((30, 30), bool))
    ring = disc & ((yy - 150) ** 2 + (xx - 200) ** 2 > 120**2)
    assert "fills" in fov_implausible(ring)
    speck = np.zeros((2000, 2000), bool)
    speck[:300, :300] = True
    assert "of the frame" in fov_implausible(speck)


def test_strip_is_segmented_at_native_scale_with_a_note(tiny_weights):
    strip = np.full((50, 3000, 3), (0.7, 0.35, 0.15), np.float32)
    strip[20:24] *= 0.5  # a "vessel"
    seg = Segmenter(tiny_weights)
    with collect_notes() as notes:
        res = seg.run(strip, name="strip.png")
    assert res.scale == 1.0 and res.prob.shape == (50, 3000)
    assert notes == [f"strip.png: {n}" for n in res.notes]
    assert "aspect ratio of 60:1" in notes[0] and "native scale" in notes[0]


def test_tiles_are_clipped_to_the_image():
    seen = []

    def model(x):  # a callable with the output contract: logits (B, 1, h, w)
        seen.append(tuple(x.shape[-2:]))
        return x[:, :1]

    prob = predict(model, np.random.default_rng(5).random((50, 3000)).astype(np.float32), tile=1024)
    assert prob.shape == (50, 3000) and seen and max(h for h, _ in seen) == 50  # not padded to 1024 rows
    assert all(w <= 1024 for _, w in seen)


def test_tiny_tiles_are_raised_to_the_minimum(tiny_weights):
    with collect_notes() as notes:
        seg = Segmenter(tiny_weights, tile=64)
    assert seg.tile == MIN_TILE and f"tile 64 px is below the minimum of {MIN_TILE} px" in notes[0]


# --- the command line --------------------------------------------------------------------------------

@pytest.mark.slow
def test_cli_notes_for_photographs_read_differently(tiny_weights, tmp_path):
    """One batch, one note per photograph (stderr), every photograph segmented correctly."""
    import cv2

    photos = tmp_path / "photos"
    photos.mkdir()
    rgb = fundus()
    tifffile.imwrite(photos / "twelve.tif", _twelve_bit(rgb))
    cv2.imwrite(str(photos / "twelve_png.png"), _twelve_bit(rgb)[..., ::-1])
    tifffile.imwrite(photos / "signed.tif", rgb.astype(np.int16) * 8 - 1000, photometric="rgb")
    wide = rgb.astype(np.float32) / 255 * 3 - 1
    wide[0, 0] = 2.0
    tifffile.imwrite(photos / "wide.tif", wide, photometric="rgb")
    Image.fromarray(rgb).save(photos / "rotated.jpg", exif=_exif(6), quality=95)
    proc = run_cli("segment", photos, "--out", tmp_path / "out", "--weights", tiny_weights, "--no-progress")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    notes = [line for line in proc.stderr.splitlines() if line.startswith("note: ")]
    cases = {"twelve.tif": ("12-bit data in a 16-bit TIFF", "read as 12-bit (divided by 4095, not 65535)"),
             "twelve_png.png": ("12-bit data in a 16-bit colour PNG", "read as 12-bit"),
             "signed.tif": ("signed int16 TIFF with negative values", "rescaled to [0, 1]"),
             "wide.tif": ("float TIFF outside [0, 1]", "float data outside [0, 1] (range -1 to 2)"),
             "rotated.jpg": ("JPEG with EXIF orientation 6", "rotated 90° clockwise")}
    for name, (case, fragment) in cases.items():
        mine = [n for n in notes if f"{name}:" in n]
        assert len(mine) == 1 and fragment in mine[0], (name, notes)
        record_case(f"segment: {case}", rc=proc.returncode, message=mine[0])
        summary = next(line for line in proc.stdout.splitlines() if line.startswith(f"{name}:"))
        # the aperture (diameter 140 on a 200x160 frame) is found: not the whole frame, not black
        assert "FOV diameter 14" in summary and "scale 1," in summary, summary
    with Image.open(tmp_path / "out" / "rotated_prob.png") as im:
        assert im.size == (160, 200)  # displayed orientation: 160 wide, 200 high


@pytest.mark.slow
def test_cli_strip_and_tiny_tile_notes(tiny_weights, tmp_path):
    strip = np.zeros((50, 3000, 3), np.uint8)
    strip[:] = (180, 90, 40)
    Image.fromarray(strip).save(tmp_path / "strip.png")
    proc = run_cli("segment", tmp_path / "strip.png", "--out", tmp_path / "out", "--weights", tiny_weights,
                   "--tile", "64", "--no-progress")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    notes = [line for line in proc.stderr.splitlines() if line.startswith("note: ")]
    tile_note = next(n for n in notes if "tile 64 px" in n)
    fov_note = next(n for n in notes if "strip.png" in n)
    assert "aspect ratio of 60:1" in fov_note and "scale 1," in proc.stdout
    record_case("segment: 3000x50 strip, no black surround", rc=proc.returncode, message=fov_note)
    record_case("segment: --tile 64", rc=proc.returncode, message=tile_note)
    with Image.open(tmp_path / "out" / "strip_prob.png") as im:
        assert im.size == (3000, 50)


@pytest.mark.slow
@pytest.mark.parametrize("case", ["float TIFF with NaN", "TIFF header of 30000x30000", "--scale 8 over the limit"])
def test_cli_refusals(tiny_weights, tmp_path, case):
    env, extra = None, []
    if case == "float TIFF with NaN":
        img = fundus().astype(np.float32) / 255
        img[10, 10, 0] = np.nan
        path = tmp_path / "nan.tif"
        tifffile.imwrite(path, img, photometric="rgb")
        fragments = ["nan.tif", "NaN or infinite"]
    elif case == "TIFF header of 30000x30000":
        path = _fake_size_tiff(tmp_path / "huge.tif", 30000, 30000)
        fragments = ["huge.tif", "900000000 pixels (30000x30000)", "limit of 200000000"]
    else:
        path = tmp_path / "eye.png"
        Image.fromarray(fundus()).save(path)
        env, extra = {"VESSELSEG_MAX_PIXELS": "1000000"}, ["--scale", "8"]
        fragments = ["eye.png", "1384x1280 = 1771520 pixels", "limit of 1000000", "smaller --scale"]
    proc = run_cli("segment", path, "--out", tmp_path / "out", "--weights", tiny_weights, "--no-progress",
                   *extra, env=env)
    record_case(f"segment: {case}", proc)
    assert_clean_error(proc, *fragments)
    assert len(proc.stderr.strip().splitlines()) == 1 and proc.stderr.startswith("error: "), proc.stderr

