"""The public Python API; the command line calls these functions and nothing else."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import NamedTuple

import numpy as np

from vesselseg.errors import InputError, OutputError, VesselsegError
from vesselseg.io.av import is_av_map, snap_av_colours, vessel_from_av
from vesselseg.io.datasets import FOLDERS, dataset_dir, load_sample, load_split
from vesselseg.io.files import is_read_only
from vesselseg.io.fov import derive_fov
from vesselseg.io.images import (
    ensure_output_dir,
    max_pixels,
    read_image,
    read_mask,
    read_probability,
    write_png,
)
from vesselseg.io.notes import collect_notes, note
from vesselseg.preprocess import PreprocessConfig, fit_stats, preprocess, to_grey
from vesselseg.preprocess.stages import write_stages
from vesselseg.sample import SAMPLE_NAME, sample_image
from vesselseg.settings import check_workers
from vesselseg.validation import finite_number
from vesselseg.vocabulary import LABELLED_DATASETS, PNG_COMPRESSION


def _load_rgb(image: str | Path | None) -> tuple[np.ndarray, str]:
    if image is None:
        return sample_image(), SAMPLE_NAME
    return read_image(image), Path(image).stem


def training_stats(dataset: str, data: str | Path | None = None, grey: str = "luminance"):
    """Standardisation statistics from the training split of ``dataset`` (never its test split)."""
    loaded = [load_sample(s, observer2=False) for s in load_split(dataset, "train", data)]
    return fit_stats([to_grey(s.image, grey) for s in loaded], [s.fov for s in loaded])


def preprocess_stages(image: str | Path | None, out_dir: str | Path, standardise: str = "image",
                      dataset: str = "drive", data: str | Path | None = None, clahe_clip: float = 2.0,
                      clahe_tiles: int = 8, gamma: float = 1.2) -> list[Path]:
    """Preprocess one image (or the embedded sample) and write every stage as PNG into ``out_dir``."""
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
    present = [name for name in LABELLED_DATASETS if dataset_dir(name, data).is_dir()]
    if not present:
        raise InputError(f"{dataset_dir('drive', data).parent}: dataset folder not found (none of "
                         f"{', '.join(FOLDERS[n] for n in LABELLED_DATASETS)}; set VESSELSEG_DATA or --data)")
    lines = [f"{name:6s} not found under {dataset_dir(name, data).parent} (skipped)"
             for name in LABELLED_DATASETS if name not in present]
    for name in present:
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
    from vesselseg.engine import distributed
    from vesselseg.engine.config import load_config
    from vesselseg.engine.evaluate import evaluate, metrics_line
    from vesselseg.engine.trainer import resume_run, start_run
    from vesselseg.inference.predictor import Predictor
    from vesselseg.inference.weights import write_card

    if resume is not None:
        trainer = resume_run(resume, progress=progress, stop_after=stop_after)
    else:
        cfg = load_config(config, overrides)
        run_dir = Path(out_dir) if out_dir else Path("runs") / cfg.name
        trainer = start_run(cfg, run_dir, progress=progress, stop_after=stop_after)
    out = {"run_dir": trainer.run_dir, "weights": None, "metrics": None}
    if trainer.epoch < trainer.cfg.train.epochs or not trainer.dist.is_main:
        # stopped early on request (stop_after: resume later), or a worker rank of a
        # distributed run: rank 0 writes the weights and evaluates
        distributed.cleanup(trainer.dist)
        return out
    weights = trainer.finish()
    distributed.cleanup(trainer.dist)
    out["weights"] = weights
    cfg = trainer.cfg
    if cfg.train.eval_after:
        card = trainer.card()
        # Evaluate the written weights on the CPU (a fresh model: no DDP/SyncBatchNorm wrappers, no GPU).
        predictor = Predictor(model=trainer.model, card=card) if trainer.device.type == "cpu" \
            else Predictor(weights)
        if trainer.mixture is None:
            targets, scale = [(cfg.dataset.name, trainer.run_dir / "eval")], "none"
        else:  # each source's test split, through the resolution policy the model was trained for
            targets = [(name, trainer.run_dir / "eval" / name) for name in trainer.mixture.sources]
            scale = "auto"
        lines = []
        for name, folder in targets:
            res = evaluate(weights, name, cfg.dataset.data, mode=cfg.eval.mode, tta=cfg.eval.tta,
                           threshold=cfg.eval.threshold, out=folder, progress=progress,
                           predictor=predictor, save_maps=False, scale=scale)
            metrics = {"setup": res["setup"], "pooled": res["pooled"], "mean": res["mean"],
                       "std": res["std"], "seconds_per_image": res.get("seconds_per_image")}
            if trainer.mixture is None:
                card["test_metrics"] = metrics
            else:
                card.setdefault("test_metrics", {})[name] = metrics
            lines.append(metrics_line(res) if trainer.mixture is None else f"{name}: {metrics_line(res)}")
        write_card(card, weights.with_suffix(".json"))
        out["metrics"] = "; ".join(lines)
    return out


_SEGMENTERS: dict = {}


def _segmenter(weights, backend: str, **settings):
    """Cached :class:`~vesselseg.segmentation.Segmenter`: loading weights once per (weights, backend)."""
    from vesselseg.segmentation import Segmenter
    from vesselseg.segmentation.resolution import parse_scale

    key = (str(weights), backend)
    if key not in _SEGMENTERS:
        _SEGMENTERS.clear()  # keep one model in memory
        _SEGMENTERS[key] = Segmenter(weights, backend=backend)
    seg = _SEGMENTERS[key]
    seg.mode = settings.get("mode", "whole")
    seg.tta = settings.get("tta", False)
    seg.threshold = float(settings.get("threshold", 0.5))

    seg.scale = parse_scale(settings.get("scale", "auto"))
    return seg


def segment(image, weights: str | Path = "drive", *, mode: str = "whole", tta: bool = False,
            fov="auto", scale: str | float = "auto", backend: str = "torch") -> np.ndarray:
    """Vessel probability map of one fundus photograph.

    Args:
        image: an array (``(H, W)`` grey, ``(H, W, 3)`` RGB or RGBA; uint8, uint16 or float in
            [0, 1]) or a path to an image file.
        weights: shipped name (``drive``), ``.safetensors`` file, run folder or ``.onnx`` file.
        mode: ``whole`` or ``sliding`` (the paper's 64/16 windows; ~13x slower).
        tta: average over flips.
        fov: ``auto`` (derived from the photograph), ``none``, a mask path or a bool array.
        scale: ``auto`` (rescale so the FOV diameter matches the training images'), ``none``,
            or a factor.
        backend: ``torch`` or ``onnxruntime``.

    Returns:
        ``float32`` ``(H, W)`` probabilities in [0, 1] on the input's pixel grid, 0 outside the
        FOV. Threshold at 0.5 for the vessel mask (or use :class:`vesselseg.segmentation.Segmenter`).
    """
    if isinstance(image, (str, Path)):
        image = read_image(image)
    return _segmenter(weights, backend, mode=mode, tta=tta, scale=scale).run(image, fov=fov).prob


def _check_numbers(threshold: float | None = None, pixel_size_um: float | None = None,
                   disc: tuple[float, float, float] | None = None, min_segment: float | None = None):
    """InputError for a NaN, infinite or out-of-range number given to the API or an option.

    Returns the cleaned ``(threshold, pixel_size_um, disc, min_segment)``."""
    if threshold is not None:
        threshold = finite_number(threshold, "threshold", 0, 1, error=InputError)
    if pixel_size_um is not None:
        pixel_size_um = finite_number(pixel_size_um, "pixel size (µm)", 0, lo_open=True, error=InputError)
    if disc is not None:
        try:
            x, y, r = disc
        except (TypeError, ValueError):
            raise InputError(f"disc: expected (x, y, radius), got {disc!r}") from None
        disc = (finite_number(x, "disc x", error=InputError), finite_number(y, "disc y", error=InputError),
                finite_number(r, "disc radius", 0, lo_open=True, error=InputError))
    if min_segment is not None:
        min_segment = finite_number(min_segment, "minimum segment length", 0, error=InputError)
    return threshold, pixel_size_um, disc, min_segment


def segment_paths(paths: list[str | Path], out_dir: str | Path = "segment_out", weights: str | Path = "drive",
                  *, mode: str = "whole", threshold: float = 0.5, tta: bool = False, fov: str = "auto",
                  scale: str | float = "auto", backend: str = "torch", standardise: str = "auto",
                  tile: int | None = None, overwrite: bool = False, recursive: bool = False,
                  progress: bool = False, on_result=print, measure: bool = False,
                  pixel_size_um: float | None = None, shard: str | None = None, workers: int = 0,
                  detect_disc_in_photos: bool = True, av: bool = False, av_weights: str | Path = "av",
                  vote: str = "segment", outputs: str | tuple[str, ...] | None = None,
                  compression: int = PNG_COMPRESSION, profile: bool = False):
    """Segment files, folders and glob patterns (the embedded sample when ``paths`` is empty).

    Writes ``<stem>_vessels.png``, ``<stem>_prob.png`` and ``<stem>_overlay.png`` per image into
    ``out_dir``; returns the :class:`~vesselseg.segmentation.BatchReport`. With ``measure``, also
    the measurements, with the optic disc of each photograph detected (``detect_disc_in_photos``)
    for the zone-B columns. With ``av``, the vessels are split into arteries and veins by the
    ``av_weights`` model (:mod:`vesselseg.segmentation.av`): ``<stem>_av.png`` (red artery, blue
    vein on black) and ``<stem>_av_overlay.png`` (with the disc and zone B when the disc is found);
    with ``measure`` too, the per-class measures and CRAE/CRVE/AVR. ``outputs``: a subset of the
    three PNGs (``"vessels,prob"`` or a tuple; None: all), written at zlib level ``compression``.
    ``profile``: after the batch, print the mean seconds per step (:class:`StepProfile`).
    """
    from vesselseg.segmentation import ArraySource, BatchReport, Segmenter, collect_inputs, segment_files
    from vesselseg.segmentation.batch import check_stems, parse_shard, take_shard
    from vesselseg.segmentation.outputs import parse_outputs
    from vesselseg.segmentation.segmenter import DEFAULT_TILE

    kinds = parse_outputs(outputs)
    if not 0 <= int(compression) <= 9:
        raise InputError(f"PNG compression must be 0..9, not {compression}")
    threshold, pixel_size_um, _, _ = _check_numbers(threshold, pixel_size_um)
    check_workers(workers)
    max_pixels()  # a bad $VESSELSEG_MAX_PIXELS stops here, not once per image
    if fov not in ("auto", "none"):
        fov_path = Path(fov)
        if fov_path.is_dir():
            raise InputError(f"{fov}: is a folder; --fov takes one mask image file (or auto / none)")
        if fov_path.exists() and not fov_path.is_file():
            raise InputError(f"{fov}: not a regular file (a pipe, socket or device); --fov takes a mask image file")
        if not fov_path.is_file():
            raise InputError(f"{fov}: no such FOV mask file")
    if paths:
        files, problems = collect_inputs(paths, recursive=recursive)
        shard_spec = parse_shard(shard)
        if shard_spec is not None:
            check_stems(files)  # across the whole batch, not just this shard
            files = take_shard(files, shard_spec)
            on_result(f"shard {shard_spec[0]}/{shard_spec[1]}: {len(files)} images")
            if not files:
                return BatchReport(failed=problems)
    else:
        files, problems = [ArraySource(SAMPLE_NAME, sample_image)], []
    if not files:
        if len(problems) == 1:
            raise InputError(problems[0][1])
        raise InputError("no images to segment: " + "; ".join(m for _, m in problems))
    if fov not in ("auto", "none") and len(files) > 1:
        raise InputError("--fov PATH applies to one image; give one image or use --fov auto")
    ensure_output_dir(out_dir)  # fail before loading the model
    seg = Segmenter(weights, mode=mode, threshold=threshold, tta=tta, scale=scale, backend=backend,
                    standardise=standardise, tile=tile or DEFAULT_TILE)
    measurer = (_SegmentMeasurer(Path(out_dir), fov, pixel_size_um, overwrite, on_result, detect_disc_in_photos)
                if measure else None)
    on_done = measurer
    if av:
        from vesselseg.segmentation.av import ArteryVeinClassifier

        # --backend onnxruntime-int8 is for the vessel model: the A/V model ships no int8 version
        av_backend = "onnxruntime" if backend == "onnxruntime-int8" else backend
        classifier = ArteryVeinClassifier(av_weights, vote=vote, tta=tta, backend=av_backend,
                                          tile=tile or DEFAULT_TILE)
        on_done = _SegmentArteryVein(Path(out_dir), classifier, fov, overwrite, detect_disc_in_photos, measurer)
    steps = StepProfile() if profile else None
    report = segment_files(files, out_dir, seg, fov=fov, overwrite=overwrite, on_result=on_result,
                           progress=progress, on_done=on_done, workers=workers, outputs=kinds,
                           compression=compression, on_timing=steps)
    report.failed[:0] = problems
    if measurer is not None:
        measurer.write()
    if steps is not None:
        for line in steps.lines():
            on_result(line)
    return report


class StepProfile:
    """Seconds per step of each segmented image (``segment_files``' ``on_timing``), summarised.

    Steps run in the main thread (decode ... map_back) and the outputs written by the writer
    thread overlap the next image, so their sum is more than the batch's wall time per image.
    """

    def __init__(self):
        self.images: list[dict[str, float]] = []

    def __call__(self, name: str, seconds: dict[str, float]) -> None:
        self.images.append(dict(seconds))

    def means(self) -> dict[str, float]:
        """Mean seconds per step over the images (a step an image skipped counts as 0)."""
        steps = list(dict.fromkeys(k for row in self.images for k in row))
        n = max(1, len(self.images))
        return {k: sum(row.get(k, 0.0) for row in self.images) / n for k in steps}

    def lines(self) -> list[str]:
        means = self.means()
        if not means:
            return ["profile: no image was segmented"]
        total = sum(means.values())
        out = [f"profile: mean seconds per image over {len(self.images)} image(s) (outputs: written "
               "while the next image is segmented)"]
        out += [f"  {step:<12} {sec:8.4f} s  {100 * sec / total:5.1f} %" for step, sec in means.items()]
        out.append(f"  {'sum':<12} {total:8.4f} s")
        return out


def _fov_of(rgb: np.ndarray, fov, shape) -> np.ndarray | None:
    """The FOV a skipped image was segmented with, re-derived (``auto``) or re-read (a file)."""
    return derive_fov(rgb) if fov == "auto" else None if fov == "none" else read_mask(fov, shape)


class _DiscFinder:
    """The optic disc of photographs: the shipped disc model loaded on first use."""

    def __init__(self, detect: bool):
        self.detect, self._models = detect, {}

    def segmenter(self, name):
        from vesselseg.segmentation import Segmenter

        if name not in self._models:
            self._models[name] = Segmenter(name)
        return self._models[name]

    def __call__(self, rgb):
        return _disc_for(None, rgb, self.segmenter, self.detect)


class _SegmentArteryVein:
    """``segment --av``: split each vessel mask into arteries and veins as it is made.

    Writes ``<stem>_av.png`` and ``<stem>_av_overlay.png``; an image skipped because its outputs
    exist reuses its ``_av.png`` (or classifies its existing mask when that file is missing). Hands
    the classes and the disc on to ``then`` (the measurer of ``--measure``)."""

    def __init__(self, out_dir: Path, classifier, fov, overwrite: bool, detect_disc: bool, then=None):
        self.out_dir, self.classifier, self.fov, self.overwrite = out_dir, classifier, fov, overwrite
        self.discs, self.then = _DiscFinder(detect_disc), then

    def __call__(self, source, rgb, result) -> None:
        try:
            classes, disc, disc_row = self._classify(source, rgb, result)
        except VesselsegError:
            raise
        except Exception as exc:  # one image's failure must not stop the batch
            raise InputError(f"artery/vein classification failed ({type(exc).__name__}: {exc})") from None
        if self.then is not None:
            self.then(source, rgb, result, av=(classes, disc, dict(disc_row, av_model=self.classifier.description)))

    def _classify(self, source, rgb, result):
        from vesselseg.segmentation.av import av_colour_image, av_overlay

        stem = source.stem
        av_png, overlay_png = self.out_dir / f"{stem}_av.png", self.out_dir / f"{stem}_av_overlay.png"
        if self.overwrite:
            locked = [p for p in (av_png, overlay_png, self.out_dir / f"{stem}_zones.png") if is_read_only(p)]
            if locked:
                raise OutputError(f"{locked[0]}: read-only, not replaced (make it writable to redo this image)")
        if rgb is None:
            rgb = read_image(source) if isinstance(source, Path) else source.loader()
        if result is None:
            vessels = read_mask(self.out_dir / f"{stem}_vessels.png")
            fov = _fov_of(rgb, self.fov, vessels.shape)
        else:
            vessels, fov = result.vessels, result.fov
        disc, disc_row = self.discs(rgb)
        if result is None and av_png.is_file() and overlay_png.is_file() and not self.overwrite:
            classes = snap_av_colours(read_image(av_png))
        else:
            classes = self.classifier.classify(rgb, vessels, fov=fov if fov is not None else "none",
                                               name=str(source)).classes
            pictures = {av_png: lambda: av_colour_image(classes),
                        overlay_png: lambda: av_overlay(rgb, classes, fov, disc)}
            for path, picture in pictures.items():
                if self.overwrite or not path.exists():
                    write_png(path, picture(), replace=self.overwrite)
        return classes, disc, disc_row


class _SegmentMeasurer:
    """``segment --measure``: measure each mask as it is made (or re-read a skipped image's mask).

    Without ``overwrite``, an existing ``measurements.csv``/``.json`` is extended, never
    rewritten: its rows are kept verbatim (edits included) and only images it lacks are measured
    and appended; an existing ``<stem>_widths.png`` is kept.
    """

    def __init__(self, out_dir: Path, fov, pixel_size_um, overwrite: bool = False, on_result=print,
                 detect_disc_in_photos: bool = True):
        self.out_dir, self.fov, self.pixel_size_um = out_dir, fov, pixel_size_um
        self.overwrite, self.on_result = overwrite, on_result
        self.rows, self.results = [], []
        self.table = out_dir / "measurements.csv"
        self.old_rows: list[dict] = []
        if self.table.is_file() and not overwrite:
            try:
                with open(self.table, newline="") as fh:
                    self.old_rows = list(csv.DictReader(fh))
            except (OSError, UnicodeDecodeError, csv.Error) as exc:
                raise InputError(f"{self.table}: exists but cannot be read ({exc}); "
                                 "move it away or pass --overwrite") from None
        self.old_names = {r.get("image") for r in self.old_rows}
        self.discs = _DiscFinder(detect_disc_in_photos)

    def __call__(self, source, rgb, result, av=None) -> None:
        """Measure one image; ``av``: ``(classes, disc, disc_row)`` from ``--av`` (the disc already found)."""
        from vesselseg.measure import measure_mask, width_image
        from vesselseg.measure.biomarkers import measure_av
        from vesselseg.measure.outputs import zones_image

        stem = source.stem
        if stem in self.old_names:
            return  # already in the table that is kept
        if result is None:  # skipped: its mask exists; the FOV is re-derived from the photograph
            vessels = read_mask(self.out_dir / f"{stem}_vessels.png")
            if rgb is None:
                rgb = read_image(source) if isinstance(source, Path) else source.loader()
            fov = _fov_of(rgb, self.fov, vessels.shape)
        else:
            vessels, fov = result.vessels, result.fov
        try:
            m = measure_mask(vessels, fov, self.pixel_size_um, name=stem,
                             fov_source={"auto": "derived", "none": "frame"}.get(self.fov, "given"))
            disc, disc_row = av[1:] if av is not None else self.discs(rgb)
            m.summary.update(disc_row)
            _add_zone_b(m.summary, vessels, fov, disc, disc_row, self.pixel_size_um)
            if av is not None:
                av_row, m.zone_vessels = measure_av(av[0], fov, disc, self.pixel_size_um,
                                                    disc_source=disc_row.get("disc_source", ""))
                m.summary.update(av_row)
                zones_png = self.out_dir / f"{stem}_zones.png"
                if disc is not None and (self.overwrite or not zones_png.exists()):
                    write_png(zones_png, zones_image(av[0], disc, m.zone_vessels), replace=self.overwrite)
        except VesselsegError:
            raise
        except Exception as exc:  # one image's failed measurement must not stop the batch
            raise InputError(f"measurements failed ({type(exc).__name__}: {exc})") from None
        widths_png = self.out_dir / f"{stem}_widths.png"
        if self.overwrite or not widths_png.exists():
            write_png(widths_png, width_image(m, vessels), replace=self.overwrite)
        m.skeleton = m.widths = None  # full-size arrays: not kept across a batch
        self.rows.append(m.summary)
        self.results.append(m)

    def write(self) -> None:
        """Write (or, without ``overwrite``, extend) the table and its JSON detail."""
        from vesselseg.measure import write_json, write_table

        detail = self.table.with_suffix(".json")
        if not self.rows:
            if self.old_rows:
                self.on_result(f"measurements: {self.table} kept (it has every image already)")
            return
        old_items = []
        if self.old_rows and detail.is_file():
            try:
                old_items = json.loads(detail.read_text())
                assert isinstance(old_items, list)
            except (OSError, ValueError, AssertionError):
                raise InputError(f"{detail}: exists but is not a measurements list; move it away or pass "
                                 "--overwrite") from None
        write_table(self.old_rows + self.rows, self.table)
        write_json(self.results, detail, keep=old_items)
        added = f" ({len(self.rows)} images added to {len(self.old_rows)} kept)" if self.old_rows else ""
        self.on_result(f"measurements: {self.table}{added}")


def export_onnx(weights: str | Path = "drive", out: str | Path = "model.onnx") -> Path:
    """Export weights to the ONNX file ``out`` (dynamic batch, height, width; model card embedded)."""
    from vesselseg.inference.onnx import export_onnx as _export

    return _export(weights, out)


def export_int8(onnx_path: str | Path, photographs: list[str | Path], limit: int = 50,
                out: str | Path | None = None) -> tuple[Path, int]:
    """Write the int8 version of the export ``onnx_path`` (``<stem>.int8.onnx`` beside it unless
    ``out``), calibrated on at most ``limit`` of ``photographs`` (files, folders, globs).
    Returns ``(path, photographs used)``; unreadable photographs are an :class:`InputError`."""
    from vesselseg.inference.quantise import quantise_static
    from vesselseg.segmentation import collect_inputs
    from vesselseg.segmentation.calibration import calibration_inputs

    onnx_path = Path(onnx_path)
    files, problems = collect_inputs(photographs)
    if problems:
        raise InputError("--calibrate: " + "; ".join(m for _, m in problems))
    files = files[:limit]
    out = Path(out) if out else onnx_path.with_name(f"{onnx_path.stem}.int8.onnx")
    inputs = calibration_inputs(onnx_path, (read_image(f) for f in files))
    return quantise_static(onnx_path, out, inputs, calibration=f"{len(files)} photographs: "
                           + ", ".join(f.name for f in files[:5]) + (" ..." if len(files) > 5 else "")), len(files)


def onnx_name(weights: str | Path) -> str:
    """The file name ``vesselseg export`` gives an export: the shipped name, else the weights file's stem."""
    from vesselseg.inference.weights import resolve_weights, shipped_weights

    return f"{resolve_weights(weights).stem if str(weights) not in shipped_weights() else weights}.onnx"


def measure(mask, fov=None, pixel_size_um: float | None = None, disc: tuple[float, float, float] | None = None):
    """Vessel measurements of one mask (array or path); see :mod:`vesselseg.measure`.

    Args:
        mask: vessel mask ``(H, W)`` (non-zero = vessel) or a mask file.
        fov: field-of-view mask (array or file); None = the whole frame.
        pixel_size_um: micrometres per pixel, for lengths in mm and widths in µm.
        disc: ``(x, y, radius)`` of the optic disc in pixels: adds zone-B measures.

    Returns:
        :class:`~vesselseg.measure.Measurements` (``.summary`` row, ``.segments``, ...).
    """
    from vesselseg.measure import measure_mask
    from vesselseg.measure.measurements import measure_zone_b

    _, pixel_size_um, disc, _ = _check_numbers(pixel_size_um=pixel_size_um, disc=disc)
    name = ""
    if isinstance(mask, (str, Path)):
        name, mask = Path(mask).stem, read_mask(mask)
    if isinstance(fov, (str, Path)):
        fov = read_mask(fov, np.asarray(mask).shape)
    m = measure_mask(np.asarray(mask), None if fov is None else np.asarray(fov, bool), pixel_size_um, name=name)
    if disc is not None:
        m.summary.update(measure_zone_b(np.asarray(mask) > 0, fov, disc[:2], disc[2], pixel_size_um))
    return m


class _MeasureInput(NamedTuple):
    mask: np.ndarray
    fov: np.ndarray | None
    fov_source: str
    note: str
    classes: np.ndarray | None = None  # artery/vein class map (io.av) of an A/V map input
    photo: np.ndarray | None = None  # the RGB photograph, when the input was one


def _mask_from_file(path: Path, threshold: float, segmenter_factory) -> _MeasureInput:
    """A measure input -> mask, FOV (or None), its source, a note, and the A/V classes or photograph.

    A grey file with at most two levels is a mask; a grey file with more levels is read as a
    probability map and thresholded; a colour file whose pixels are only black, red and blue
    (green crossings and white uncertain allowed) is an artery/vein map (RITE's, AVRDB's format);
    any other colour file is a photograph and is segmented first.
    """
    with collect_notes() as notes:  # shown below, unless the file turns out to be a probability map
        rgb = read_image(path)
    grey = np.allclose(rgb[..., 0], rgb[..., 1]) and np.allclose(rgb[..., 0], rgb[..., 2])
    if not grey and is_av_map(rgb):
        classes = snap_av_colours(rgb)
        return _MeasureInput(vessel_from_av(classes), None, "frame", "artery/vein map", classes)
    if grey:
        g = rgb[..., 0]
        levels = np.unique(g)
        if len(levels) <= 2:
            top = levels.max()
            return _MeasureInput((g == top) if top > 0 else np.zeros(g.shape, bool), None, "frame", "")
        # A map is scaled by its file's bit depth (16-bit: p x 65535), never by read_image's guess
        # of 12-bit data in a 16-bit file (a map whose p stay below 0.25 would be stretched).
        return _MeasureInput(read_probability(path) >= threshold, None, "frame", (
            f"grey image with {len(levels)} levels read as a probability map, thresholded at {threshold:g}"))
    for message in notes:
        note(message)
    res = segmenter_factory().run(rgb)
    return _MeasureInput(res.vessels, res.fov, "derived", "photograph: segmented first", photo=rgb)


#: The artery/vein model ``measure`` splits photographs' vessels with unless told otherwise.
DEFAULT_AV_WEIGHTS = "av"
#: Stands for "the default A/V model is not installed": rows say so instead of splitting.
_NO_AV_MODEL = object()


def _available_av_weights(av_weights):
    """``av_weights`` when they exist; the default missing from this installation gives
    :data:`_NO_AV_MODEL` (each photograph's row says so), a missing model the user named an error."""
    from vesselseg.inference.weights import shipped_weights

    if av_weights is None or str(av_weights) in shipped_weights() or Path(av_weights).exists():
        return av_weights
    if str(av_weights) == DEFAULT_AV_WEIGHTS:
        return _NO_AV_MODEL
    raise InputError(f"{av_weights}: no such artery/vein model (--av-weights: a shipped name, a .safetensors file, "
                     "a run folder, or none)")


def _classes_of_photo(photo, mask, fov, av_weights, classifier) -> tuple[np.ndarray | None, dict]:
    """A photograph's artery/vein classes (its vessel ``mask`` split by the A/V model) and the
    ``av_model`` column naming the model; or None and a note why not (the shipped model missing)."""
    if av_weights is _NO_AV_MODEL:
        return None, {"note": f"no artery/vein model ({DEFAULT_AV_WEIGHTS}) in this installation: vessels not split"}
    model = classifier()
    classes = model.classify(photo, mask, fov=fov if fov is not None else "none").classes
    return classes, {"av_model": model.description}


def _disc_for(disc, photo, segmenter, detect: bool) -> tuple[tuple[float, float, float] | None, dict]:
    """The disc one input is measured with, and the table columns that say where it came from."""
    from vesselseg.inference.weights import shipped_weights
    from vesselseg.segmentation.disc import DISC_WEIGHTS, detect_disc

    if disc is not None:
        return disc, {"disc_x": disc[0], "disc_y": disc[1], "disc_radius_px": disc[2], "disc_source": "given"}
    if photo is None or not detect:
        return None, {}
    if DISC_WEIGHTS not in shipped_weights():
        return None, {"disc_source": "not found: no disc model in this installation"}
    search = detect_disc(photo, segmenter(DISC_WEIGHTS))
    if search.disc is None:
        return None, {"disc_source": search.reason}
    d = search.disc
    return (d.x, d.y, d.radius), {"disc_x": d.x, "disc_y": d.y, "disc_radius_px": d.radius,
                                  "disc_source": "detected", "disc_confidence": d.confidence}


def _add_zone_b(row: dict, mask, fov, disc, disc_row: dict, pixel_size_um) -> None:
    """The zone-B columns for ``disc``. A detected disc whose zone B misses the FOV is noted, not
    fatal (the image's other measurements stand); a given one is the user's error and raises."""
    from vesselseg.measure.measurements import measure_zone_b

    if disc is None:
        return
    try:
        row.update(measure_zone_b(mask, fov, disc[:2], disc[2], pixel_size_um))
    except InputError:
        if disc_row.get("disc_source") == "given":
            raise
        row["note"] = "; ".join(n for n in (row.get("note"), "zone B of the detected disc lies outside the FOV") if n)


def measure_paths(paths: list[str | Path], table: str | Path = "measurements.csv", *, fov: str = "auto",
                  pixel_size_um: float | None = None, disc: tuple[float, float, float] | None = None,
                  threshold: float = 0.5, weights: str | Path = "drive", min_segment: float = 0.0,
                  overwrite: bool = False, on_result=print, detect_disc_in_photos: bool = True,
                  av_weights: str | Path | None = "av"):
    """Measure masks (or photographs, segmented first) and write the CSV table, a JSON with
    per-segment detail beside it, and ``<stem>_widths.png`` per image. Returns
    ``(rows, failures)``; one bad file does not stop the others.

    ``disc`` ``(x, y, r)`` applies to every input; without it the disc of each photograph is
    detected (``detect_disc_in_photos``; the shipped ``disc`` model; ``disc_source`` says why not
    when it is not found), and masks and artery/vein maps have none (their zone columns stay
    empty; for maps ``av_note`` says so). A photograph's vessels are split into arteries and veins
    by ``av_weights`` (None: not), so it gets the per-class measures and CRAE/CRVE/AVR too."""
    from vesselseg.measure import measure_mask, width_image, write_json, write_table
    from vesselseg.measure.biomarkers import measure_av
    from vesselseg.measure.outputs import zones_image
    from vesselseg.segmentation.inputs import collect_inputs

    threshold, pixel_size_um, disc, min_segment = _check_numbers(threshold, pixel_size_um, disc, min_segment)
    max_pixels()  # a bad $VESSELSEG_MAX_PIXELS stops here, not once per image
    table = Path(table)
    if table.suffix.lower() != ".csv":
        raise InputError(f"{table}: the table must be a .csv file (the JSON is written beside it)")
    if table.exists() and not overwrite:
        raise InputError(f"{table}: exists; pass --overwrite to replace it")
    files, failures = collect_inputs(paths)
    if not files:
        raise InputError(failures[0][1] if len(failures) == 1 else "no inputs to measure")
    if fov not in ("auto", "none") and len(files) > 1:
        raise InputError("--fov PATH applies to one image; measure several masks with --fov auto")
    out_dir = ensure_output_dir(table.parent if str(table.parent) else Path("."))
    seg_cache: dict = {}

    def segmenter(name: str | Path = weights):
        from vesselseg.segmentation.segmenter import Segmenter

        if name not in seg_cache:
            seg_cache[name] = Segmenter(name, threshold=threshold)
        return seg_cache[name]

    av_weights = _available_av_weights(av_weights)

    def classifier():
        from vesselseg.segmentation.av import ArteryVeinClassifier

        if "av" not in seg_cache:
            seg_cache["av"] = ArteryVeinClassifier(av_weights)
        return seg_cache["av"]

    rows, results = [], []
    for path in files:
        try:
            mask, fov_mask, fov_source, note, classes, photo = _mask_from_file(path, threshold, segmenter)
            if fov not in ("auto", "none"):
                fov_mask, fov_source = read_mask(fov, mask.shape), "given"
            elif fov == "none":
                fov_mask, fov_source = None, "frame"
            av_columns = {}
            if photo is not None and av_weights is not None:
                classes, av_columns = _classes_of_photo(photo, mask, fov_mask, av_weights, classifier)
                note = "; ".join(n for n in (note, av_columns.pop("note", "")) if n)
            m = measure_mask(mask, fov_mask, pixel_size_um, name=path.stem, fov_source=fov_source,
                             min_segment=min_segment)
            if note:
                m.summary["note"] = "; ".join(n for n in (note, m.summary["note"]) if n)
            image_disc, disc_row = _disc_for(disc, photo, segmenter, detect_disc_in_photos)
            m.summary.update(disc_row)
            _add_zone_b(m.summary, mask, fov_mask, image_disc, disc_row, pixel_size_um)
            if classes is not None:  # artery/vein map: per-class measures and, with a disc, CRAE/CRVE/AVR
                av_row, m.zone_vessels = measure_av(classes, fov_mask, image_disc, pixel_size_um,
                                                    disc_source=disc_row.get("disc_source", ""))
                m.summary.update(av_row, **av_columns)
                if image_disc is not None:
                    write_png(out_dir / f"{path.stem}_zones.png",
                              zones_image(classes, image_disc, m.zone_vessels))
            write_png(out_dir / f"{path.stem}_widths.png", width_image(m, mask))
            m.skeleton = m.widths = None  # full-size arrays: not kept across a batch
        except VesselsegError as exc:
            failures.append((str(path), str(exc) if str(path) in str(exc) else f"{path}: {exc}"))
            on_result(f"{path.name}: FAILED ({exc})")
            continue
        s = m.summary
        on_result(f"{path.name}: density {s['density']:.3f}, length {s['length_px']:.0f} px, "
                  f"{s['segments']} segments, {s['branch_points']} branch points, width median "
                  f"{s['width_median_px'] if s['width_median_px'] is not None else float('nan'):.2f} px")
        rows.append(s)
        results.append(m)
    if rows:
        write_table(rows, table)
        write_json(results, table.with_suffix(".json"))
    return rows, failures
