import numpy as np
import pytest
from conftest import needs_data

from vesselseg.errors import ConfigError
from vesselseg.preprocess import (
    NormStats,
    PreprocessConfig,
    apply_clahe,
    apply_gamma,
    fit_stats,
    preprocess,
    standardise,
    to_grey,
)


def test_to_grey_luminance_and_green():
    rgb = np.zeros((4, 4, 3), np.float32)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 1.0, 0.5, 0.0
    assert to_grey(rgb)[0, 0] == pytest.approx(0.299 + 0.587 * 0.5)
    assert to_grey(rgb, "green")[0, 0] == pytest.approx(0.5)


def test_fit_stats_uses_fov_only():
    g = np.zeros((10, 10), np.float32)
    g[:5] = 1.0
    fov = np.zeros_like(g, bool)
    fov[:5] = True
    s = fit_stats([g], [fov])
    assert s.mean == pytest.approx(1.0) and s.std == 1.0  # zero spread falls back to 1


def test_standardise_dataset_is_fixed_affine_map():
    stats = NormStats(mean=0.5, std=0.1, lo=-2.0, hi=2.0)
    g = np.array([[0.3, 0.5, 0.7, 0.9]], np.float32)
    out = standardise(g, stats, "dataset")
    np.testing.assert_allclose(out, [[0.0, 0.5, 1.0, 1.0]], atol=1e-6)
    # same pixel value -> same output whatever else is in the image (no per-image statistics)
    assert standardise(np.array([[0.5, 0.0]], np.float32), stats)[0, 0] == pytest.approx(0.5)
    with pytest.raises(ConfigError):
        standardise(g, None, "dataset")


def test_clahe_and_gamma_ranges():
    rng = np.random.default_rng(0)
    g = (rng.random((64, 64)) * 0.3).astype(np.float32)
    c = apply_clahe(g, 2.0, 8)
    assert c.dtype == np.float32 and 0 <= c.min() and c.max() <= 1
    assert c.std() > g.std()  # contrast enhanced
    gm = apply_gamma(np.array([0.25, 1.0], np.float32), 2.0)
    np.testing.assert_allclose(gm, [0.5, 1.0], atol=1e-6)


def test_pipeline_deterministic_and_staged(rgb_image):
    a, stages = preprocess(rgb_image, None, PreprocessConfig(standardise="image"), return_stages=True)
    b = preprocess(rgb_image, None, PreprocessConfig(standardise="image"))
    assert np.array_equal(a, b)
    assert list(stages) == ["rgb", "grey", "standardised", "clahe", "gamma"]
    assert a.shape == rgb_image.shape[:2] and a.dtype == np.float32
    assert 0.0 <= a.min() and a.max() <= 1.0
    no_clahe = preprocess(rgb_image, None, PreprocessConfig(standardise="image", clahe=False, gamma=1.0),
                          return_stages=True)[1]
    assert list(no_clahe) == ["rgb", "grey", "standardised"]


def test_config_validation():
    with pytest.raises(ConfigError, match="standardise"):
        PreprocessConfig(standardise="global")
    with pytest.raises(ConfigError, match="unknown preprocess key"):
        PreprocessConfig.from_dict({"gama": 1.0})
    assert PreprocessConfig.from_dict(PreprocessConfig().to_dict()) == PreprocessConfig()


@pytest.mark.slow
@needs_data
def test_drive_stages_cli(tmp_path):
    from conftest import DATA, run_cli

    img = DATA / "DRIVE" / "test" / "images" / "01_test.tif"
    proc = run_cli("preprocess", img, "--standardise", "dataset", "--out", tmp_path)
    assert proc.returncode == 0, proc.stderr
    names = sorted(p.name for p in tmp_path.iterdir())
    assert "01_test_stages.png" in names and "01_test_4_gamma.png" in names
