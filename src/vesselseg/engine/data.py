"""Turn a dataset split into model-ready arrays: preprocessed grey images, labels, FOVs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vesselseg.engine.config import Config
from vesselseg.io.datasets import LoadedSample, load_sample, load_split
from vesselseg.preprocess import NormStats, PreprocessConfig, fit_stats, preprocess, to_grey


@dataclass
class PreparedSplit:
    names: list[str]
    images: list[np.ndarray]  # preprocessed grey, (H, W) float32 in [0, 1]
    labels: list[np.ndarray]  # (H, W) bool, first observer
    fovs: list[np.ndarray]  # (H, W) bool
    labels2: list[np.ndarray | None]
    raw: list[LoadedSample]


def preprocess_config(cfg: Config) -> PreprocessConfig:
    return PreprocessConfig.from_dict(vars(cfg.preprocess))


def load_raw(cfg: Config, split: str) -> list[LoadedSample]:
    return [load_sample(s) for s in load_split(cfg.dataset.name, split, cfg.dataset.data)]


def fit_training_stats(train: list[LoadedSample], pcfg: PreprocessConfig) -> NormStats:
    """Statistics from the training images only -- stored in the model card for inference."""
    return fit_stats([to_grey(s.image, pcfg.grey) for s in train], [s.fov for s in train])


def prepare(samples: list[LoadedSample], pcfg: PreprocessConfig, stats: NormStats | None) -> PreparedSplit:
    images = [preprocess(s.image, stats, pcfg, fov=s.fov) for s in samples]
    for s in samples:
        if s.label is None:
            raise ValueError(f"{s.name}: no label")
    return PreparedSplit(
        names=[s.name for s in samples],
        images=images,
        labels=[s.label for s in samples],
        fovs=[s.fov for s in samples],
        labels2=[s.label2 for s in samples],
        raw=samples,
    )
