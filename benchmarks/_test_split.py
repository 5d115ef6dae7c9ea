"""What the model-diagnosis scripts share: a command line naming weights and a dataset, the
weights' predictor with the test split's samples (first observer only), and the confident misses."""

from __future__ import annotations

import argparse
import sys

import numpy as np


def parser(doc: str, threads: int) -> argparse.ArgumentParser:
    """``weights``, ``--dataset``, ``--data``, ``--threads``; the description is ``doc``'s first line."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("weights", help="a .safetensors file or a shipped name (drive, stare, chase)")
    ap.add_argument("--dataset", default="drive", choices=("drive", "stare", "chase"))
    ap.add_argument("--data", default=None, help="dataset root (default: $VESSELSEG_DATA)")
    ap.add_argument("--threads", type=int, default=threads)
    return ap


def load(args: argparse.Namespace):
    """``(predictor, samples)`` for ``args``, with torch at ``args.threads``; None after printing
    the error when the weights or the dataset cannot be read."""
    import torch

    from vesselseg.errors import VesselsegError
    from vesselseg.inference.predictor import Predictor
    from vesselseg.io.datasets import load_sample, load_split

    torch.set_num_threads(args.threads)
    try:
        predictor = Predictor(args.weights)
        samples = [load_sample(s, observer2=False) for s in load_split(args.dataset, "test", args.data)]
    except VesselsegError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None
    return predictor, samples


def confident_misses(prob: np.ndarray, label: np.ndarray) -> np.ndarray:
    """Vessel pixels scoring at or below the median background probability: the misses that cost
    AUC, since half the background outranks them. ``prob``, ``label``: pooled 1-D arrays."""
    return label & (prob <= np.median(prob[~label]))
