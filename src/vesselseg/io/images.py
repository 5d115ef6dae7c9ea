"""Image and mask readers/writers.

Images come out as ``float32`` RGB arrays ``(H, W, 3)`` in ``[0, 1]`` whatever the file held
(grey, palette, RGBA, 8 or 16 bit); masks as ``bool`` arrays ``(H, W)``. Every failure is an
:class:`~vesselseg.errors.InputError` that names the file.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from vesselseg.errors import InputError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".gif", ".ppm", ".pgm", ".pbm", ".bmp")

#: Refuse images larger than this many pixels (about 16k x 12k): decoding alone would take
#: several GB. Override with the ``VESSELSEG_MAX_PIXELS`` environment variable.
DEFAULT_MAX_PIXELS = 200_000_000


def max_pixels() -> int:
    return int(os.environ.get("VESSELSEG_MAX_PIXELS", DEFAULT_MAX_PIXELS))


def _check_file(path: Path) -> None:
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, expected an image file")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: file is empty")


def _read_raw(path: Path) -> np.ndarray:
    """Decode ``path`` to a numpy array as stored (no scaling), ``(H, W)`` or ``(H, W, C)``."""
    _check_file(path)
    limit = max_pixels()
    if path.suffix.lower() in (".tif", ".tiff"):
        # tifffile reads 16-bit and multi-sample TIFFs that Pillow cannot; Pillow stays the
        # fallback for the odd TIFF flavour tifffile rejects.
        try:
            import tifffile

            arr = tifffile.imread(path)
            if arr.ndim == 3 and arr.shape[0] in (3, 4) and arr.shape[-1] not in (3, 4):
                arr = np.moveaxis(arr, 0, -1)  # planar (C, H, W) storage
            if arr.ndim in (2, 3):
                if arr.shape[0] * arr.shape[1] > limit:
                    raise InputError(
                        f"{path}: image has {arr.shape[0] * arr.shape[1]} pixels, more than the "
                        f"limit of {limit} (set VESSELSEG_MAX_PIXELS to raise it)"
                    )
                return arr
        except InputError:
            raise
        except Exception:
            pass
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            # Our own limit, checked on the header below before any pixel is decoded; Pillow's
            # bomb check would fire first at 2x the limit with a message naming its own number.
            Image.MAX_IMAGE_PIXELS = None
            with Image.open(path) as im:
                if im.width * im.height > limit:
                    raise InputError(
                        f"{path}: image has {im.width * im.height} pixels, more than the limit of "
                        f"{limit} (set VESSELSEG_MAX_PIXELS to raise it)"
                    )
                im.load()
                return _pil_to_array(im)
    except InputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InputError(f"{path}: image too large ({exc})") from None
    except UnidentifiedImageError:
        raise InputError(f"{path}: not an image file (or a format that cannot be read)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"{path}: cannot decode image ({exc})") from None


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
    their full precision (divided by 65535).
    """
    path = Path(path)
    return as_rgb(_read_raw(path), name=str(path))


def as_rgb(arr: np.ndarray, name: str = "image") -> np.ndarray:
    """Any image array -> ``float32`` RGB ``(H, W, 3)`` in ``[0, 1]``.

    Accepts grey ``(H, W)``, ``(H, W, 1)``, grey+alpha, RGB and RGBA, as ``uint8``, ``uint16``,
    bool or float (floats above 1 are divided by their maximum). Alpha is dropped.
    """
    arr = np.asarray(arr)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise InputError(f"{name}: expected a numeric image array, got dtype {arr.dtype}")
    arr = _to_unit_float(arr)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=-1)
    elif arr.ndim == 3 and arr.shape[-1] == 1:
        arr = np.repeat(arr, 3, axis=-1)
    elif arr.ndim == 3 and arr.shape[-1] == 2:  # grey + alpha
        arr = np.repeat(arr[..., :1], 3, axis=-1)
    elif arr.ndim == 3 and arr.shape[-1] >= 4:
        arr = arr[..., :3]
    if arr.ndim != 3 or arr.shape[-1] != 3:
        raise InputError(f"{name}: unsupported image layout {arr.shape}")
    if min(arr.shape[:2]) < 16:
        raise InputError(f"{name}: image is {arr.shape[1]}x{arr.shape[0]} pixels; at least 16x16 is needed")
    if not np.isfinite(arr).all():
        raise InputError(f"{name}: image holds NaN or infinite values")
    return np.ascontiguousarray(arr, dtype=np.float32)


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
    return np.clip(np.rint(np.asarray(arr, dtype=np.float32) * 255.0), 0, 255).astype(np.uint8)


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


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def to_uint16(arr: np.ndarray) -> np.ndarray:
    """Map a ``[0, 1]`` float array to ``uint16`` 0..65535 (``round(p * 65535)``; clipped)."""
    return np.clip(np.rint(np.asarray(arr, dtype=np.float64) * 65535.0), 0, 65535).astype(np.uint16)


#: Probability maps are written as 16-bit grey PNG, value = round(p * 65535): an 8-bit map ties
#: every p < 1/510 (most of the background) and shifts AUC computed from the files by 0.002-0.009.
PROB_BITS = 16


def write_probability(path: str | os.PathLike, prob: np.ndarray) -> Path:
    """Write a probability map ``(H, W)`` in ``[0, 1]`` as a 16-bit grey PNG (``p * 65535``)."""
    return write_png(path, prob, bits=PROB_BITS)


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


def write_png(path: str | os.PathLike, arr: np.ndarray, bits: int = 8) -> Path:
    """Write a grey ``(H, W)`` or RGB ``(H, W, 3)`` array as PNG, atomically.

    ``bits=16`` writes grey arrays with 16 bits per pixel (floats: ``round(p * 65535)``). The file
    is written to a temporary name in the same folder and renamed, so an interruption never
    leaves a half-written PNG (and never clobbers an existing file with a broken one).
    """
    path = Path(path)
    if bits not in (8, 16):
        raise ValueError("bits must be 8 or 16")
    if bits == 16 and np.asarray(arr).ndim != 2:
        raise ValueError("16-bit PNGs are written for grey (H, W) arrays only")
    data = to_uint8(arr) if bits == 8 else to_uint16(arr)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".png.part", dir=path.parent)
    except OSError as exc:
        raise InputError(f"{path.parent}: cannot write output folder ({exc.strerror})") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            Image.fromarray(data).save(fh, format="PNG")
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; outputs get the usual mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
