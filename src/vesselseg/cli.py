"""The ``vesselseg`` command line: a thin layer over the Python API.

Every user error (:class:`~vesselseg.errors.VesselsegError`) becomes one ``error: ...`` line on
stderr and exit status 2 -- never a traceback. Ctrl-C exits with 130.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import click

from vesselseg._version import __version__
from vesselseg.errors import VesselsegError
from vesselseg.settings import env_ranks, max_threads, max_workers, set_threads
from vesselseg.validation import one_line
from vesselseg.vocabulary import (
    BACKENDS,
    BENCHMARKS,
    EVAL_DATASETS,
    MODES,
    PNG_COMPRESSION,
    POOLING_CONTEXTS,
    REGIONS,
    SEGMENT_STANDARDISE,
    SPLITS,
    STANDARDISE,
)


class FiniteFloat(click.FloatRange):
    """``click.FloatRange`` that also refuses NaN and infinities (``float("nan")`` passes every
    range comparison, so a plain FloatRange lets ``--threshold nan`` through)."""

    name = "number"

    def convert(self, value, param, ctx):
        number = click.FLOAT.convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return super().convert(number, param, ctx)


def _echo_line(text: object) -> None:
    """One progress line per image on stdout, whatever characters the file name holds."""
    click.echo(one_line(text))


#: ``--threads``: 0 (or unset) for all cores, else 1 .. max_threads() (see vesselseg.settings).
THREADS = click.IntRange(0, max_threads())
THREADS_HELP = "Torch threads (default or 0: $VESSELSEG_THREADS, else all cores; at most 256 or the core count)."
#: Same bound as vesselseg.preprocess.pipeline.MAX_CLAHE_TILES (not imported: it loads OpenCV).
MAX_CLAHE_TILES = 64

DATA_HELP = "Dataset root holding DRIVE/, STARE/, CHASEDB1/ (default: $VESSELSEG_DATA or ../shared/datasets)."


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="vesselseg")
def cli() -> None:
    """Retinal vessel segmentation in colour fundus photographs (CaFFNet and baselines)."""


@cli.command("preprocess")
@click.argument("image", required=False, type=click.Path(path_type=Path))
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("preprocess_out"),
              show_default=True, help="Folder for the stage PNGs (created if needed).")
@click.option("--standardise", type=click.Choice(STANDARDISE), default="image",
              show_default=True, help="Z-score statistics from this image, from a dataset's training images, or none.")
@click.option("--dataset", type=click.Choice(BENCHMARKS), default="drive", show_default=True,
              help="Dataset whose training images give the statistics with --standardise dataset.")
@click.option("--data", type=click.Path(path_type=Path), default=None, help=DATA_HELP)
@click.option("--clahe-clip", type=FiniteFloat(min=0, min_open=True), default=2.0, show_default=True,
              help="CLAHE clip limit.")
@click.option("--clahe-tiles", type=click.IntRange(1, MAX_CLAHE_TILES), default=8, show_default=True,
              help="CLAHE tile grid (N x N).")
@click.option("--gamma", type=FiniteFloat(min=0, min_open=True), default=1.2, show_default=True,
              help="Gamma: output = input ** (1/gamma).")
def preprocess_cmd(image, out_dir, standardise, dataset, data, clahe_clip, clahe_tiles, gamma):
    """Write each preprocessing stage of IMAGE as PNG (grey, standardised, CLAHE, gamma).

    With no IMAGE, the embedded sample photograph is used.
    """
    from vesselseg.api import preprocess_stages

    paths = preprocess_stages(image, out_dir, standardise=standardise, dataset=dataset, data=data,
                              clahe_clip=clahe_clip, clahe_tiles=clahe_tiles, gamma=gamma)
    for p in paths:
        click.echo(str(p))


@cli.command("datasets")
@click.option("--data", type=click.Path(path_type=Path), default=None, help=DATA_HELP)
@click.option("--check-fov", is_flag=True, help="Also compare derived FOV masks with DRIVE's shipped ones.")
def datasets_cmd(data, check_fov):
    """Check the datasets: image counts, sizes, vessel and FOV fractions per split."""
    from vesselseg.api import dataset_summary

    for line in dataset_summary(data, check_fov=check_fov):
        click.echo(line)


@cli.command("models")
def models_cmd():
    """List every registered model with its parameter count."""
    from vesselseg.models import count_parameters, create, list_models

    click.echo(f"{'name':18s} {'parameters':>12s}  deep supervision")
    for name in list_models():
        m = create(name)
        deep = "yes" if getattr(m, "deep_supervision", False) else "no"
        click.echo(f"{name:18s} {count_parameters(m):>12,d}  {deep}")


@cli.command("train")
@click.argument("config", required=False, type=click.Path(path_type=Path))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a config value, e.g. --set train.epochs=2 --set model.options.caff_mode=paper.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help="Run folder (default: runs/<config name>). Must not hold a run already.")
@click.option("--resume", "resume_dir", type=click.Path(path_type=Path), default=None,
              help="Continue the interrupted run in this folder from its newest valid checkpoint.")
@click.option("--seed", type=int, default=None, help="Shorthand for --set train.seed=N.")
@click.option("--threads", type=THREADS, default=None, help=THREADS_HELP)
@click.option("--progress/--no-progress", default=True, show_default=True, help="Show progress bars.")
def train_cmd(config, overrides, out_dir, resume_dir, seed, threads, progress):
    """Train a model from a CONFIG file (configs/*.yaml); defaults: CaFFNet, DRIVE, paper protocol.

    Writes the run folder: config.yaml, log.csv, learning_curve.png, checkpoints/, and
    model.safetensors + model.json (model card) at the end, then evaluates on the test split.
    """
    from vesselseg.api import train

    extra = list(overrides)
    if seed is not None:
        extra.append(f"train.seed={seed}")
    if threads is not None:
        extra.append(f"train.threads={threads}")
    if resume_dir is not None and (config is not None or extra):
        raise click.UsageError("--resume takes no CONFIG or overrides: the run's own config is used")
    result = train(config, extra, out_dir=out_dir, resume=resume_dir, progress=progress)
    if env_ranks()[0] != 0:
        return  # a worker rank under torchrun: rank 0 reports
    click.echo(f"run folder: {result['run_dir']}")
    if result.get("metrics"):
        click.echo(f"test metrics (FOV, pooled): {result['metrics']}")


@cli.command("evaluate")
@click.option("--weights", default="drive", show_default=True,
              help="Shipped weights name (general, drive, stare, chase) or a .safetensors file / run folder.")
@click.option("--dataset", type=click.Choice(EVAL_DATASETS), default="drive",
              show_default=True, help="Dataset to evaluate on (its test split).")
@click.option("--data", type=click.Path(path_type=Path), default=None,
              help=DATA_HELP + " For --dataset folder: the folder itself.")
@click.option("--split", type=click.Choice(SPLITS), default="test", show_default=True)
@click.option("--mode", type=click.Choice(MODES), default="whole", show_default=True,
              help="whole: one pass per image; sliding: windows (--window, --stride), averaged.")
@click.option("--window", type=click.IntRange(1, 8192), default=64, show_default=True,
              help="Sliding-window side in pixels (the paper's 64).")
@click.option("--stride", type=click.IntRange(1, 8192), default=16, show_default=True,
              help="Sliding-window step in pixels (the paper's 16).")
@click.option("--region", type=click.Choice(REGIONS), default="fov", show_default=True,
              help="Count pixels inside the FOV only, or the whole image.")
@click.option("--observer", type=click.IntRange(1, 2), default=1, show_default=True,
              help="1: score the model; 2: score the second human observer against the first.")
@click.option("--threshold", type=FiniteFloat(0, 1), default=0.5, show_default=True)
@click.option("--tta", is_flag=True, help="Average over horizontal/vertical flips.")
@click.option("--scale", default="none", show_default=True,
              help="none: each image at its own resolution, the benchmark protocol every published number "
                   "uses (hence not segment's default); auto: segment's resolution policy (rescale to the "
                   "training FOV diameter; for models from another dataset or camera); or a factor.")
@click.option("--context", type=click.Choice(POOLING_CONTEXTS), default="patch",
              show_default=True,
              help="Pooling context at inference of the modules that pool the whole map in training (DBPF's strips, "
                   "SE, CBAM, coordinate attention, scSE): a window as large as the training patch, or the whole "
                   "input as in training (the literal modules; worse on whole images).")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help="Folder for metrics.json, metrics.md, roc.png and the maps (default: eval/<dataset>_<mode>).")
@click.option("--maps", type=click.Path(path_type=Path), default=None,
              help="Score probability maps already written in this folder (<name>_prob.png or <name>.png per "
                   "test image, 8- or 16-bit) instead of running --weights.")
@click.option("--threads", type=THREADS, default=None, help=THREADS_HELP)
@click.option("--progress/--no-progress", default=True, show_default=True)
def evaluate_cmd(weights, dataset, data, split, mode, window, stride, region, observer, threshold, tta, scale,
                 context, maps, out_dir, threads, progress):
    """Score weights on a test split: AUC, PR-AUC, F1, accuracy, sensitivity, specificity, IoU, MCC.

    Ground truth is the first observer; numbers are pooled over all test pixels and given per
    image (mean ± sd).
    """
    from vesselseg.engine.evaluate import evaluate
    from vesselseg.segmentation.resolution import parse_scale

    set_threads(threads)
    scale = parse_scale(scale)
    if out_dir is None:
        out_dir = Path("eval") / (f"{dataset}_observer2" if observer == 2 else f"{dataset}_{mode}")
    result = evaluate(weights, dataset, data, split=split, mode=mode, region=region, observer=observer,
                      threshold=threshold, tta=tta, out=out_dir, progress=progress, scale=scale,
                      context=context, window=window, stride=stride, maps=maps)
    click.echo((out_dir / "metrics.md").read_text())
    if "seconds_per_image" in result:
        click.echo(f"{result['seconds_per_image']:.3f} s per image ({mode})")
    click.echo(f"written to {out_dir}/")


@cli.command("segment")
@click.argument("paths", nargs=-1, type=str)
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("segment_out"), show_default=True,
              help="Folder for <stem>_vessels.png, <stem>_prob.png and <stem>_overlay.png.")
@click.option("--weights", default="drive", show_default=True,
              help="Shipped weights name, a .safetensors file, a run folder, or an exported .onnx file.")
@click.option("--mode", type=click.Choice(MODES), default="whole", show_default=True,
              help="whole: one pass (tiled for very large images); sliding: the paper's 64/16 windows (~13x slower).")
@click.option("--threshold", type=FiniteFloat(0, 1), default=0.5, show_default=True,
              help="Probability at or above which a pixel is a vessel.")
@click.option("--tta", is_flag=True, help="Average over horizontal/vertical flips (3x the time).")
@click.option("--fov", default="auto", show_default=True, metavar="auto|none|PATH",
              help="Field of view: derived from the photograph, the whole frame, or a mask file (one image).")
@click.option("--scale", default="auto", show_default=True, metavar="auto|none|FACTOR",
              help="auto: resample so the FOV diameter matches the training images' (e.g. 540 px for "
                   "DRIVE) and map back; none: native pixels; or an explicit factor.")
@click.option("--standardise", type=click.Choice(SEGMENT_STANDARDISE), default="auto", show_default=True,
              help="Intensity standardisation: auto as the model was trained (its card), dataset (the training "
                   "set's statistics, from the card) or image (this photograph's own).")
@click.option("--backend", type=click.Choice(BACKENDS), default="torch", show_default=True,
              help="Inference engine. onnxruntime (pip install 'vesselseg[export]') gives the same maps; "
                   "weights without a shipped export are exported once and cached. onnxruntime-int8: the "
                   "int8 version shipped for drive and general (1.4-1.7x faster network, AUC -0.0001 on "
                   "DRIVE test), or made with `vesselseg export --int8`.")
@click.option("--tile", type=click.IntRange(64, 8192), default=None,
              help="Largest side of one whole-image pass; bigger images are tiled [default: 1024].")
@click.option("--recursive", "-r", is_flag=True, help="Descend into sub-folders of folder arguments.")
@click.option("--overwrite", is_flag=True, help="Redo images whose outputs exist (default: skip them).")
@click.option("--measure", is_flag=True,
              help="Also measure each mask (as `vesselseg measure`): measurements.csv/.json and <stem>_widths.png.")
@click.option("--pixel-size-um", type=FiniteFloat(min=0, min_open=True), default=None,
              help="With --measure: micrometres per pixel (lengths in mm, widths in µm).")
@click.option("--disc", "disc_mode", type=click.Choice(["auto", "none"]), default="auto", show_default=True,
              help="With --measure or --av: detect each photograph's optic disc for the zone-B columns and the "
                   "overlay's rings (auto), or not.")
@click.option("--av", is_flag=True,
              help="Also split the vessels into arteries and veins: <stem>_av.png (red artery, blue vein on black) "
                   "and <stem>_av_overlay.png (with the disc and zone B); with --measure, per-class measures "
                   "and CRAE/CRVE/AVR.")
@click.option("--av-weights", default="av", show_default=True,
              help="Artery/vein model: shipped name, .safetensors file or run folder.")
@click.option("--vote", type=click.Choice(["segment", "pixel"]), default="segment", show_default=True,
              help="With --av: each vessel segment between branchings takes the class its pixels' summed "
                   "artery-minus-vein probabilities vote for (segment), or each pixel its own (pixel).")
@click.option("--shard", default=None, metavar="i/N",
              help="Process only the i-th of N interleaved parts of the batch (1-based), e.g. one per machine "
                   "or process; under torchrun, RANK/WORLD_SIZE choose it.")
@click.option("--workers", type=click.IntRange(0, max_workers()), default=0, show_default=True,
              help="Processes decoding images ahead of the network (0: decode in the main process; at most "
                   "twice the cores, 4 to 64). "
                   "Worth it with many cores or large JPEGs; on 2 cores they compete with inference.")
@click.option("--outputs", default="all", show_default=True, metavar="all|vessels,prob,overlay",
              help="Which of the three PNGs to write (comma-separated); fewer outputs, faster batches.")
@click.option("--png-compression", type=click.IntRange(0, 9), default=PNG_COMPRESSION, show_default=True,
              help="zlib level of the vessels, prob and overlay PNGs (lossless at every level): 1 is fast; "
                   "6-9 make files a few %% smaller at 3-6x the encoding time.")
@click.option("--profile", is_flag=True,
              help="Print where the time went: seconds per step (decode, FOV, resampling, preprocessing, "
                   "network, mapping back, each output), mean over the batch.")
@click.option("--threads", type=THREADS, default=None, help=THREADS_HELP)
@click.option("--progress/--no-progress", default=True, show_default=True)
def segment_cmd(paths, out_dir, weights, mode, threshold, tta, fov, scale, standardise, backend, tile, recursive,
                overwrite, measure, pixel_size_um, disc_mode, av, av_weights, vote, shard, workers, outputs,
                png_compression, profile, threads, progress):
    """Segment the vessels in fundus photographs (files, folders or glob patterns).

    With no PATHS, the embedded sample photograph is segmented. Writes, per image,
    <stem>_vessels.png (0/255 mask), <stem>_prob.png (16-bit probability, p x 65535) and <stem>_overlay.png
    (vessels drawn over the photograph), with --av also <stem>_av.png and <stem>_av_overlay.png
    (arteries red, veins blue), and prints one summary line. Images that fail are
    reported at the end; the exit status is then 1 (a batch that ran) or 2 (the one image given
    could not be segmented: bad input, as for every error that stops a command).
    """
    from vesselseg.api import segment_paths

    set_threads(threads)
    report = segment_paths(list(paths), out_dir, weights, mode=mode, threshold=threshold, tta=tta, fov=fov,
                           scale=scale, backend=backend, standardise=standardise, tile=tile,
                           overwrite=overwrite, recursive=recursive, progress=progress, on_result=_echo_line,
                           measure=measure, pixel_size_um=pixel_size_um, shard=shard, workers=workers,
                           detect_disc_in_photos=disc_mode == "auto", av=av, av_weights=av_weights, vote=vote,
                           outputs=outputs, compression=png_compression, profile=profile)
    n = len(report.done) + len(report.skipped) + len(report.failed) + len(report.not_done)
    click.echo(f"{len(report.done)} segmented, {len(report.skipped)} skipped, {len(report.failed)} failed"
               + (f", {len(report.not_done)} not done" if report.not_done else "") + f" of {n}; outputs in {out_dir}/")
    if report.stopped:
        click.echo(f"error: {one_line(report.stopped)}", err=True)
    return _report_failures(report.failed, n)


def _report_failures(failures: list[tuple[str, str]], n: int) -> int:
    """Exit status of a batch command (segment, measure), its failures printed on stderr.

    0: all done. 2: the one input given failed -- bad input, reported as one ``error:`` line like
    every error that stops a command. 1: a batch of several ran to its end but some inputs
    failed (listed one per line under the ``error:`` line; the others' outputs are written).
    """
    if not failures:
        return 0
    if n == 1:
        click.echo(f"error: {one_line(failures[0][1])}", err=True)
        return 2
    click.echo(f"error: {len(failures)} of {n} failed:", err=True)
    for _, message in failures:
        click.echo(f"  {one_line(message)}", err=True)
    return 1


@cli.command("export")
@click.option("--weights", default="drive", show_default=True,
              help="Shipped weights name, a .safetensors file or a run folder.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("."), show_default=True,
              help="Folder for <name>.onnx, named after the weights (drive.onnx, model.onnx for a run folder's "
                   "model.safetensors); an existing file is replaced only by a complete one.")
@click.option("--int8", is_flag=True,
              help="Also write <name>.int8.onnx: int8 weights and activations (static quantisation), ~1.5x faster "
                   "on CPU; activation ranges are calibrated on the --calibrate photographs.")
@click.option("--calibrate", "calibrate", multiple=True, metavar="PATH",
              help="With --int8: photographs (files, folders or glob patterns; repeatable) from the camera the "
                   "model will see, e.g. 20 of them; prepared as `segment` prepares them.")
@click.option("--calibrate-limit", type=click.IntRange(1, 1000), default=50, show_default=True,
              help="With --int8: use at most this many calibration photographs.")
@click.option("--threads", type=THREADS, default=None, help=THREADS_HELP)
def export_cmd(weights, out_dir, int8, calibrate, calibrate_limit, threads):
    """Export weights to ONNX: input x (B, 1, H, W) preprocessed grey, output logits; H, W dynamic.

    The model card (preprocessing, statistics, resolution) is stored inside the file, so
    `vesselseg segment --weights drive.onnx` needs nothing else; likewise drive.int8.onnx.
    """
    from vesselseg.api import export_int8, export_onnx, onnx_name

    _refuse_file_as_folder(out_dir, ".onnx", "<name>.onnx is written inside it")
    if int8 and not calibrate:
        raise click.UsageError("--int8 needs --calibrate PHOTOS: photographs to calibrate the activation ranges on")
    if calibrate and not int8:
        raise click.UsageError("--calibrate is for --int8")
    set_threads(threads)
    path = export_onnx(weights, out_dir / onnx_name(weights))
    click.echo(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    if int8:
        path8, n = export_int8(path, list(calibrate), limit=calibrate_limit)
        click.echo(f"wrote {path8} ({path8.stat().st_size / 1e6:.1f} MB; calibrated on {n} photographs)")


def _refuse_file_as_folder(out_dir: Path, suffixes, what: str) -> None:
    """``--out`` is a folder for every command; a file name there is an old habit, refused clearly."""
    if out_dir.suffix.lower() in ((suffixes,) if isinstance(suffixes, str) else suffixes) and not out_dir.is_dir():
        raise click.BadParameter(f"{out_dir}: --out is a folder ({what}), not a file name", param_hint="--out")


def _parse_disc(value: str | None):
    if not value or value in ("auto", "none"):
        return None
    try:
        x, y, r = (float(v) for v in value.split(","))
    except ValueError:
        raise click.BadParameter("expected X,Y,R in pixels, e.g. 120,290,40", param_hint="--disc") from None
    if not all(math.isfinite(v) for v in (x, y, r)):
        raise click.BadParameter(f"{value!r}: X, Y and R must be finite numbers", param_hint="--disc")
    if r <= 0:
        raise click.BadParameter("the disc radius must be positive", param_hint="--disc")
    return x, y, r


@cli.command("measure")
@click.argument("paths", nargs=-1, required=True, type=str)
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("measure_out"), show_default=True,
              help="Folder for measurements.csv (one row per image), measurements.json (per-segment detail) "
                   "and <stem>_widths.png: the files `segment --measure` writes.")
@click.option("--fov", default="auto", show_default=True, metavar="auto|none|PATH",
              help="auto: derived for photographs, the whole frame for masks; none: the whole frame; PATH: a mask.")
@click.option("--pixel-size-um", type=FiniteFloat(min=0, min_open=True), default=None,
              help="Micrometres per pixel: adds length in mm and width in µm.")
@click.option("--disc", default="auto", show_default=True, metavar="auto|none|X,Y,R",
              help="Optic disc centre and radius in pixels for every input (adds the zone-B columns and, for "
                   "artery/vein maps, CRAE/CRVE/AVR); auto: detected in photographs (the shipped disc model), "
                   "none for masks and maps; none: no disc.")
@click.option("--threshold", type=FiniteFloat(0, 1), default=0.5, show_default=True,
              help="For probability maps and photographs: vessel at p >= threshold.")
@click.option("--weights", default="drive", show_default=True, help="Weights for photographs (segmented first).")
@click.option("--av-weights", default="av", show_default=True,
              help="Artery/vein model that splits a photograph's vessels (per-class measures, CRAE/CRVE/AVR); "
                   "none: do not split.")
@click.option("--min-segment", type=FiniteFloat(min=0), default=0.0, show_default=True,
              help="Leave segments shorter than this (pixels) out of the segment list and tortuosity.")
@click.option("--overwrite", is_flag=True, help="Replace an existing table.")
@click.option("--threads", type=THREADS, default=None, help=THREADS_HELP + " Used when photographs are segmented.")
@click.option("--progress/--no-progress", default=True, show_default=True, help="One line per image measured.")
def measure_cmd(paths, out_dir, fov, pixel_size_um, disc, threshold, weights, av_weights, min_segment, overwrite,
                threads, progress):
    """Measure vessel masks: density, length, segments, branch/end points, calibre, tortuosity, fractal dimension.

    PATHS are masks (two grey levels), probability maps (more grey levels; thresholded), artery/vein
    maps (black, red, blue; green and white allowed) or colour photographs (segmented first with
    --weights, the vessels split into arteries and veins with --av-weights); files, folders or glob
    patterns.
    """
    from vesselseg.api import measure_paths

    _refuse_file_as_folder(out_dir, (".csv", ".json"), "measurements.csv and .json are written inside it")
    set_threads(threads)
    table = out_dir / "measurements.csv"
    rows, failures = measure_paths(list(paths), table, fov=fov, pixel_size_um=pixel_size_um, disc=_parse_disc(disc),
                                   threshold=threshold, weights=weights, min_segment=min_segment,
                                   overwrite=overwrite, on_result=_echo_line if progress else lambda line: None,
                                   detect_disc_in_photos=disc != "none",
                                   av_weights=None if av_weights == "none" else av_weights)
    if rows:
        click.echo(f"{len(rows)} measured; table {table}, detail {table.with_suffix('.json')}")
    return _report_failures(failures, len(rows) + len(failures))


@cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. The default keeps the page on this computer; any other address "
                   "lets every machine that reaches it upload photographs and read results (no login, plain HTTP).")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option("--weights", default="drive", show_default=True,
              help="Shipped weights selected first in the page (the page offers only the shipped names).")
@click.option("--max-upload-mb", type=FiniteFloat(min=0, min_open=True), default=50.0, show_default=True,
              help="Largest accepted file, in MB (pixel limit: $VESSELSEG_MAX_PIXELS).")
@click.option("--time-limit", type=FiniteFloat(min=1), default=300.0, show_default=True,
              help="Seconds one image may take; a longer job is stopped and reported.")
@click.option("--keep-minutes", type=FiniteFloat(min=0, min_open=True), default=60.0, show_default=True,
              help="Results (and their temporary files) are deleted this long after they were made.")
@click.option("--max-results", type=click.IntRange(min=1), default=50, show_default=True,
              help="Results kept at most; the oldest are deleted first.")
@click.option("--threads", type=THREADS, default=None, help=THREADS_HELP)
def serve_cmd(host, port, weights, max_upload_mb, time_limit, keep_minutes, max_results, threads):
    """A local web page and JSON API: drop photographs, see and download vessels and measurements.

    Needs the server extra: pip install "vesselseg[serve]". Photographs never leave this machine.
    The API (POST /api/segment, GET /api/health) is described in the README.
    """
    from vesselseg.serve import require_extra

    require_extra()
    from vesselseg.serve.app import loopback_hosts, serve
    from vesselseg.serve.service import Limits, shipped_names

    if weights not in shipped_names():
        raise VesselsegError(f"--weights {weights}: serve offers only the shipped weights "
                             f"({', '.join(shipped_names()) or 'none shipped'})")
    if loopback_hosts(host, port) is None:
        click.echo(f"warning: --host {host} serves the page and the API to every machine that can reach this one "
                   f"on port {port}: anyone there can upload photographs, read the results and use this "
                   "machine's CPU, with no login and no encryption (plain HTTP). Use it only on a network you "
                   "trust; the default 127.0.0.1 keeps it on this computer.", err=True)
    limits = Limits(max_upload_bytes=int(max_upload_mb * 1e6), time_limit_s=time_limit,
                    result_ttl_s=keep_minutes * 60, max_results=max_results)
    serve(host, port, weights, limits, threads, echo=click.echo)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Console entry point; returns the process exit status."""
    return run_group(cli, argv, "vesselseg")


def run_group(group: click.Group, argv: list[str] | None, prog_name: str) -> int:
    """Run a click group the way every vesselseg command line behaves: one ``error:`` line and
    exit 2 for bad input, 130 on Ctrl-C, never a traceback (also used by ``python -m experiments``)."""
    try:
        rv = group.main(args=argv, prog_name=prog_name, standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("interrupted", err=True)
        return 130
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return 130
    except click.ClickException as exc:
        if isinstance(exc, getattr(click.exceptions, "NoArgsIsHelpError", ())):
            exc.show()  # a bare `vesselseg`: the help text, as click prints it
            return exc.exit_code
        # One line like every other error (click's own form is usage, hint and "Error:" on 4 lines).
        hint = ""
        if isinstance(exc, click.UsageError) and exc.ctx is not None:
            hint = f" (see '{exc.ctx.command_path} --help')"
        click.echo(f"error: {one_line(exc.format_message())}{hint}", err=True)
        return exc.exit_code
    except VesselsegError as exc:
        click.echo(f"error: {one_line(exc)}", err=True)
        return 2
    except MemoryError:
        click.echo("error: out of memory (try a smaller image, --mode sliding, or fewer threads)", err=True)
        return 2
    return rv if isinstance(rv, int) else 0


if __name__ == "__main__":
    sys.exit(main())
