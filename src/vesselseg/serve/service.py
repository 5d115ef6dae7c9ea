"""What the server does with one uploaded photograph, apart from HTTP.

- :class:`ResultStore`: a private temporary folder (mode 0700) with one sub-folder per result,
  named by a random id (:func:`secrets.token_urlsafe`). Uploaded file names never become paths:
  the upload is stored as ``image<suffix>`` (suffix from a fixed list) and the name is only
  shown. Results expire ``ttl`` seconds after they were made, at most ``max_results`` are kept
  (oldest dropped first), a client may delete its own, and the whole folder is removed when the
  server stops.
- :class:`Worker`: a child process that holds the model and processes one photograph at a time
  with the library's own pipeline -- :func:`~vesselseg.segmentation.segment_files` and the
  measurement functions, as ``vesselseg segment --measure`` calls them -- so the page gives
  exactly the CLI's files and table columns. A process rather than a thread so that the per-request time limit is real
  (an overrunning job is killed and the next request starts a fresh worker), a decoder crash or
  memory exhaustion cannot take the server down, and memory stays bounded (one image's arrays at
  a time, in one process).

Nothing here imports the web framework; :mod:`vesselseg.serve.app` does.
"""

from __future__ import annotations

import math
import multiprocessing
import re
import secrets
import shutil
import signal
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from vesselseg.errors import VesselsegError
from vesselseg.inference.weights import shipped_weights
from vesselseg.settings import set_threads

#: On-disk stem of every result's files (``image_vessels.png`` ...): never the uploaded name.
STEM = "image"
#: URL name -> file inside a result's folder. Nothing outside this table is ever served.
RESULT_FILES = {
    "photo.png": "photo.png",
    "overlay.png": f"{STEM}_overlay.png",
    "vessels.png": f"{STEM}_vessels.png",
    "prob.png": f"{STEM}_prob.png",
    "widths.png": f"{STEM}_widths.png",
    "av.png": f"{STEM}_av.png",
    "av_overlay.png": f"{STEM}_av_overlay.png",
    "measurements.csv": "measurements.csv",
    "measurements.json": "measurements.json",
}
#: The viewer's layers over the photograph, in drawing order: (id, label, file, CSS blend, shown).
#: The page draws whatever this lists, so later layers (arteries/veins, optic disc and zones)
#: appear by adding a row here and writing the file in :func:`_run_job`; no page change needed.
#: ``screen`` blending lets a black-background map (mask, probabilities) show over the photograph.
LAYERS = (
    ("overlay", "Overlay: vessels green, FOV outline grey", "overlay.png", "normal", True),
    ("vessels", "Vessel mask", "vessels.png", "screen", False),
    ("prob", "Probability map", "prob.png", "screen", False),
    # opaque on purpose: blending would change the colour code
    ("widths", "Calibre: centrelines coloured by width (blue thin, red wide)", "widths.png", "normal", False),
    ("av", "Arteries red, veins blue; optic disc and zone B (2-3 disc radii)", "av_overlay.png", "normal", False),
)
#: Layers and downloads that exist only when the artery/vein model is installed (and ran).
AV_FILES = ("av.png", "av_overlay.png")
#: Downloads offered per result: URL name -> label.
DOWNLOADS = {
    "vessels.png": "vessel mask (PNG, 0/255)",
    "prob.png": "probability (16-bit PNG, p x 65535)",
    "overlay.png": "overlay (PNG)",
    "widths.png": "calibre image (PNG)",
    "av.png": "arteries/veins (PNG: red artery, blue vein)",
    "av_overlay.png": "artery/vein overlay with disc and zone B (PNG)",
    "measurements.csv": "measurements (CSV)",
    "measurements.json": "measurements with segments (JSON)",
}
ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
#: Suffixes an upload may keep on disk (the decoder needs ``.tif`` to try tifffile first).
KEEP_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".gif", ".ppm", ".pgm", ".pbm", ".bmp")


class ServiceError(Exception):
    """A request that cannot be served: HTTP ``status`` and a message for the user."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def display_name(filename: str | None) -> tuple[str, str]:
    """An uploaded file name -> ``(name, stem)`` for showing and for download names only.

    Any folder part (``../../x.png``, ``C:\\x\\y.png``) is dropped and characters other than
    letters, digits, ``._- `` are replaced, so the result is safe in a header and a CSV cell.
    """
    base = re.split(r"[\\/]", filename or "")[-1]
    base = re.sub(r"[^\w.\- ]", "_", base).strip(" .")[:120] or "image"
    stem = base.rsplit(".", 1)[0] if "." in base else base
    return base, (stem.strip(" .") or "image")


def shipped_names() -> list[str]:
    """Names of the shipped weights (``drive`` ...); torch-free, so the server process stays light."""
    return sorted(shipped_weights(vessels_only=True))


# --- result store -----------------------------------------------------------------------------

@dataclass
class Result:
    rid: str
    folder: Path
    created: float = field(default_factory=time.monotonic)
    done: bool = False
    meta: dict | None = None


class ResultStore:
    """Result folders under one private temporary folder; thread-safe."""

    def __init__(self, ttl: float = 3600.0, max_results: int = 50, parent: str | Path | None = None):
        self.ttl, self.max_results = float(ttl), int(max_results)
        self.root = Path(tempfile.mkdtemp(prefix="vesselseg-serve-", dir=parent))  # mode 0700
        self._items: dict[str, Result] = {}
        self._lock = threading.Lock()

    def reserve(self) -> Result:
        """A new, empty result folder under a fresh random id (not visible until published)."""
        with self._lock:
            rid = secrets.token_urlsafe(18)
            folder = self.root / rid
            folder.mkdir(mode=0o700)
            item = self._items[rid] = Result(rid, folder)
            return item

    def publish(self, item: Result, meta: dict) -> None:
        """Make a finished result fetchable; drop the oldest beyond ``max_results``."""
        with self._lock:
            item.meta, item.done, item.created = meta, True, time.monotonic()
            done = sorted((r for r in self._items.values() if r.done), key=lambda r: r.created)
            for old in done[: max(0, len(done) - self.max_results)]:
                self._remove_locked(old.rid)

    def discard(self, rid: str) -> bool:
        with self._lock:
            return self._remove_locked(rid)

    def get(self, rid: str) -> Result | None:
        """A published, unexpired result, or None (also for ids that are not ids at all)."""
        self.sweep()
        if not ID_PATTERN.match(rid or ""):
            return None
        with self._lock:
            item = self._items.get(rid)
            return item if item is not None and item.done else None

    def file(self, rid: str, name: str) -> Path | None:
        item = self.get(rid)
        if item is None or name not in RESULT_FILES:
            return None
        path = item.folder / RESULT_FILES[name]
        return path if path.is_file() else None

    def sweep(self) -> int:
        """Delete expired results; returns how many."""
        now = time.monotonic()
        with self._lock:
            old = [rid for rid, r in self._items.items() if r.done and now - r.created > self.ttl]
            for rid in old:
                self._remove_locked(rid)
        return len(old)

    def __len__(self) -> int:
        with self._lock:
            return sum(r.done for r in self._items.values())

    def close(self) -> None:
        """Delete every result and the folder itself."""
        with self._lock:
            self._items.clear()
            shutil.rmtree(self.root, ignore_errors=True)

    def _remove_locked(self, rid: str) -> bool:
        item = self._items.pop(rid, None)
        if item is None:
            return False
        shutil.rmtree(item.folder, ignore_errors=True)
        return True


# --- worker process ---------------------------------------------------------------------------

def _plain(value):
    """numpy scalars -> Python, NaN/inf -> None, recursively (for strict JSON)."""
    import numpy as np

    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


def _segmenter(cache: dict, weights: str):
    from vesselseg.segmentation import Segmenter

    if weights not in cache:
        for key in [k for k in cache if not isinstance(k, tuple)]:
            del cache[key]  # one vessel model in memory (the auxiliary ones stay)
        cache[weights] = Segmenter(weights)
    return cache[weights]


def _auxiliary(cache: dict, name: str, build):
    """The artery/vein and disc models: loaded once per worker, kept beside the vessel model."""
    key = ("aux", name)
    if key not in cache:
        cache[key] = build()
    return cache[key]


def _arteries_veins(cache: dict, rgb, result, summary: dict, out_dir: Path) -> list:
    """Split the vessels into arteries and veins, find the disc, add the A/V columns to ``summary``
    and write the A/V files; returns the zone-B vessels (for the JSON). Nothing when the shipped
    artery/vein model is missing."""
    from vesselseg.inference.weights import shipped_weights
    from vesselseg.io.images import write_png
    from vesselseg.measure.biomarkers import measure_av
    from vesselseg.segmentation import Segmenter
    from vesselseg.segmentation.av import AV_WEIGHTS, ArteryVeinClassifier, av_colour_image, av_overlay
    from vesselseg.segmentation.disc import DISC_WEIGHTS, detect_disc

    names = shipped_weights()
    if AV_WEIGHTS not in names:
        return []
    classifier = _auxiliary(cache, AV_WEIGHTS, lambda: ArteryVeinClassifier(AV_WEIGHTS))
    classes = classifier.classify(rgb, result.vessels, fov=result.fov).classes
    summary["av_model"] = classifier.description
    disc = None
    if DISC_WEIGHTS in names:
        found = detect_disc(rgb, _auxiliary(cache, DISC_WEIGHTS, lambda: Segmenter(DISC_WEIGHTS))).disc
        if found is not None:
            disc = (found.x, found.y, found.radius)
            summary.update(disc_x=found.x, disc_y=found.y, disc_radius_px=found.radius, disc_source="detected",
                           disc_confidence=found.confidence)
        else:
            summary["disc_source"] = "not found"
    row, zone_vessels = measure_av(classes, result.fov, disc, None, disc_source=summary.get("disc_source", ""))
    summary.update(row)
    write_png(out_dir / RESULT_FILES["av.png"], av_colour_image(classes))
    write_png(out_dir / RESULT_FILES["av_overlay.png"], av_overlay(rgb, classes, result.fov, disc))
    return zone_vessels


def _run_job(job: dict, cache: dict) -> dict:
    """In the worker: segment + measure one stored upload into its result folder.

    The library's own calls, as ``vesselseg segment --measure`` makes them: :func:`segment_files`
    decodes the photograph and writes the three PNGs; :func:`measure_mask`, :func:`width_image`,
    :func:`write_table` and :func:`write_json` give the measurement files. The decoded photograph
    is kept as ``photo.png`` for the viewer.
    """
    from vesselseg.io.images import write_png
    from vesselseg.measure import COLUMNS, measure_mask, width_image, write_json, write_table
    from vesselseg.segmentation import segment_files

    upload, out_dir = Path(job["upload"]), Path(job["out_dir"])
    seg = _segmenter(cache, job["weights"])
    seg.threshold = float(job["threshold"])
    measured = []

    def on_done(source, rgb, result):
        # named after the upload (its display stem), not the private file
        m = measure_mask(result.vessels, result.fov, None, name=job["stem"], fov_source="derived")
        try:
            m.zone_vessels = _arteries_veins(cache, rgb, result, m.summary, out_dir)
        except Exception as exc:  # the vessel result stands; the A/V layer is left out, and the row says why
            for name in AV_FILES:
                (out_dir / RESULT_FILES[name]).unlink(missing_ok=True)
            m.summary["note"] = "; ".join(n for n in (m.summary.get("note"), "arteries/veins not available: "
                                                      f"{type(exc).__name__}: {exc}") if n)
        write_png(out_dir / RESULT_FILES["widths.png"], width_image(m, result.vessels))
        write_png(out_dir / RESULT_FILES["photo.png"], rgb)
        m.skeleton = m.widths = None
        measured.append(m)

    report = segment_files([upload], out_dir, seg, on_result=lambda _line: None, on_done=on_done)
    if report.failed or not report.done or not measured:
        message = report.failed[0][1] if report.failed else "the image was not processed"
        message = message.replace(str(upload), job["name"]).replace(str(out_dir), "<result folder>")
        return {"ok": False, "status": 422, "error": message}
    m = measured[0]
    write_table([m.summary], out_dir / RESULT_FILES["measurements.csv"])
    write_json([m], out_dir / RESULT_FILES["measurements.json"])
    columns = list(COLUMNS) + [k for k in m.summary if k not in COLUMNS]
    return {"ok": True, "summary": _plain(asdict(report.done[0][1])), "measurements": _plain(dict(m.summary)),
            "columns": columns, "reference_fov_px": float(seg.reference),
            "arteries_veins": (out_dir / RESULT_FILES["av.png"]).is_file(),
            "model": str(seg.card.get("name", job["weights"]))}


def _worker_main(conn, threads: int | None, preload: str) -> None:
    """The worker process: load the model, then answer one job per message until the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the server stops us

    set_threads(threads)
    cache: dict = {}
    try:
        _segmenter(cache, preload)
        conn.send({"ready": True})
    except Exception as exc:  # noqa: BLE001 -- reported to the server as one line
        conn.send({"ready": False, "error": f"{preload}: {exc}"})
        return
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return  # the server went away
        try:
            reply = _run_job(job, cache)
        except VesselsegError as exc:
            reply = {"ok": False, "status": 422, "error": str(exc).replace(job["upload"], job["name"])}
        except MemoryError:
            reply = {"ok": False, "status": 422, "error": f"{job['name']}: out of memory while processing"}
        except Exception as exc:  # noqa: BLE001 -- a bug, not bad input: one line, no traceback
            reply = {"ok": False, "status": 500,
                     "error": f"{job['name']}: internal error ({type(exc).__name__}); please report it"}
        try:
            conn.send(reply)
        except (EOFError, OSError):
            return


class Worker:
    """The parent's handle on the worker process: one job at a time, with time limits.

    The process is started with ``spawn`` (no copy of the server's threads or sockets), so a
    script that starts the server itself needs the usual ``if __name__ == "__main__":`` guard.

    Args:
        weights: shipped name loaded at start (the page's default).
        threads: torch threads in the worker (None: ``$VESSELSEG_THREADS`` or all cores).
        startup_limit: seconds the worker may take to import and load the model.
    """

    def __init__(self, weights: str = "drive", threads: int | None = None, startup_limit: float = 180.0):
        self.weights, self.threads, self.startup_limit = weights, threads, startup_limit
        self._lock = threading.Lock()
        self._proc = None
        self._conn = None
        self.ready = False
        self.starts = 0

    def start(self) -> None:
        """Start the process (returns at once; the model loads in the background)."""
        with self._lock:
            if self._proc is None or not self._proc.is_alive():
                self._spawn()

    def _spawn(self) -> None:
        self._kill()
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_worker_main, args=(child, self.threads, self.weights), daemon=True,
                           name="vesselseg-serve-worker")
        proc.start()
        child.close()
        self._proc, self._conn, self.ready = proc, parent, False
        self.starts += 1

    def _kill(self) -> None:
        proc, conn = self._proc, self._conn
        self._proc = self._conn = None
        self.ready = False
        if conn is not None:
            conn.close()
        if proc is not None:
            if proc.is_alive():
                proc.kill()
            proc.join(timeout=10)

    def stop(self) -> None:
        """Stop the process (waits for no job: a job in flight is abandoned)."""
        # Not under the lock: a job in flight holds it; closing the pipe ends that wait too.
        self._kill()

    def state(self) -> str:
        """``ready``, ``loading``, ``busy`` or ``stopped`` (for /api/health; never blocks)."""
        if not self._lock.acquire(blocking=False):
            return "busy"
        try:
            if self._proc is None or not self._proc.is_alive():
                return "stopped"
            if not self.ready and self._conn.poll(0):
                self._take_ready()
            return "ready" if self.ready else "loading"
        except (EOFError, OSError):
            self._kill()
            return "stopped"
        finally:
            self._lock.release()

    def _take_ready(self) -> None:
        msg = self._conn.recv()
        if not msg.get("ready"):
            self._kill()
            raise ServiceError(503, f"the model could not be loaded: {msg.get('error')}")
        self.ready = True

    def run(self, job: dict, time_limit: float, queue_limit: float) -> dict:
        """Run one job; raises :class:`ServiceError` for busy (503), time limit (504) or a crash."""
        if not self._lock.acquire(timeout=queue_limit):
            raise ServiceError(503, f"the server is busy with other images (waited {queue_limit:.0f} s); try again")
        try:
            if self._proc is None or not self._proc.is_alive():
                self._spawn()
            conn = self._conn  # stop() may clear the attribute from another thread meanwhile
            if not self.ready:
                if not conn.poll(self.startup_limit):
                    self._kill()
                    raise ServiceError(503, f"the model did not load within {self.startup_limit:.0f} s")
                self._take_ready()
            conn.send(job)
            if not conn.poll(time_limit):
                self._kill()  # the only way to stop a computation in flight
                raise ServiceError(504, f"{job['name']}: processing took longer than the limit of "
                                        f"{time_limit:g} s and was stopped")
            return conn.recv()
        except (EOFError, OSError):
            self._kill()
            raise ServiceError(500, f"{job['name']}: the worker process stopped while processing this "
                                    "image (out of memory?); it has been restarted") from None
        finally:
            self._lock.release()


# --- one upload -------------------------------------------------------------------------------

@dataclass
class Limits:
    """What the server accepts; stated in the page and in /api/health."""

    max_upload_bytes: int = 50_000_000
    time_limit_s: float = 300.0
    result_ttl_s: float = 3600.0
    max_results: int = 50


class Service:
    """Store + worker + limits: ``process(fileobj, filename, weights, threshold)`` -> response dict."""

    def __init__(self, weights: str = "drive", limits: Limits | None = None, threads: int | None = None,
                 temp_parent: str | Path | None = None, worker: Worker | None = None):
        self.limits = limits or Limits()
        self.weight_names = shipped_names()
        if weights not in self.weight_names:
            raise ServiceError(400, f"unknown weights {weights!r}; shipped: {', '.join(self.weight_names)}")
        self.default_weights = weights
        self.store = ResultStore(self.limits.result_ttl_s, self.limits.max_results, temp_parent)
        self.worker = worker or Worker(weights, threads)

    def start(self) -> None:
        self.worker.start()

    def close(self) -> None:
        self.worker.stop()
        self.store.close()

    def check_weights(self, value: str | None) -> str:
        """Only a shipped name ever reaches the loader: a path typed into a form opens nothing."""
        if value is None or value == "":
            return self.default_weights
        if value not in self.weight_names:
            shown = value if len(value) <= 60 else value[:57] + "..."
            raise ServiceError(400, f"unknown weights {shown!r}; choose one of: {', '.join(self.weight_names)}")
        return value

    @staticmethod
    def check_threshold(value: str | None) -> float:
        if value is None or value == "":
            return 0.5
        try:
            t = float(value)
        except (TypeError, ValueError):
            t = float("nan")
        if not 0.0 <= t <= 1.0:  # also NaN
            raise ServiceError(400, f"threshold must be a number within [0, 1], got {str(value)[:40]!r}")
        return t

    def process(self, fileobj, filename: str | None, weights: str, threshold: float) -> dict:
        """Store the upload under a random id, run the worker, publish the result; the response body."""
        name, stem = display_name(filename)
        suffix = Path(name).suffix.lower()
        item = self.store.reserve()
        upload = item.folder / f"{STEM}{suffix if suffix in KEEP_SUFFIXES else ''}"
        try:
            with open(upload, "xb") as out:
                size = _copy_limited(fileobj, out, self.limits.max_upload_bytes)
            if size < 0:
                raise ServiceError(413, f"{name}: larger than the upload limit of "
                                        f"{self.limits.max_upload_bytes / 1e6:g} MB")
            if size == 0:
                raise ServiceError(400, f"{name}: file is empty (0 bytes)")
            job = {"upload": str(upload), "out_dir": str(item.folder), "name": name, "stem": stem,
                   "weights": weights, "threshold": threshold}
            started = time.perf_counter()
            reply = self.worker.run(job, self.limits.time_limit_s, queue_limit=self.limits.time_limit_s)
            reply["seconds_total"] = time.perf_counter() - started
            if not reply.get("ok"):
                raise ServiceError(int(reply.get("status", 422)), reply.get("error") or f"{name}: failed")
        except BaseException:
            self.store.discard(item.rid)
            raise
        finally:
            upload.unlink(missing_ok=True)  # the photograph itself is not kept (photo.png is its decode)
        meta = self._response(item.rid, name, stem, weights, threshold, reply)
        self.store.publish(item, meta)
        return meta

    def _response(self, rid: str, name: str, stem: str, weights: str, threshold: float, reply: dict) -> dict:
        s, m = reply["summary"], reply["measurements"]
        base = f"/api/results/{rid}"
        return {
            "id": rid, "file_name": name, "image": stem, "weights": weights, "model": reply.get("model"),
            "threshold": threshold, "width": s["width"], "height": s["height"],
            "fov": {"source": m.get("fov_source"), "diameter_px": s["fov_diameter"], "pixels": m.get("fov_pixels")},
            "scale": {"factor": s["scale"], "reference_fov_px": reply.get("reference_fov_px"),
                      "note": "the photograph was resampled by this factor so its FOV diameter matches the "
                              "training images' (1 = native pixels), and the map resampled back"},
            "vessel_fraction": s["vessel_fraction"], "seconds": s["seconds"],
            "seconds_total": reply["seconds_total"],  # segmentation ("seconds") + measurements + files
            "columns": reply["columns"],
            "measurements": m,
            "photo": f"{base}/photo.png",
            "layers": [{"id": lid, "label": label, "url": f"{base}/{f}", "blend": blend, "visible": shown}
                       for lid, label, f, blend, shown in LAYERS if reply.get("arteries_veins") or f not in AV_FILES],
            "downloads": [{"name": f"{stem}_{f}", "label": label, "url": f"{base}/{f}"}
                          for f, label in DOWNLOADS.items() if reply.get("arteries_veins") or f not in AV_FILES],
            "expires_in_s": self.limits.result_ttl_s,
        }


def _copy_limited(src, dst, limit: int, chunk: int = 1 << 20) -> int:
    """Copy at most ``limit`` bytes; the number copied, or -1 if there was more."""
    total = 0
    while True:
        block = src.read(chunk)
        if not block:
            return total
        total += len(block)
        if total > limit:
            return -1
        dst.write(block)
