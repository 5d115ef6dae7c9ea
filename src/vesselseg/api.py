"""The public Python API; the command line calls these functions and nothing else."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _load_rgb(image: str | Path | None) -> tuple[np.ndarray, str]:
    from vesselseg.io.images import read_image
    from vesselseg.sample import SAMPLE_NAME, sample_image

    if image is None:
        return sample_image(), SAMPLE_NAME
    return read_image(image), Path(image).stem


def training_stats(dataset: str, data: str | Path | None = None, grey: str = "luminance"):
    """Standardisation statistics from the training split of ``dataset`` (never its test split)."""
    from vesselseg.io.datasets import load_sample, load_split
    from vesselseg.preprocess import fit_stats, to_grey

    loaded = [load_sample(s, observer2=False) for s in load_split(dataset, "train", data)]
    return fit_stats([to_grey(s.image, grey) for s in loaded], [s.fov for s in loaded])


def preprocess_stages(image: str | Path | None, out_dir: str | Path, standardise: str = "image",
                      dataset: str = "drive", data: str | Path | None = None, clahe_clip: float = 2.0,
                      clahe_tiles: int = 8, gamma: float = 1.2) -> list[Path]:
    """Preprocess one image (or the embedded sample) and write every stage as PNG into ``out_dir``."""
    from vesselseg.io.fov import derive_fov
    from vesselseg.io.images import ensure_output_dir
    from vesselseg.preprocess import PreprocessConfig, preprocess
    from vesselseg.preprocess.stages import write_stages

    rgb, stem = _load_rgb(image)
    out_dir = ensure_output_dir(out_dir)
    cfg = PreprocessConfig(standardise=standardise, clahe_clip=clahe_clip, clahe_tiles=clahe_tiles, gamma=gamma)
    stats = training_stats(dataset, data, cfg.grey) if standardise == "dataset" else None
    fov = derive_fov(rgb)
    _, stages = preprocess(rgb, stats, cfg, fov=fov, return_stages=True)
    stages["fov"] = fov
    return write_stages(stages, out_dir, stem)


def dataset_summary(data: str | Path | None = None, check_fov: bool = False) -> list[str]:
    """One line per dataset split: counts, size, vessel fraction inside the FOV, FOV fraction."""
    from vesselseg.io.datasets import FOLDERS, load_sample, load_split
    from vesselseg.io.fov import derive_fov

    lines = []
    for name in FOLDERS:
        for split in ("train", "test"):
            samples = [load_sample(s) for s in load_split(name, split, data)]
            vf = np.mean([(s.label & s.fov).sum() / s.fov.sum() for s in samples])
            ff = np.mean([s.fov.mean() for s in samples])
            h, w = samples[0].image.shape[:2]
            obs2 = sum(s.label2 is not None for s in samples)
            fov_src = "derived" if samples[0].fov_derived else "shipped"
            lines.append(f"{name:6s} {split:5s} images={len(samples):2d} size={w}x{h} "
                         f"vessel_in_fov={vf:.3f} fov_fraction={ff:.3f} ({fov_src} FOV) 2nd_observer={obs2}")
    if check_fov:
        dice = []
        for split in ("train", "test"):
            for s in load_split("drive", split, data):
                ls = load_sample(s, observer2=False)
                d = derive_fov(ls.image)
                dice.append(2 * (d & ls.fov).sum() / (d.sum() + ls.fov.sum()))
        lines.append(f"derived vs shipped FOV on DRIVE (40 images): Dice mean={np.mean(dice):.4f} "
                     f"min={np.min(dice):.4f}")
    return lines


def train(config: str | Path | None = None, overrides: list[str] | tuple[str, ...] = (),
          out_dir: str | Path | None = None, resume: str | Path | None = None, progress: bool = True,
          stop_after: int | None = None) -> dict:
    """Train (or resume) a run; at the end write weights + card and evaluate on the test split.

    Returns ``{"run_dir", "weights", "metrics"}`` (metrics: pooled FOV scores, or None).
    """
    from vesselseg.engine.config import load_config
    from vesselseg.engine.evaluate import evaluate, summary_line
    from vesselseg.engine.predictor import Predictor
    from vesselseg.engine.trainer import resume_run, start_run
    from vesselseg.engine.weights import write_card

    if resume is not None:
        trainer = resume_run(resume, progress=progress, stop_after=stop_after)
    else:
        cfg = load_config(config, overrides)
        run_dir = Path(out_dir) if out_dir else Path("runs") / cfg.name
        trainer = start_run(cfg, run_dir, progress=progress, stop_after=stop_after)
    out = {"run_dir": trainer.run_dir, "weights": None, "metrics": None}
    if trainer.epoch < trainer.cfg.train.epochs:
        return out  # stopped early on request (stop_after): resume later
    weights = trainer.finish()
    out["weights"] = weights
    cfg = trainer.cfg
    if cfg.train.eval_after:
        card = trainer.card()
        predictor = Predictor(model=trainer.model, card=card)
        res = evaluate(weights, cfg.dataset.name, cfg.dataset.data, mode=cfg.eval.mode, tta=cfg.eval.tta,
                       threshold=cfg.eval.threshold, out=trainer.run_dir / "eval", progress=progress,
                       predictor=predictor, save_maps=False)
        card["test_metrics"] = {"setup": res["setup"], "pooled": res["pooled"], "mean": res["mean"],
                                "std": res["std"], "seconds_per_image": res.get("seconds_per_image")}
        write_card(card, weights.with_suffix(".json"))
        out["metrics"] = summary_line(res)
    return out


_SEGMENTERS: dict = {}


def _segmenter(weights, backend: str, **settings):
    """Cached :class:`~vesselseg.segmentation.Segmenter`: loading weights once per (weights, backend)."""
    from vesselseg.segmentation import Segmenter

    key = (str(weights), backend)
    if key not in _SEGMENTERS:
        _SEGMENTERS.clear()  # keep one model in memory
        _SEGMENTERS[key] = Segmenter(weights, backend=backend)
    seg = _SEGMENTERS[key]
    seg.mode = settings.get("mode", "whole")
    seg.tta = settings.get("tta", False)
    seg.threshold = float(settings.get("threshold", 0.5))
    from vesselseg.segmentation.resolution import parse_scale

    seg.scale = parse_scale(settings.get("scale", "auto"))
    return seg


def segment(image, weights: str | Path = "drive", *, mode: str = "whole", tta: bool = False,
            fov="auto", scale: str | float = "auto", backend: str = "torch") -> np.ndarray:
    """Vessel probability map of one fundus photograph.

    Args:
        image: an array (``(H, W)`` grey, ``(H, W, 3)`` RGB or RGBA; uint8, uint16 or float in
            [0, 1]) or a path to an image file.
        weights: shipped name (``drive``), ``.safetensors`` file, run folder or ``.onnx`` file.
        mode: ``whole`` or ``sliding`` (the paper's 64/16 windows; ~20x slower).
        tta: average over flips.
        fov: ``auto`` (derived from the photograph), ``none``, a mask path or a bool array.
        scale: ``auto`` (rescale so the FOV diameter matches the training images'), ``none``,
            or a factor.
        backend: ``torch`` or ``onnxruntime``.

    Returns:
        ``float32`` ``(H, W)`` probabilities in [0, 1] on the input's pixel grid, 0 outside the
        FOV. Threshold at 0.5 for the vessel mask (or use :class:`vesselseg.segmentation.Segmenter`).
    """
    from vesselseg.io.images import read_image

    if isinstance(image, (str, Path)):
        image = read_image(image)
    return _segmenter(weights, backend, mode=mode, tta=tta, scale=scale).run(image, fov=fov).prob


def segment_paths(paths: list[str | Path], out_dir: str | Path = "segment_out", weights: str | Path = "drive",
                  *, mode: str = "whole", threshold: float = 0.5, tta: bool = False, fov: str = "auto",
                  scale: str | float = "auto", backend: str = "torch", standardise: str = "card",
                  tile: int | None = None, overwrite: bool = False, recursive: bool = False,
                  progress: bool = False, on_result=print):
    """Segment files, folders and glob patterns (the embedded sample when ``paths`` is empty).

    Writes ``<stem>_vessels.png``, ``<stem>_prob.png`` and ``<stem>_overlay.png`` per image into
    ``out_dir``; returns the :class:`~vesselseg.segmentation.BatchReport`.
    """
    from vesselseg.errors import InputError
    from vesselseg.io.images import ensure_output_dir
    from vesselseg.sample import SAMPLE_NAME, sample_image
    from vesselseg.segmentation import ArraySource, Segmenter, collect_inputs, segment_files
    from vesselseg.segmentation.segmenter import DEFAULT_TILE

    if fov not in ("auto", "none"):
        fov_path = Path(fov)
        if not fov_path.is_file():
            raise InputError(f"{fov}: no such FOV mask file")
    if paths:
        files, problems = collect_inputs(paths, recursive=recursive)
    else:
        files, problems = [ArraySource(SAMPLE_NAME, sample_image)], []
    if not files:
        if len(problems) == 1:
            raise InputError(problems[0][1])
        raise InputError("no images to segment:\n  " + "\n  ".join(m for _, m in problems))
    if fov not in ("auto", "none") and len(files) > 1:
        raise InputError("--fov PATH applies to one image; give one image or use --fov auto")
    ensure_output_dir(out_dir)  # fail before loading the model
    seg = Segmenter(weights, mode=mode, threshold=threshold, tta=tta, scale=scale, backend=backend,
                    standardise=standardise, tile=tile or DEFAULT_TILE)
    report = segment_files(files, out_dir, seg, fov=fov, overwrite=overwrite, on_result=on_result,
                           progress=progress)
    report.failed[:0] = problems
    return report


def export_onnx(weights: str | Path = "drive", out: str | Path = "model.onnx") -> Path:
    """Export weights to ONNX (dynamic batch, height, width; model card embedded)."""
    from vesselseg.export import export_onnx as _export

    return _export(weights, out)
