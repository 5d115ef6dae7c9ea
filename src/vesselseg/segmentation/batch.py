"""Segmenting many photographs: collecting inputs, skipping finished ones, reporting failures.

A bad file never stops the batch: it is reported at the end (and the command exits non-zero).
Outputs already present for an image are kept unless ``overwrite`` is set, so re-running an
interrupted batch picks up where it stopped.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from vesselseg.errors import InputError, OutputError, VesselsegError
from vesselseg.io.files import is_read_only
from vesselseg.io.images import PNG_COMPRESSION, ensure_output_dir, read_image
from vesselseg.segmentation.outputs import SUFFIXES as OUTPUT_FILES
from vesselseg.segmentation.outputs import output_paths, write_outputs
from vesselseg.segmentation.segmenter import Segmenter, SegmentResult
from vesselseg.settings import env_ranks


@dataclass(frozen=True)
class ArraySource:
    """An in-memory photograph in a batch (the embedded sample), named like a file would be."""

    stem: str
    loader: Callable[[], object]

    @property
    def name(self) -> str:
        return self.stem

    def __str__(self) -> str:
        return self.stem


@dataclass(frozen=True)
class ImageSummary:
    """What a batch keeps per segmented image: scalars only, so memory stays flat over thousands."""

    width: int
    height: int
    fov_diameter: float
    scale: float
    vessel_fraction: float
    seconds: float

    @classmethod
    def of(cls, result: SegmentResult) -> "ImageSummary":
        h, w = result.prob.shape
        return cls(w, h, result.fov_diameter, result.scale, result.vessel_fraction, result.seconds)


@dataclass
class BatchReport:
    """What a batch did: per-image summaries, skipped images and failures."""

    done: list[tuple[str, ImageSummary]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (input, message)
    not_done: list[str] = field(default_factory=list)  # inputs never attempted (the batch stopped)
    stopped: str | None = None  # why the batch stopped early (disk full), else None


def parse_shard(value: str | None) -> tuple[int, int] | None:
    """``"i/N"`` (1 <= i <= N) -> ``(i, N)``; None -> torchrun's ``RANK``/``WORLD_SIZE`` if several, else None.

    The variables are checked (:func:`vesselseg.engine.distributed.env_ranks`): ``RANK=x`` or
    ``RANK=5 WORLD_SIZE=2`` is a :class:`~vesselseg.errors.ConfigError`, not a shard that
    silently holds nothing.
    """
    if value is None:
        rank, world, _ = env_ranks()
        return (rank + 1, world) if world > 1 else None
    try:
        i, n = (int(v) for v in str(value).split("/"))
    except ValueError:
        raise InputError(f"--shard must look like i/N (e.g. 2/4), not {value!r}") from None
    if not 1 <= i <= n:
        raise InputError(f"--shard {value}: need 1 <= i <= N")
    return i, n


def take_shard(files: list, shard: tuple[int, int] | None) -> list:
    """Every N-th file starting at the i-th: shards are disjoint and together cover the batch."""
    if shard is None:
        return files
    i, n = shard
    return files[i - 1 :: n]


def check_stems(files: list) -> None:
    """Two inputs with the same stem would write the same outputs: refuse before starting."""
    seen: dict[str, Path] = {}
    for f in files:
        if f.stem in seen:
            raise InputError(f"{seen[f.stem]} and {f} would write the same outputs ({f.stem}_*.png); "
                             "segment them into different --out folders")
        seen[f.stem] = f


def image_line(name: str, result: SegmentResult | ImageSummary) -> str:
    """The progress line of one segmented image: size, FOV, scale, vessel fraction, time."""
    s = result if isinstance(result, ImageSummary) else ImageSummary.of(result)
    return (f"{name}: {s.width}x{s.height} px, FOV diameter {s.fov_diameter:.0f} px, scale {s.scale:.3g}, "
            f"vessels {100 * s.vessel_fraction:.1f}% of FOV, {s.seconds:.2f} s")


def _decode(item: Path | ArraySource):
    """``(rgb, None, seconds)`` or ``(None, message, seconds)``: decoding errors travel as values."""
    t0 = time.perf_counter()
    try:
        return (read_image(item) if isinstance(item, Path) else item.loader()), None, time.perf_counter() - t0
    except VesselsegError as exc:
        return None, str(exc), time.perf_counter() - t0
    except MemoryError:
        return None, "out of memory while decoding", time.perf_counter() - t0


class _Decoder:
    """Map-style dataset for a DataLoader: index -> (index, rgb, error, seconds)."""

    def __init__(self, items: list) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int):
        return (i, *_decode(self.items[i]))


def _as_is(sample):
    return sample


def decoded(items: list, workers: int = 0) -> Iterable[tuple[int, object, str | None]]:
    """Yield ``(index, rgb, error, decode_seconds)`` in order, one image in memory at a time per stage.

    ``workers > 0`` decodes in that many DataLoader worker processes, a few images ahead of the
    network (``prefetch_factor=2``), so JPEG/PNG decoding overlaps inference; memory stays bounded
    by ``workers * 2`` decoded images.
    """
    if workers <= 0 or len(items) < 2:
        for i, item in enumerate(items):
            yield (i, *_decode(item))
        return
    from torch.utils.data import DataLoader

    loader = DataLoader(_Decoder(items), batch_size=None, shuffle=False, num_workers=workers,
                        collate_fn=_as_is, prefetch_factor=2, persistent_workers=False)
    yield from loader


def _existing_outputs(out_dir: Path, stem: str, kinds=OUTPUT_FILES) -> list[str]:
    return [kind for kind, p in output_paths(out_dir, stem).items() if kind in kinds and p.exists()]


#: Images up to this many pixels are written by a background thread while the next one is
#: segmented (PNG encoding is single-threaded and releases the GIL, so it overlaps the network
#: on machines with spare cores). Larger ones are written in the main thread before the next is
#: decoded, so a batch never holds two large photographs' arrays at once (a 14000 px one: several
#: GB). Decode workers (``workers > 0``) still read ahead.
OVERLAP_MAX_PIXELS = 25_000_000


@dataclass
class _Pending:
    """A segmented image whose outputs are being written (``future``) and not yet reported."""

    n: int
    path: object
    paths: dict
    rgb: object
    result: SegmentResult
    kept: list[str]
    future: object


def segment_files(files: list[Path | ArraySource], out_dir: str | Path, segmenter: Segmenter, fov="auto",
                  overwrite: bool = False, on_result: Callable[[str], None] = print,
                  progress: bool = False, on_done: Callable | None = None, workers: int = 0,
                  outputs=OUTPUT_FILES, compression: int = PNG_COMPRESSION, overlap: bool = True,
                  on_timing: Callable[[str, dict], None] | None = None) -> BatchReport:
    """Segment ``files`` into ``out_dir``, streaming; each image's failure is recorded, not raised.

    ``outputs``: the kinds written (:data:`~vesselseg.segmentation.outputs.SUFFIXES`, default
    all), as PNGs of zlib level ``compression``. Existing outputs are never replaced without
    ``overwrite``: an image whose requested outputs all exist is skipped (an interrupted batch
    resumes), one with some of them gets only the missing ones (and a note naming those kept).
    With ``on_done`` (which re-reads a skipped image's mask) the mask is always written. With
    ``overwrite``, a read-only output (no write permission bit) is still not replaced: that
    image fails with a message. The rest are decoded (in ``workers`` background
    processes if > 0), segmented and written; with ``overlap`` an image's outputs are written
    by a background thread while the next image is segmented (:data:`OVERLAP_MAX_PIXELS`).
    A full disk stops the batch (every later image would fail the same way), leaving no partial
    file. ``on_done(source, rgb, result)`` runs after each segmented image (``result`` None for a
    skipped one, ``rgb`` None too) -- e.g. the measurements of ``segment --measure``.
    ``on_timing(name, seconds_by_step)`` receives each finished image's profile: the
    segmenter's steps (:data:`~vesselseg.segmentation.segmenter.STEPS`), ``decode``, and one
    entry per output written.
    """
    out_dir = ensure_output_dir(out_dir)
    check_stems(files)
    outputs = tuple(k for k in OUTPUT_FILES if k in outputs)
    if on_done is not None and "vessels" not in outputs:
        # on_done (--measure, --av) re-reads a finished image's mask when a batch is resumed:
        # without the file every re-run would redo every image
        outputs = tuple(k for k in OUTPUT_FILES if k in outputs or k == "vessels")
        on_result("note: the vessel mask (<name>_vessels.png) is written too: --measure and --av read it "
                  "when an interrupted batch is resumed")
    skip_when = outputs
    report = BatchReport()
    todo = []
    for path in files:
        if not overwrite and len(_existing_outputs(out_dir, path.stem, skip_when)) == len(skip_when):
            try:
                if on_done is not None:
                    on_done(path, None, None)
            except VesselsegError as exc:  # counted once: as failed, not also as skipped
                report.failed.append((str(path), f"{path}: {exc}"))
                on_result(f"{path.name}: FAILED ({exc})")
                continue
            report.skipped.append(str(path))
            on_result(f"{path.name}: skipped, outputs exist in {out_dir} (--overwrite to redo)")
        else:
            todo.append(path)
    bar = None
    if progress and len(todo) > 1:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(todo), unit="image", desc="segment")
        on_result = bar.write
    writer = None
    if overlap and len(todo) > 1:
        from concurrent.futures import ThreadPoolExecutor

        writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vesselseg-write")
    pending: _Pending | None = None

    def fail(path, exc: BaseException, n: int) -> bool:
        """Record one image's failure; True when the batch must stop (full disk)."""
        if isinstance(exc, MemoryError):
            report.failed.append((str(path), f"{path}: out of memory (try --tile 512)"))
            on_result(f"{path.name}: FAILED (out of memory)")
            return False
        message = str(exc)
        report.failed.append((str(path), message if str(path) in message else f"{path}: {message}"))
        on_result(f"{path.name}: FAILED ({message})")
        if isinstance(exc, OutputError) and exc.disk_full:
            report.not_done = [str(p) for p in todo[n + 1:]]
            report.stopped = (f"stopped: the disk is full; {len(report.not_done)} more image(s) not done "
                              "(free space and run again: finished images are skipped)")
            on_result(report.stopped)
            return True
        return False

    def finish(item: _Pending) -> bool:
        """Wait for ``item``'s outputs, run ``on_done``, report it; True when the batch must stop."""
        try:
            seconds = item.future.result() if writer is not None else item.future
            if item.kept:
                names = ", ".join(p.name for k, p in item.paths.items() if k in item.kept)
                on_result(f"{item.path.name}: kept the existing {names} (--overwrite to replace)")
            if on_done is not None:
                on_done(item.path, item.rgb, item.result)
        except (VesselsegError, MemoryError) as exc:
            return fail(item.path, exc, item.n)
        summary = ImageSummary.of(item.result)
        if on_timing is not None:
            on_timing(item.path.name, {**item.result.timings, **seconds})
        report.done.append((str(item.path), summary))
        on_result(image_line(item.path.name, summary))
        return False

    try:
        for n, (i, rgb, error, decode_seconds) in enumerate(decoded(todo, workers)):
            path = todo[i]
            if bar is not None:
                bar.update(1)
            paths = output_paths(out_dir, path.stem)
            # A large image is written before the next one is decoded, and waits for the one before
            # it: a batch never holds two large photographs' arrays at once.
            large = rgb is not None and np.size(rgb) > 3 * OVERLAP_MAX_PIXELS
            if pending is not None and large:
                stop, pending = finish(pending), None
                if stop:
                    break
            try:
                if error is not None:
                    raise InputError(error)
                if overwrite:
                    locked = [p for k, p in paths.items() if k in outputs and is_read_only(p)]
                    if locked:
                        raise OutputError(f"{locked[0]}: read-only, not replaced (make it writable to redo this image)")
                    kinds, kept = outputs, []
                else:
                    kept = _existing_outputs(out_dir, path.stem, outputs)
                    kinds = [k for k in outputs if k not in kept]
                result = segmenter.run(rgb, fov=fov, name=str(path))
                result.timings = {"decode": decode_seconds, **result.timings}
            except (VesselsegError, MemoryError) as exc:
                # the image before this one is reported first (its write may also stop the batch:
                # then this one counts as not done, not as failed)
                if pending is not None:
                    stop, pending = finish(pending), None
                    if stop:
                        break
                if fail(path, exc, n):
                    break
                continue
            if pending is not None:  # its outputs were written while this image was segmented
                stop, pending = finish(pending), None
                if stop:
                    break
            write = (write_outputs, paths, rgb, result.prob, result.vessels, result.fov)
            options = {"kinds": kinds, "replace": overwrite, "compression": compression}
            if writer is not None and not large:
                pending = _Pending(n, path, paths, rgb, result, kept, writer.submit(*write, **options))
            else:
                try:
                    seconds = write[0](*write[1:], **options)
                except (VesselsegError, MemoryError) as exc:
                    if fail(path, exc, n):
                        break
                    continue
                if finish(_Pending(n, path, paths, rgb, result, kept, seconds)):
                    break
            del rgb, result  # keep nothing image-sized past this point but the pending image
        if pending is not None:  # the last image, or one in flight when a later one stopped the batch
            finish(pending)
            pending = None
    finally:
        if writer is not None:
            writer.shutdown(wait=True)
        if bar is not None:
            bar.close()
    return report
