"""Preprocessing as in the paper: grey -> standardise -> CLAHE -> gamma."""

from vesselseg.preprocess.pipeline import (
    NormStats,
    PreprocessConfig,
    apply_clahe,
    apply_gamma,
    fit_stats,
    input_channels,
    model_input,
    preprocess,
    standardise,
    to_grey,
)

__all__ = [
    "NormStats",
    "PreprocessConfig",
    "apply_clahe",
    "apply_gamma",
    "fit_stats",
    "input_channels",
    "model_input",
    "preprocess",
    "standardise",
    "to_grey",
]
