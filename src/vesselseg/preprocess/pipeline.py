"""Preprocessing steps, each a pure array function, and the configurable pipeline.

All arrays are ``float32``; grey images are ``(H, W)`` in ``[0, 1]`` after each step.

Standardisation uses statistics fitted on the **training** images only (:func:`fit_stats`) and
stored with the model (model card), so inference repeats exactly the same mapping and the test
set never leaks into it. Note the widespread variant (retina-unet, VesselSeg-Pytorch) that
z-scores with dataset statistics and then min-max rescales *each image* makes the dataset
statistics a no-op (an affine map followed by min-max is the identity up to min-max); here the
rescale to ``[0, 1]`` also uses training statistics (``lo``/``hi`` percentiles of the z-scores).
``standardise="image"`` keeps the per-image variant for photographs unlike the training data.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Iterable

import cv2
import numpy as np

from vesselseg.errors import ConfigError, InputError
from vesselseg.validation import finite_number, whole_number
from vesselseg.vocabulary import STANDARDISE

#: ITU-R BT.601 luma weights, the usual RGB -> grey for fundus work.
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@dataclass(frozen=True)
class NormStats:
    """Training-set statistics for :func:`standardise` (grey values in ``[0, 1]``)."""

    mean: float
    std: float
    lo: float  # 0.5th percentile of the z-scores inside the FOV
    hi: float  # 99.5th percentile

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "NormStats":
        return cls(**{k: float(d[k]) for k in ("mean", "std", "lo", "hi")})


#: Largest CLAHE grid (N x N tiles): 64 tiles across a 565-px DRIVE image are already 9 px each,
#: far past any useful contrast equalisation; OpenCV allocates a histogram per tile, so a grid of
#: 100000 asks for hundreds of GB.
MAX_CLAHE_TILES = 64


@dataclass(frozen=True)
class PreprocessConfig:
    """Which steps run, with their parameters. ``standardise``: ``dataset`` | ``image`` | ``none``."""

    grey: str = "luminance"  # luminance | green
    standardise: str = "dataset"
    clahe: bool = True
    clahe_clip: float = 2.0
    clahe_tiles: int = 8
    gamma: float = 1.2  # output = input ** (1 / gamma); 1.0 disables
    # Colour as well as grey (artery/vein models: arteries are lighter and redder than veins): the
    # network input is then (4, H, W), the grey pipeline's output plus R, G, B each standardised
    # within the FOV (see :func:`model_input`).
    colour: bool = False
    steps: tuple = field(default=("grey", "standardise", "clahe", "gamma"), repr=False)

    def __post_init__(self):
        if self.grey not in ("luminance", "green"):
            raise ConfigError(f"preprocess.grey must be 'luminance' or 'green', not {self.grey!r}")
        if self.standardise not in STANDARDISE:
            raise ConfigError(
                f"preprocess.standardise must be 'dataset', 'image' or 'none', not {self.standardise!r}"
            )

        if not isinstance(self.colour, bool):
            raise ConfigError(f"preprocess.colour: expected true/false, got {self.colour!r}")
        if not isinstance(self.clahe, bool):
            raise ConfigError(f"preprocess.clahe: expected true/false, got {self.clahe!r}")
        # NaN would pass a plain "<= 0" test and write an image of NaNs (garbage PNGs).
        finite_number(self.gamma, "preprocess.gamma", 0, lo_open=True)
        finite_number(self.clahe_clip, "preprocess.clahe_clip", 0, lo_open=True)
        whole_number(self.clahe_tiles, "preprocess.clahe_tiles", 1, MAX_CLAHE_TILES)

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("steps")
        return d

    @classmethod
    def from_dict(cls, d: dict | None) -> "PreprocessConfig":
        d = dict(d or {})
        known = {"grey", "standardise", "clahe", "clahe_clip", "clahe_tiles", "gamma", "colour"}
        unknown = set(d) - known
        if unknown:
            raise ConfigError(f"unknown preprocess key(s): {', '.join(sorted(unknown))}")
        return cls(**d)


def to_grey(rgb: np.ndarray, method: str = "luminance") -> np.ndarray:
    """``(H, W, 3)`` RGB -> ``(H, W)`` grey. ``green`` takes the green channel alone."""
    if rgb.ndim == 2:
        return rgb.astype(np.float32)
    if method == "green":
        return np.ascontiguousarray(rgb[..., 1], dtype=np.float32)
    return (rgb[..., :3].astype(np.float32) @ LUMA).astype(np.float32)


def fit_stats(greys: Iterable[np.ndarray], fovs: Iterable[np.ndarray] | None = None) -> NormStats:
    """Mean, std and z-score percentiles of grey values inside the FOVs of the training images."""
    greys = list(greys)
    fovs = list(fovs) if fovs is not None else [None] * len(greys)
    values = np.concatenate([g[f] if f is not None else g.ravel() for g, f in zip(greys, fovs)])
    if values.size == 0:  # numpy would warn "Mean of empty slice" and return NaN statistics
        raise InputError("cannot fit standardisation statistics: no pixel inside the field of view")
    mean, std = float(values.mean()), float(values.std()) or 1.0
    z = (values - mean) / std
    lo, hi = np.percentile(z, [0.5, 99.5])
    return NormStats(mean=mean, std=std, lo=float(lo), hi=float(hi))


def standardise(grey: np.ndarray, stats: NormStats | None, mode: str = "dataset",
                fov: np.ndarray | None = None) -> np.ndarray:
    """Z-score, then map to ``[0, 1]``.

    ``dataset``: z = (g - mean) / std with training statistics, then ``(z - lo) / (hi - lo)``
    clipped to ``[0, 1]``. ``image``: this image's own mean/std/percentiles (inside ``fov``).
    ``none``: returns ``grey`` unchanged.
    """
    if mode == "none":
        return grey.astype(np.float32)
    if mode == "image" or stats is None:
        if mode == "dataset":
            raise ConfigError("standardise='dataset' needs training statistics (NormStats)")
        if fov is not None and not np.any(fov):
            fov = None  # an empty FOV holds no statistics: this image's own are the whole frame's
        stats = fit_stats([grey], [fov] if fov is not None else None)
    z = (grey - stats.mean) / stats.std
    out = (z - stats.lo) / max(stats.hi - stats.lo, 1e-6)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def apply_clahe(grey: np.ndarray, clip: float = 2.0, tiles: int = 8) -> np.ndarray:
    """Contrast-limited adaptive histogram equalisation (OpenCV) on an 8-bit copy."""
    u8 = np.clip(np.rint(grey * 255.0), 0, 255).astype(np.uint8)
    clahe = cv2.createCLAHE(clipLimit=float(clip), tileGridSize=(int(tiles), int(tiles)))
    return clahe.apply(u8).astype(np.float32) / 255.0


def apply_gamma(grey: np.ndarray, gamma: float = 1.2) -> np.ndarray:
    """Gamma correction ``out = grey ** (1 / gamma)`` (brightens dark vessels' surround for gamma > 1)."""
    if gamma == 1.0:
        return grey.astype(np.float32)
    return np.power(np.clip(grey, 0.0, 1.0), 1.0 / gamma).astype(np.float32)


def preprocess(rgb: np.ndarray, stats: NormStats | None = None, cfg: PreprocessConfig | None = None,
               fov: np.ndarray | None = None, return_stages: bool = False):
    """Run the pipeline on one RGB image ``(H, W, 3)`` in ``[0, 1]`` -> grey ``(H, W)`` in ``[0, 1]``.

    With ``return_stages`` also returns an ordered ``{stage name: array}`` dict (the paper's Fig. 4).
    """
    cfg = cfg or PreprocessConfig()
    stages: dict[str, np.ndarray] = {"rgb": rgb}
    x = to_grey(rgb, cfg.grey)
    stages["grey"] = x
    x = standardise(x, stats, cfg.standardise, fov)
    stages["standardised"] = x
    if cfg.clahe:
        x = apply_clahe(x, cfg.clahe_clip, cfg.clahe_tiles)
        stages["clahe"] = x
    if cfg.gamma != 1.0:
        x = apply_gamma(x, cfg.gamma)
        stages["gamma"] = x
    return (x, stages) if return_stages else x


def input_channels(cfg: PreprocessConfig) -> int:
    """Channels of the network input :func:`model_input` makes: 1 (grey) or 4 (grey + R, G, B)."""
    return 4 if cfg.colour else 1


def model_input(rgb: np.ndarray, stats: NormStats | None = None, cfg: PreprocessConfig | None = None,
                fov: np.ndarray | None = None) -> np.ndarray:
    """The network input of one RGB image: the grey pipeline's ``(H, W)`` (:func:`preprocess`), or
    with ``cfg.colour`` a ``(4, H, W)`` stack of it and R, G, B, each channel standardised on this
    image's FOV (z-score, 0.5-99.5 % percentiles to ``[0, 1]``: white balance differs between
    cameras, the artery/vein contrast within one image does not)."""
    cfg = cfg or PreprocessConfig()
    grey = preprocess(rgb, stats, cfg, fov=fov)
    if not cfg.colour:
        return grey
    if rgb.ndim != 3 or rgb.shape[-1] < 3:
        raise InputError("a colour model needs a colour (RGB) photograph")
    colour = [standardise(np.ascontiguousarray(rgb[..., c], dtype=np.float32), None, "image", fov) for c in range(3)]
    return np.stack([grey, *colour])
