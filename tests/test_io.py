import numpy as np
import pytest
import tifffile
from conftest import needs_data, requires_dataset, save_image
from PIL import Image

from vesselseg.errors import InputError
from vesselseg.io import read_image, read_mask, write_png
from vesselseg.io.datasets import folder_samples, load_sample, load_split
from vesselseg.io.fov import derive_fov


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".tif", ".gif", ".ppm", ".bmp"])
def test_read_image_formats_rgb_float(tmp_path, suffix):
    arr = (np.random.default_rng(0).random((20, 24, 3)) * 255).astype(np.uint8)
    p = save_image(tmp_path / f"a{suffix}", arr)
    img = read_image(p)
    assert img.shape == (20, 24, 3) and img.dtype == np.float32
    assert 0.0 <= img.min() and img.max() <= 1.0
    if suffix in (".png", ".tif", ".ppm", ".bmp"):  # lossless
        np.testing.assert_allclose(img, arr / 255.0, atol=1e-6)


def test_read_image_grey_rgba_palette_16bit(tmp_path):
    grey = np.arange(400, dtype=np.uint8).reshape(20, 20)
    img = read_image(save_image(tmp_path / "g.png", grey))
    assert img.shape == (20, 20, 3) and np.allclose(img[..., 0], img[..., 2])
    rgba = np.zeros((20, 20, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[..., 3] = 10
    assert read_image(save_image(tmp_path / "a.png", rgba))[0, 0, 0] == pytest.approx(200 / 255)
    pal = Image.fromarray(grey).convert("P")
    pal.save(tmp_path / "p.gif")
    assert read_image(tmp_path / "p.gif").shape == (20, 20, 3)
    g16 = (np.arange(400, dtype=np.uint16).reshape(20, 20) * 150)
    Image.fromarray(g16).save(tmp_path / "g16.png")
    img16 = read_image(tmp_path / "g16.png")
    assert img16[19, 19, 0] == pytest.approx(399 * 150 / 65535, rel=1e-5)
    rgb16 = (np.random.default_rng(1).random((20, 20, 3)) * 65535).astype(np.uint16)
    tifffile.imwrite(tmp_path / "c16.tif", rgb16)
    np.testing.assert_allclose(read_image(tmp_path / "c16.tif"), rgb16 / 65535, atol=1e-6)


def test_read_mask_palette_gif_3_253(tmp_path):
    """DRIVE's 2nd_manual GIFs are palettes reading as 3/253: the threshold must binarise them."""
    idx = np.zeros((20, 20), np.uint8)
    idx[5:10] = 1
    im = Image.fromarray(idx, mode="P")
    im.putpalette([4, 2, 4, 252, 254, 252] + [0] * 762)
    im.save(tmp_path / "m.gif")
    m = read_mask(tmp_path / "m.gif")
    assert m.dtype == bool and m.sum() == 100 and m[5:10].all()


def test_read_mask_1bit_png_and_size_check(tmp_path):
    m = np.zeros((20, 30), bool)
    m[2:4] = True
    Image.fromarray(m).convert("1").save(tmp_path / "b.png")
    out = read_mask(tmp_path / "b.png")
    assert (out == m).all()
    with pytest.raises(InputError, match="b.png"):
        read_mask(tmp_path / "b.png", shape=(30, 20))


@pytest.mark.parametrize("make,msg", [
    (lambda p: None, "no such file"),
    (lambda p: p.mkdir(), "is a directory"),
    (lambda p: p.write_bytes(b""), "empty"),
    (lambda p: p.write_text("hello, not an image"), "not an image"),
])
def test_bad_files_raise_input_error(tmp_path, make, msg):
    p = tmp_path / "x.png"
    make(p)
    with pytest.raises(InputError, match=msg) as e:
        read_image(p)
    assert str(p) in str(e.value)


def test_truncated_and_tiny_images(tmp_path):
    arr = (np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8)
    save_image(tmp_path / "t.jpg", arr)
    data = (tmp_path / "t.jpg").read_bytes()
    (tmp_path / "t.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="t.jpg"):
        read_image(tmp_path / "t.jpg")
    save_image(tmp_path / "one.png", np.zeros((1, 1, 3), np.uint8))
    with pytest.raises(InputError, match="at least 16x16"):
        read_image(tmp_path / "one.png")


def test_pixel_limit(tmp_path, monkeypatch):
    save_image(tmp_path / "big.png", np.zeros((100, 100, 3), np.uint8))
    monkeypatch.setenv("VESSELSEG_MAX_PIXELS", "5000")
    with pytest.raises(InputError, match="limit of 5000"):
        read_image(tmp_path / "big.png")


def test_write_png_atomic_roundtrip(tmp_path):
    p = write_png(tmp_path / "sub" / "o.png", np.array([[0.0, 1.0], [0.5, 0.25]], np.float32))
    back = np.asarray(Image.open(p))
    assert back.tolist() == [[0, 255], [128, 64]]
    assert not list((tmp_path / "sub").glob("*.part"))


def test_derive_fov_synthetic(rgb_image):
    fov = derive_fov(rgb_image)
    truth = rgb_image[..., 0] > 0
    dice = 2 * (fov & truth).sum() / (fov.sum() + truth.sum())
    assert dice > 0.97
    line = truth & (rgb_image[..., 0] < 0.5)
    assert line.any() and fov[line].mean() > 0.95  # the dark 'vessel' is inside the FOV
    assert derive_fov(np.full((50, 50, 3), 0.7, np.float32)).all()  # no dark surround


def test_folder_dataset(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    for stem in ("a", "b", "a1"):
        save_image(tmp_path / "images" / f"{stem}.png", np.zeros((20, 20, 3), np.uint8))
        save_image(tmp_path / "masks" / f"{stem}_manual.png", np.zeros((20, 20), np.uint8))
    samples = folder_samples(tmp_path)
    assert [s.name for s in samples] == ["a", "a1", "b"]
    assert samples[0].label.name == "a_manual.png" and samples[1].label.name == "a1_manual.png"
    (tmp_path / "masks" / "b_manual.png").unlink()
    with pytest.raises(InputError, match="b.png: no matching mask"):
        folder_samples(tmp_path)


def test_missing_dataset_file_is_named(tmp_path):
    root = tmp_path / "STARE"
    for sub in ("stare-images", "labels-ah", "labels-vk"):
        (root / sub).mkdir(parents=True)
    for i in range(1, 21):
        (root / "stare-images" / f"im{i:04d}.ppm").write_bytes(b"x")
        (root / "labels-ah" / f"im{i:04d}.ah.ppm").write_bytes(b"x")
        if i != 3:
            (root / "labels-vk" / f"im{i:04d}.vk.ppm").write_bytes(b"x")
    with pytest.raises(InputError, match="im0003.vk.ppm: missing file"):
        load_split("stare", "train", tmp_path)
    assert len(load_split("stare", "test", tmp_path)) == 10


EXPECTED = {  # dataset, split: (count, (H, W), second observer present)
    ("drive", "train"): (20, (584, 565), False),
    ("drive", "test"): (20, (584, 565), True),
    ("stare", "train"): (10, (605, 700), True),
    ("stare", "test"): (10, (605, 700), True),
    ("chase", "train"): (20, (960, 999), True),
    ("chase", "test"): (8, (960, 999), True),
}


@pytest.mark.parametrize("key", [pytest.param(k, marks=requires_dataset(k[0]), id="-".join(k)) for k in EXPECTED])
def test_real_dataset_splits(key):
    name, split = key
    count, shape, has2 = EXPECTED[key]
    samples = load_split(name, split)
    assert len(samples) == count
    names = [s.name for s in samples]
    assert names == sorted(names)
    if name == "stare":
        assert names[0] == ("im0001" if split == "train" else "im0162")
    if name == "chase":
        assert names[0] == ("Image_01L" if split == "train" else "Image_11L")
    first = load_sample(samples[0])
    assert first.image.shape == (*shape, 3) and first.image.dtype == np.float32
    assert first.label.dtype == bool and first.label.shape == shape
    assert (first.label2 is not None) == has2
    frac = (first.label & first.fov).sum() / first.fov.sum()
    assert 0.05 < frac < 0.2  # DRIVE ≈ 12 %, STARE/CHASE ≈ 9-11 %
    assert 0.6 < first.fov.mean() < 0.8
    assert first.fov_derived == (name != "drive")


@needs_data
def test_derived_fov_matches_drive_masks():
    dice = []
    for split in ("train", "test"):
        for s in load_split("drive", split)[::4]:
            ls = load_sample(s, observer2=False)
            d = derive_fov(ls.image)
            dice.append(2 * (d & ls.fov).sum() / (d.sum() + ls.fov.sum()))
    assert min(dice) > 0.99


def _reference_fov(red, frac=0.12, floor=0.04, erode=1):
    """The scipy.ndimage formulation of derive_fov's steps (what the OpenCV one must equal)."""
    from scipy import ndimage as ndi

    red = ndi.gaussian_filter(red.astype(np.float32), sigma=1.5)
    fg = red > max(floor, frac * float(np.percentile(red, 99)))
    labels, n = ndi.label(fg)
    if n == 0:
        return np.ones(red.shape, dtype=bool)
    sizes = ndi.sum_labels(np.ones_like(labels), labels, index=np.arange(1, n + 1))
    fov = ndi.binary_fill_holes(labels == (1 + int(np.argmax(sizes))))
    fov = ndi.binary_erosion(fov, structure=np.ones((3, 3), bool), iterations=erode, border_value=1)
    return np.ones(red.shape, dtype=bool) if fov.mean() < 0.05 else fov


@pytest.mark.parametrize("case", ["disc", "clipped", "holes", "two_blobs", "noise"])
def test_derive_fov_equals_the_scipy_formulation(case):
    from vesselseg.io.fov import derive_fov

    rng = np.random.default_rng(3)
    h, w = 180, 230
    yy, xx = np.mgrid[:h, :w]
    red = np.zeros((h, w), np.float32)
    if case in ("disc", "holes", "two_blobs", "noise"):
        red[(yy - 90) ** 2 + (xx - 115) ** 2 < 75**2] = 0.7
    if case == "clipped":  # aperture cut by the frame top and bottom
        red[(yy - 90) ** 2 + (xx - 115) ** 2 < 110**2] = 0.6
    if case == "holes":  # dark lesions inside: filled
        for cy, cx in ((70, 100), (110, 140), (90, 60)):
            red[(yy - cy) ** 2 + (xx - cx) ** 2 < 8**2] = 0.0
    if case == "two_blobs":  # a bright label in the corner: not the largest component
        red[5:25, 5:40] = 0.9
    if case == "noise":
        red = np.clip(red + rng.normal(0, 0.05, red.shape).astype(np.float32), 0, 1)
    rgb = np.stack([red, red * 0.5, red * 0.2], axis=-1)
    assert np.array_equal(derive_fov(rgb), _reference_fov(red))
