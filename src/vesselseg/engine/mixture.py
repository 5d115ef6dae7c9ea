"""Training data from several datasets (cameras) at one vessel-width scale.

A ``mixture`` run (``dataset: {name: mixture, sources: [...], fov_diameter: D}``) trains one model
on the training splits of several datasets. Vessel width in pixels follows the camera's
resolution, so every training photograph is first brought to the FOV diameter ``D`` -- the
resolution policy :mod:`vesselseg.segmentation.resolution` applies at inference, with the same
tolerance -- after cropping to its field of view. Then each image yields ``patches.variants``
copies: the first clean, the others resampled by a random factor (``patches.scale_jitter``: the
FOV is an imperfect ruler across field angles and eyes) and, with ``patches.camera_augment``,
degraded as by another camera (:mod:`vesselseg.patches.camera`). Labels are resampled by area
averaging and kept *soft* (the vessel fraction of each pixel): thresholding a downsampled label
would delete the 1-px capillaries a smaller scale still shows as faint lines.

With ``dataset.labels: av`` the sources are artery/vein sets (RITE, AVRDB) and the targets are
three planes -- artery, vein, and a weight that leaves RITE's "uncertain" vessels out of the loss
(:func:`vesselseg.io.av.av_targets`) -- resampled like the vessel labels.

Each source gets a share of every epoch's patches in proportion to its ``weight`` (default:
equal shares), so 70 AVRDB photographs do not outvote 10 STARE ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from vesselseg.engine.config import Config
from vesselseg.errors import ConfigError
from vesselseg.io.av import av_targets
from vesselseg.io.datasets import AV_DATASETS, DATASETS, load_av_classes, load_sample, load_split
from vesselseg.io.fov import fov_bbox, fov_diameter
from vesselseg.patches.camera import camera_augment
from vesselseg.preprocess import PreprocessConfig, model_input
from vesselseg.segmentation.resolution import choose_scale, resize_image, resize_mask, scaled_size
from vesselseg.segmentation.segmenter import CROP_MARGIN  # crop as inference does


@dataclass
class MixtureSource:
    name: str
    weight: float = 1.0


@dataclass
class MixtureData:
    """Prepared training planes and how many patches each contributes per epoch."""

    images: list = field(default_factory=list)  # network input: grey (H, W) or (C, H, W) float32
    labels: list = field(default_factory=list)  # soft vessel fraction (H, W), or (3, H, W) A/V targets
    fovs: list = field(default_factory=list)  # (H, W) bool
    counts: list = field(default_factory=list)  # patches per epoch, one per plane
    sources: dict = field(default_factory=dict)  # source -> {"images", "patches_per_epoch", "fov_diameter_px"}


def parse_sources(raw: list) -> list[MixtureSource]:
    out = []
    for item in raw:
        if isinstance(item, str):
            item = {"name": item}
        if not isinstance(item, dict) or "name" not in item or set(item) - {"name", "weight"}:
            raise ConfigError(f"dataset.sources: expected a name or {{name, weight}}, got {item!r}")
        name, weight = item["name"], item.get("weight", 1.0)
        if name not in DATASETS or name in ("folder", "mixture"):
            raise ConfigError(f"dataset.sources: unknown dataset {name!r}")
        if not isinstance(weight, (int, float)) or isinstance(weight, bool) or weight <= 0:
            raise ConfigError(f"dataset.sources: weight of {name} must be a positive number")
        out.append(MixtureSource(name, float(weight)))
    if not out:
        raise ConfigError("a mixture needs dataset.sources (e.g. [drive, stare, chase, avrdb])")
    if len({s.name for s in out}) != len(out):
        raise ConfigError("dataset.sources: a dataset is listed twice")
    return out


def check_mixture(cfg: Config) -> None:
    """Config errors of a mixture run, raised at load time (not after minutes of preparation)."""
    sources = parse_sources(cfg.dataset.sources)
    if cfg.dataset.labels == "av":
        other = [s.name for s in sources if s.name not in AV_DATASETS]
        if other:
            raise ConfigError(f"dataset.labels: av trains on artery/vein sets ({', '.join(AV_DATASETS)}); "
                              f"{', '.join(other)} has none")
    if cfg.preprocess.standardise == "dataset":
        raise ConfigError("a mixture run standardises each image (preprocess.standardise: image or none): "
                          "one set of dataset statistics cannot describe several cameras")
    if cfg.dataset.fov_diameter < 64:
        raise ConfigError("dataset.fov_diameter must be at least 64 pixels")
    p = cfg.patches
    if p.variants < 1 or p.scale_jitter < 0 or p.scale_jitter > 1:
        raise ConfigError("patches.variants must be >= 1 and patches.scale_jitter within [0, 1]")


def split_counts(total: int, parts: int) -> list[int]:
    """``total`` split into ``parts`` near-equal integers (the first ones take the remainder)."""
    base, rem = divmod(int(total), parts)
    return [base + (i < rem) for i in range(parts)]


def _resize_label(label: np.ndarray, size: tuple[int, int], factor: float) -> np.ndarray:
    """Soft resampling of ``(H, W)`` or ``(K, H, W)`` label planes (area averaging when shrinking)."""
    interp = cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR
    planes = label[None] if label.ndim == 2 else label
    out = np.stack([cv2.resize(np.ascontiguousarray(p, np.float32), (size[1], size[0]), interpolation=interp)
                    for p in planes])
    return np.clip(out if label.ndim == 3 else out[0], 0.0, 1.0).astype(np.float32)


def _plane(rgb, fov, label, factor, pcfg, rng, camera: bool):
    size = scaled_size(fov.shape, factor)
    rgb_s, fov_s = resize_image(rgb, size), resize_mask(fov, size)
    label_s = _resize_label(label, size, factor)
    if camera:
        rgb_s = camera_augment(rgb_s, fov_s, rng)
    return model_input(rgb_s, None, pcfg, fov=fov_s), label_s, fov_s


def prepare_mixture(cfg: Config, pcfg: PreprocessConfig, log=print) -> MixtureData:
    """Read every source's training split and build the training planes (see the module doc)."""
    sources = parse_sources(cfg.dataset.sources)
    p = cfg.patches
    target = float(cfg.dataset.fov_diameter)
    rng = np.random.default_rng(cfg.train.seed)
    listed = {s.name: load_split(s.name, "train", cfg.dataset.data) for s in sources}
    total = p.per_image * sum(len(v) for v in listed.values())
    weight_sum = sum(s.weight for s in sources)
    data = MixtureData()
    for src in sources:
        samples = listed[src.name]
        share = round(total * src.weight / weight_sum)
        per_plane = split_counts(share, len(samples) * p.variants)
        diameters = []
        for i, sample in enumerate(samples):
            ls = load_sample(sample, observer2=False)
            rows, cols = fov_bbox(ls.fov, CROP_MARGIN)
            rgb, fov = ls.image[rows, cols], ls.fov[rows, cols]
            if cfg.dataset.labels == "av":
                label = av_targets(load_av_classes(sample)[rows, cols])
            else:
                label = ls.label[rows, cols].astype(np.float32)
            d = fov_diameter(fov)
            diameters.append(d)
            base = choose_scale(d, target, "auto")
            for v in range(p.variants):
                factor = base
                if v > 0 and p.scale_jitter > 0:
                    factor *= float(np.exp(rng.uniform(-1, 1) * np.log1p(p.scale_jitter)))
                grey, soft, fov_s = _plane(rgb, fov, label, factor, pcfg, rng, camera=v > 0 and p.camera_augment)
                data.images.append(grey)
                data.labels.append(soft)
                data.fovs.append(fov_s)
                data.counts.append(per_plane[i * p.variants + v])
        data.sources[src.name] = {"images": len(samples), "patches_per_epoch": share,
                                  "fov_diameter_px": float(np.median(diameters))}
        log(f"mixture: {src.name} {len(samples)} images x {p.variants} variants, "
            f"FOV {np.median(diameters):.0f} px -> {target:.0f} px, {share} patches/epoch")
    return data
