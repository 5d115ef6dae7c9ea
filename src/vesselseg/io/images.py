"""Image and mask readers/writers.

Images come out as ``float32`` RGB arrays ``(H, W, 3)`` in ``[0, 1]`` whatever the file held
(grey, palette, RGBA, 8 or 16 bit); masks as ``bool`` arrays ``(H, W)``. Every failure is an
:class:`~vesselseg.errors.InputError` that names the file.

Photographs are turned to their displayed (EXIF) orientation; 12-bit data in a 16-bit file is
divided by 4095, not 65535; signed or out-of-range data is rescaled by its range. Each of these
prints one ``note:`` line (:mod:`vesselseg.io.notes`). The pixel limit is checked on the
header, before anything is decoded.
"""

from __future__ import annotations

import os
import struct
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from vesselseg.errors import InputError
from vesselseg.io.files import atomic_write
from vesselseg.io.notes import note
from vesselseg.validation import env_whole_number
from vesselseg.vocabulary import PNG_COMPRESSION

# Every format the reader decodes (WebP through Pillow): folder listings take exactly these.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".gif", ".ppm", ".pgm", ".pbm", ".bmp", ".webp")

#: Refuse images larger than this many pixels (about 16k x 12k): decoding alone would take
#: several GB. Override with the ``VESSELSEG_MAX_PIXELS`` environment variable.
DEFAULT_MAX_PIXELS = 200_000_000


def max_pixels() -> int:
    """``$VESSELSEG_MAX_PIXELS`` (a whole number >= 256, ``2e8`` style accepted) or the default."""
    return env_whole_number("VESSELSEG_MAX_PIXELS", DEFAULT_MAX_PIXELS, lo=256, unit="pixels",
                            note="e.g. 200000000 or 2e8")


def _check_file(path: Path) -> None:
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, expected an image file")
    if not path.is_file():  # a FIFO would block the reader forever; its st_size of 0 is no "empty"
        raise InputError(f"{path}: not a regular file (a pipe, socket or device); expected an image file")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: file is empty")


def _check_pixels(path: Path, width: int, height: int) -> None:
    """The pixel limit, checked on the header's size before any pixel is decoded."""
    limit = max_pixels()
    if width * height > limit:
        raise InputError(
            f"{path}: image has {width * height} pixels ({width}x{height}), more than the limit of "
            f"{limit} (set VESSELSEG_MAX_PIXELS to raise it)"
        )


def _read_raw(path: Path) -> np.ndarray:
    """Decode ``path`` to a numpy array as stored (no scaling), ``(H, W)`` or ``(H, W, C)``."""
    return _decode(path)[0]


def _decode(path: Path) -> tuple[np.ndarray, int | None]:
    """``(array as stored, declared maximum)``: ``(H, W)`` or ``(H, W, C)``, no scaling, turned
    to the displayed orientation (EXIF / TIFF orientation tag, with a note). The declared maximum
    is the largest value the file says its samples can take when that is below its type's range
    (a TIFF's BitsPerSample 12 or MaxSampleValue 4095, a PNG's sBIT chunk), else None.

    The pixel limit is checked on the header before decoding, for every format.
    """
    _check_file(path)
    if path.suffix.lower() in (".tif", ".tiff"):
        decoded = _decode_tiff(path)
        if decoded is not None:
            return decoded
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            # Pillow's UserWarnings ("Corrupt EXIF data", palette transparency) are noise on
            # stderr: the file then decodes, or fails with our own one-line error.
            warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")
            # Our own limit, checked on the header below before any pixel is decoded; Pillow's
            # bomb check would fire first at 2x the limit with a message naming its own number.
            Image.MAX_IMAGE_PIXELS = None
            with Image.open(path) as im:
                _check_pixels(path, im.width, im.height)
                raw = im.tile[0][3] if im.format == "PNG" and im.tile else None  # the raw mode
                if isinstance(raw, tuple):
                    raw = raw[0] if raw else None
                if isinstance(raw, str) and raw.endswith(";16B") and not im.mode.startswith("I"):
                    # Pillow reduces 16-bit colour PNGs to 8 bits (12-bit data reads near-black);
                    # OpenCV keeps all 16.
                    arr = _decode_png16(path)
                    # (a PNG's getexif() would decode the pixels again when no eXIf came first)
                    orientation = im.getexif().get(_ORIENTATION_TAG) if "exif" in im.info else None
                else:
                    im.load()
                    arr = _pil_to_array(im)
                    orientation = im.getexif().get(_ORIENTATION_TAG)
            top = _png_declared_max(path, arr.dtype) if im.format == "PNG" else None
            return _orient(arr, orientation, path), top
    except InputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InputError(f"{path}: image too large ({exc})") from None
    except UnidentifiedImageError:
        raise InputError(f"{path}: not an image file (or a format that cannot be read)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"{path}: cannot decode image ({exc})") from None


def _decode_tiff(path: Path) -> tuple[np.ndarray, int | None] | None:
    """tifffile reads 16-bit, float and multi-sample TIFFs that Pillow cannot; None (Pillow's
    turn) for the odd flavour it rejects. Only the first image is read (a note says so)."""
    import logging

    log = logging.getLogger("tifffile")  # its messages about odd tags would clutter stderr
    level = log.level
    log.setLevel(logging.CRITICAL)
    try:
        import tifffile

        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            shape = tuple(int(n) for n in series.shape)
            if len(shape) == 2 or (len(shape) == 3 and (shape[-1] in (3, 4) or shape[0] in (3, 4))):
                h, w = shape[1:3] if len(shape) == 3 and shape[-1] not in (3, 4) else shape[:2]
                _check_pixels(path, w, h)  # from the header: nothing decoded yet
                arr, page, rest = series.asarray(), series.keyframe, len(tif.series) - 1
            else:  # a stack of images: the first page
                page = tif.pages[0]
                _check_pixels(path, int(page.imagewidth), int(page.imagelength))
                arr, rest = page.asarray(), len(tif.pages) - 1
            tags = page.tags
            orientation = tags.valueof(_ORIENTATION_TAG)
            bits = int(page.bitspersample)
            max_sample = tags.valueof(281)  # MaxSampleValue
    except (InputError, MemoryError):
        raise
    except Exception:
        return None
    finally:
        log.setLevel(level)
    if arr.ndim == 3 and arr.shape[0] in (3, 4) and arr.shape[-1] not in (3, 4):
        arr = np.moveaxis(arr, 0, -1)  # planar (C, H, W) storage
    if arr.ndim not in (2, 3):
        return None
    if rest:
        note(f"{path}: TIFF holding {rest + 1} images; only the first is read")
    top = None
    if np.issubdtype(arr.dtype, np.integer):
        type_max = int(np.iinfo(arr.dtype).max)
        if bits < 8 * arr.dtype.itemsize:
            top = (1 << bits) - 1
        if max_sample is not None:
            declared = int(np.max(max_sample))
            if 0 < declared < type_max:
                top = declared if top is None else min(top, declared)
    return _orient(arr, orientation, path), top


def _decode_png16(path: Path) -> np.ndarray:
    import cv2

    arr = cv2.imdecode(np.fromfile(path, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise InputError(f"{path}: cannot decode 16-bit PNG")
    if arr.ndim == 3:  # OpenCV's BGR(A) -> RGB(A)
        arr = arr[..., [2, 1, 0, 3][: arr.shape[-1]]]
    return arr


def _png_declared_max(path: Path, dtype) -> int | None:
    """From a PNG's sBIT chunk: ``2**bits - 1`` when its colour channels hold fewer bits than
    stored (12-bit data in a 16-bit PNG), else None."""
    if not np.issubdtype(dtype, np.integer) or np.dtype(dtype).itemsize < 2:
        return None
    try:
        with open(path, "rb") as fh:
            if fh.read(8) != b"\x89PNG\r\n\x1a\n":
                return None
            colour_type = None
            while True:
                head = fh.read(8)
                if len(head) < 8:
                    return None
                length, kind = struct.unpack(">I4s", head)
                if kind == b"IHDR":
                    colour_type = fh.read(length)[9]
                    fh.seek(4, 1)
                elif kind == b"sBIT":
                    data = fh.read(min(length, 4))
                    channels = 1 if colour_type in (0, 4) else 3
                    bits = max(data[:channels]) if data else 16
                    return (1 << bits) - 1 if 0 < bits < 16 else None
                elif kind in (b"IDAT", b"IEND"):
                    return None
                else:
                    fh.seek(length + 4, 1)
    except (OSError, IndexError, struct.error):
        return None


#: The EXIF (and TIFF) orientation tag: how the stored pixels must be turned to be displayed.
_ORIENTATION_TAG = 0x0112
_ORIENTATIONS = {
    2: ("mirrored left-right", lambda a: a[:, ::-1]),
    3: ("rotated 180°", lambda a: a[::-1, ::-1]),
    4: ("mirrored top-bottom", lambda a: a[::-1]),
    5: ("transposed", lambda a: a.swapaxes(0, 1)),
    6: ("rotated 90° clockwise", lambda a: np.rot90(a, -1)),
    7: ("transversed", lambda a: a[::-1, ::-1].swapaxes(0, 1)),
    8: ("rotated 90° anticlockwise", lambda a: np.rot90(a, 1)),
}


def _orient(arr: np.ndarray, orientation, path: Path) -> np.ndarray:
    """Turn stored pixels to the displayed orientation (what every viewer shows), with a note."""
    try:
        orientation = int(orientation) if orientation is not None else 1
    except (TypeError, ValueError):
        return arr
    if orientation not in _ORIENTATIONS:
        return arr
    what, turn = _ORIENTATIONS[orientation]
    note(f"{path}: {what} as its orientation tag ({orientation}) says; outputs are in the displayed orientation")
    return np.ascontiguousarray(turn(arr))


def _pil_to_array(im: Image.Image) -> np.ndarray:
    mode = im.mode
    if mode == "P" or mode == "PA":
        im = im.convert("RGBA" if "transparency" in im.info or mode == "PA" else "RGB")
    elif mode == "1":
        im = im.convert("L")
    elif mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        im = im.convert("RGB")
    elif mode.startswith("I;16"):
        return np.asarray(im, dtype=np.uint16)
    elif mode == "LA":
        im = im.convert("RGBA")
    return np.asarray(im)


def _to_unit_float(arr: np.ndarray) -> np.ndarray:
    if arr.dtype == np.bool_:
        return arr.astype(np.float32)
    if np.issubdtype(arr.dtype, np.integer):
        top = float(np.iinfo(arr.dtype).max)
        if arr.dtype in (np.int32, np.uint32, np.int64, np.uint64):
            # 32-bit "I" images usually hold 16-bit data; scale by the data's own range.
            top = 65535.0 if arr.max() > 255 else 255.0
        return arr.astype(np.float32) / top
    arr = arr.astype(np.float32)
    hi = float(arr.max()) if arr.size else 1.0
    return arr / hi if hi > 1.0 else arr


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read a colour or grey image as ``float32`` RGB ``(H, W, 3)`` in ``[0, 1]``.

    Grey images are repeated over three channels; an alpha channel is dropped. 16-bit images keep
    their full precision: divided by 65535, or by the maximum the file declares (TIFF
    BitsPerSample/MaxSampleValue, PNG sBIT), or -- with a note -- by ``2**k - 1`` for the
    smallest k in 8, 10, 12, 14 that holds their largest value (12-bit camera data in a 16-bit
    file). The photograph is turned to its displayed (EXIF) orientation. See :func:`as_rgb` for
    signed and float data.
    """
    path = Path(path)
    arr, top = _decode(path)
    return _as_rgb(arr, str(path), top)


def as_rgb(arr: np.ndarray, name: str = "image") -> np.ndarray:
    """Any image array -> ``float32`` RGB ``(H, W, 3)`` in ``[0, 1]``.

    Accepts grey ``(H, W)``, ``(H, W, 1)``, grey+alpha, RGB and RGBA, as ``uint8``, ``uint16``
    (or wider) integers, bool or float. Alpha is dropped. Scaling (a note says which when it is
    not the type's plain range):

    * unsigned data (and signed data without negative values): divided by the type's maximum,
      unless every value fits in fewer bits -- a 16-bit array whose maximum is 4095 is 12-bit
      data, divided by 4095 (k = 8, 10, 12, 14 are tried);
    * signed data with negative values, and integers beyond 16 bits: rescaled by their own
      range (min -> 0, max -> 1);
    * floats within ``[0, 1]``: as they are; other floats rescaled by their range; NaN or
      infinite values are refused.
    """
    return _as_rgb(arr, name, None)


def _as_rgb(arr: np.ndarray, name: str, top: int | None) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise InputError(f"{name}: expected a numeric image array, got dtype {arr.dtype}")
    if np.iscomplexobj(arr):
        raise InputError(f"{name}: expected a real-valued image, got dtype {arr.dtype}")
    # The layout first (views, no copy), so an alpha channel never decides the scaling.
    if arr.ndim == 3 and arr.shape[-1] in (1, 2):  # grey, grey + alpha
        arr = arr[..., 0]
    elif arr.ndim == 3 and arr.shape[-1] >= 4:
        arr = arr[..., :3]
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[-1] == 3)):
        raise InputError(f"{name}: unsupported image layout {arr.shape}")
    if min(arr.shape[:2]) < 16:
        raise InputError(f"{name}: image is {arr.shape[1]}x{arr.shape[0]} pixels; at least 16x16 is needed")
    arr = _image_to_unit(arr, name, top)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=-1)
    return np.ascontiguousarray(arr, dtype=np.float32)


#: Bit depths tried for integer data that leaves most of its type unused (12-bit in 16-bit).
SIGNIFICANT_BITS = (8, 10, 12, 14)


def _image_to_unit(arr: np.ndarray, name: str, top: int | None = None) -> np.ndarray:
    """Integer, bool or float pixels -> ``float32`` in ``[0, 1]`` (see :func:`as_rgb`). A float32
    array already in range is returned as is (no copy)."""
    if arr.dtype == np.bool_:
        return arr.astype(np.float32)
    if np.issubdtype(arr.dtype, np.integer):
        if arr.dtype == np.uint8 and top is None:
            out = arr.astype(np.float32)
            return np.divide(out, np.float32(255), out=out)
        lo, hi = int(arr.min()), int(arr.max())
        kind = f"{8 * arr.dtype.itemsize}-bit"
        if lo < 0:
            return _rescale(arr, lo, hi, f"{name}: signed {kind} data with negative values")
        type_max = int(np.iinfo(arr.dtype).max)
        if arr.dtype.itemsize > 2:
            if hi > 65535:
                return _rescale(arr, lo, hi, f"{name}: {kind} integer data beyond 16 bits")
            type_max, kind = 65535, "16-bit"  # Pillow's 32-bit "I" mode holds 16-bit data
        if top is not None and hi <= top:
            pass  # the depth the file declares (no note: nothing was guessed)
        else:
            top = type_max
            for bits in SIGNIFICANT_BITS:
                if 0 < hi <= (1 << bits) - 1 < type_max:
                    top = (1 << bits) - 1
                    note(f"{name}: {kind} data with values up to {hi}: read as {bits}-bit "
                         f"(divided by {top}, not {type_max})")
                    break
        out = arr.astype(np.float32)
        return np.divide(out, np.float32(top), out=out)
    arr = arr.astype(np.float32, copy=False)
    lo, hi = float(arr.min()), float(arr.max())  # NaN propagates: no image-sized temporary
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise InputError(f"{name}: image holds NaN or infinite values")
    if lo >= 0.0 and hi <= 1.0:
        return arr
    return _rescale(arr, lo, hi, f"{name}: float data outside [0, 1]")


def _rescale(arr: np.ndarray, lo: float, hi: float, what: str) -> np.ndarray:
    """Min-max to ``[0, 1]`` in float32, with a note naming the range."""
    note(f"{what} (range {lo:g} to {hi:g}): rescaled to [0, 1] by that range")
    out = arr.astype(np.float32)  # a copy: the caller's array is never changed
    out -= np.float32(lo)
    if hi > lo:
        out /= np.float32(hi - lo)
    return out


def read_mask(path: str | os.PathLike, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Read a binary mask (vessel label or FOV) as ``bool`` ``(H, W)``.

    Any channel layout is reduced to its maximum over channels and thresholded at half the value
    range: DRIVE's palette GIFs that read as 3/253 and CHASE_DB1's 1-bit PNGs both binarise
    correctly. ``shape`` (H, W), when given, is checked.
    """
    path = Path(path)
    arr = _to_unit_float(_read_raw(path))
    if arr.ndim == 3:
        arr = arr[..., :3].max(axis=-1)
    mask = arr > 0.5
    if shape is not None and mask.shape != tuple(shape):
        raise InputError(
            f"{path}: mask is {mask.shape[1]}x{mask.shape[0]} but its image is {shape[1]}x{shape[0]}"
        )
    return mask


def to_uint8(arr: np.ndarray) -> np.ndarray:
    """Map a bool or ``[0, 1]`` float array to ``uint8`` 0..255 (values are clipped)."""
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8) * 255
    if arr.dtype == np.uint8:
        return arr
    return _quantise(arr, 255.0, np.uint8, np.float32)


#: Rows converted at a time by :func:`to_uint8` / :func:`to_uint16`: the float temporaries stay
#: a few MB however large the image (a 14000x14000 RGB float image would need 2.4 GB per copy).
_CHUNK_ELEMENTS = 1 << 22


def _quantise(arr: np.ndarray, top: float, dtype, work) -> np.ndarray:
    """``clip(rint(arr * top), 0, top)`` as ``dtype``, computed in ``work`` precision, by row blocks."""
    arr = np.asarray(arr)
    out = np.empty(arr.shape, dtype=dtype)
    if arr.ndim == 0 or arr.size == 0:
        out[...] = np.clip(np.rint(np.asarray(arr, dtype=work) * top), 0, top)
        return out
    step = max(1, _CHUNK_ELEMENTS // max(1, arr[0].size))
    for r in range(0, arr.shape[0], step):
        block = np.asarray(arr[r : r + step], dtype=work) * work(top)
        np.rint(block, out=block)
        np.clip(block, 0, top, out=block)
        out[r : r + step] = block
    return out


def ensure_output_dir(path: str | os.PathLike, what: str = "output folder") -> Path:
    """Create ``path`` (and parents) if needed; an :class:`InputError` if it cannot be written."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(f"{path}: exists and is not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{path}: cannot create {what} ({exc.strerror})") from None
    if not os.access(path, os.W_OK):
        raise InputError(f"{path}: {what} is not writable")
    return path


def to_uint16(arr: np.ndarray) -> np.ndarray:
    """Map a ``[0, 1]`` float array to ``uint16`` 0..65535 (``round(p * 65535)``; clipped)."""
    return _quantise(arr, 65535.0, np.uint16, np.float64)


#: Rows swapped from RGB to BGR at a time when a colour image is encoded in place.
_SWAP_ROWS = 512


#: Probability maps are written as 16-bit grey PNG, value = round(p * 65535): an 8-bit map ties
#: every p < 1/510 (most of the background) and shifts AUC computed from the files by 0.002-0.009.
PROB_BITS = 16


def write_probability(path: str | os.PathLike, prob: np.ndarray, replace: bool = True,
                      compression: int = PNG_COMPRESSION) -> Path:
    """Write a probability map ``(H, W)`` in ``[0, 1]`` as a 16-bit grey PNG (``p * 65535``)."""
    return write_png(path, prob, bits=PROB_BITS, replace=replace, compression=compression)


def read_probability(path: str | os.PathLike, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Read a probability map written by this tool or another: ``(H, W)`` float32 in ``[0, 1]``.

    16-bit files are divided by 65535, 8-bit files by 255 (the bit depth of the file decides,
    not its values); a colour file is refused. ``shape`` (H, W), when given, is checked.
    """
    path = Path(path)
    arr = _read_raw(path)
    if arr.ndim == 3:
        if arr.shape[-1] in (2, 4):
            arr = arr[..., :-1]  # alpha
        if arr.shape[-1] == 3 and not (np.array_equal(arr[..., 0], arr[..., 1])
                                        and np.array_equal(arr[..., 0], arr[..., 2])):
            raise InputError(f"{path}: a probability map must be a grey image, not colour")
        arr = arr[..., 0]
    if arr.dtype == np.uint16 or (arr.dtype in (np.int32, np.uint32) and path.suffix.lower() == ".png"):
        prob = arr.astype(np.float32) / 65535.0
    elif arr.dtype == np.uint8:
        prob = arr.astype(np.float32) / 255.0
    elif np.issubdtype(arr.dtype, np.floating):
        prob = arr.astype(np.float32)
        if prob.size and (prob.min() < 0 or prob.max() > 1):
            raise InputError(f"{path}: float probability map has values outside [0, 1]")
    else:
        prob = _to_unit_float(arr)
    if shape is not None and prob.shape != tuple(shape):
        raise InputError(f"{path}: map is {prob.shape[1]}x{prob.shape[0]} but its image is {shape[1]}x{shape[0]}")
    return prob


def encode_png(arr: np.ndarray, bits: int = 8, compression: int = PNG_COMPRESSION, consume: bool = False) -> bytes:
    """PNG bytes of a grey ``(H, W)`` or RGB ``(H, W, 3)`` array (see :func:`write_png`).

    OpenCV's encoder is used rather than Pillow's: the same bytes up to zlib's choices, ~20 %
    faster here, and it releases the GIL, so a writer thread overlaps the next image's network
    pass. ``consume=True`` lets a ``uint8`` RGB array be turned into BGR in place (in row
    chunks) instead of copied: the overlay of a 14000 px photograph is 588 MB.
    """
    import cv2

    if bits not in (8, 16):
        raise ValueError("bits must be 8 or 16")
    if not 0 <= int(compression) <= 9:
        raise ValueError("PNG compression must be 0..9")
    arr = np.asarray(arr)
    if bits == 16 and arr.ndim != 2:
        raise ValueError("16-bit PNGs are written for grey (H, W) arrays only")
    data = to_uint8(arr) if bits == 8 else to_uint16(arr)
    if data.ndim == 3:
        if data.shape[-1] != 3:
            raise ValueError(f"PNG arrays are (H, W) or (H, W, 3), not {data.shape}")
        if consume and data is arr and data.flags.c_contiguous and data.flags.writeable:
            for r in range(0, data.shape[0], _SWAP_ROWS):  # RGB -> BGR, one chunk's copy at a time
                data[r:r + _SWAP_ROWS] = data[r:r + _SWAP_ROWS, :, ::-1]
        else:
            data = cv2.cvtColor(np.ascontiguousarray(data), cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(data), [cv2.IMWRITE_PNG_COMPRESSION, int(compression)])
    if not ok:  # pragma: no cover - OpenCV fails only on unsupported arrays, excluded above
        raise ValueError("PNG encoding failed")
    return buf


def write_png(path: str | os.PathLike, arr: np.ndarray, bits: int = 8, replace: bool = True,
              compression: int = PNG_COMPRESSION, consume: bool = False) -> Path:
    """Write a grey ``(H, W)`` or RGB ``(H, W, 3)`` array as PNG, atomically.

    ``bits=16`` writes grey arrays with 16 bits per pixel (floats: ``round(p * 65535)``). The file
    is written to a temporary name in the same folder and renamed, so an interruption never
    leaves a half-written PNG (and never clobbers an existing file with a broken one). With
    ``replace=False`` an existing ``path`` is never replaced, not even by a file another process
    created meanwhile (the complete file is hard-linked into place, which fails if ``path`` exists).
    A write that fails (disk full, permissions) raises :class:`OutputError` and leaves nothing.
    ``compression``: zlib level 0-9 (:data:`PNG_COMPRESSION`); ``consume``: see :func:`encode_png`.
    """
    path = Path(path)
    buf = encode_png(arr, bits=bits, compression=compression, consume=consume)
    return atomic_write(path, lambda fh: fh.write(buf), replace=replace)


