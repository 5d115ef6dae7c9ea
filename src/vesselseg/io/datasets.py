"""Dataset definitions: which files make up each split of DRIVE, STARE, CHASE_DB1 or a folder.

A dataset is a function ``(root, split) -> list[Sample]`` registered under a name. Splits are the
paper's: DRIVE official 20/20; STARE first 10 / last 10 in file-name order; CHASE_DB1 first 20 /
last 8 in file-name order. AVRDB (another camera, artery/vein labels only): first 70 / last 30 in
file-name order, vessel = any labelled colour. ``label`` is the first observer; ``label2`` the second where shipped.
``fov`` is ``None`` where the dataset ships no FOV mask; :func:`load_sample` then derives one
(:func:`vesselseg.io.fov.derive_fov`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from vesselseg.errors import InputError
from vesselseg.io.av import read_av_label, vessel_from_av
from vesselseg.io.fov import derive_fov
from vesselseg.io.images import IMAGE_SUFFIXES, read_image, read_mask
from vesselseg.settings import data_root
from vesselseg.vocabulary import SPLITS

# Training images per split of the built-in datasets (the paper's splits): what a patch epoch
# samples from, so also what a training run's length follows from.
TRAIN_IMAGES = {"drive": 20, "stare": 10, "chase": 20, "avrdb": 70, "rite": 20}
#: Optic-disc sets: training images of each (the rest is held out; see each loader).
DISC_TRAIN_IMAGES = {"drive_od": 20, "idrid_od": 484, "drishti_od": 40, "avwide_od": 20}


@dataclass(frozen=True)
class Sample:
    """Paths of one image and its annotations."""

    name: str
    image: Path
    label: Path | None
    fov: Path | None = None
    label2: Path | None = None
    # mask: binary image | av: artery/vein colours (vessel = any class) | majority: a soft map of
    # expert agreement, label = at least half agree | ellipse: drawn from ``ellipse`` (no file)
    label_format: str = "mask"
    #: ``(cx, cy, width, height)`` in image pixels for ``label_format="ellipse"``; None: no object.
    ellipse: tuple[float, float, float, float] | None = None


@dataclass
class LoadedSample:
    """A sample read into memory: ``image`` float32 ``(H, W, 3)``; masks bool ``(H, W)``."""

    name: str
    image: np.ndarray
    label: np.ndarray | None
    fov: np.ndarray
    label2: np.ndarray | None = None
    fov_derived: bool = False


DatasetFn = Callable[[Path, str], list[Sample]]
DATASETS: dict[str, DatasetFn] = {}
#: Folder name of each dataset under the data root.
FOLDERS = {"drive": "DRIVE", "stare": "STARE", "chase": "CHASEDB1", "avrdb": "AVRDB", "rite": "RITE",
           "drive_od": "DRIVE-OD", "idrid_od": "IDRiD-DIARETDB1-OD", "drishti_od": "Drishti-GS1",
           "avwide_od": "AV-WIDE"}


def register_dataset(name: str) -> Callable[[DatasetFn], DatasetFn]:
    def deco(fn: DatasetFn) -> DatasetFn:
        DATASETS[name] = fn
        return fn

    return deco


def _require(path: Path) -> Path:
    if not path.is_file():
        raise InputError(f"{path}: missing file (dataset folder incomplete)")
    return path


def _listing(folder: Path, pattern: str) -> list[Path]:
    if not folder.is_dir():
        raise InputError(f"{folder}: dataset folder not found (set VESSELSEG_DATA or --data)")
    files = sorted(folder.glob(pattern))
    if not files:
        raise InputError(f"{folder}: no files matching {pattern!r}")
    return files


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise InputError(f"unknown split {split!r}; choose from {', '.join(SPLITS)}")


def _first_n(files: list[Path], n: int, split: str) -> list[Path]:
    """The first ``n`` files (file-name order) are the training split, the rest the test split."""
    _check_split(split)
    return files[:n] if split == "train" else files[n:]


@register_dataset("drive")
def drive(root: Path, split: str) -> list[Sample]:
    """DRIVE: ``training/`` (21-40) and ``test/`` (01-20); FOV masks shipped; test has 2nd_manual."""
    _check_split(split)
    sub = root / ("training" if split == "train" else "test")
    tag = "training" if split == "train" else "test"
    out = []
    for img in _listing(sub / "images", f"*_{tag}.tif"):
        num = img.name.split("_")[0]
        label2 = sub / "2nd_manual" / f"{num}_manual2.gif"
        out.append(
            Sample(
                name=f"{num}_{tag}",
                image=img,
                label=_require(sub / "1st_manual" / f"{num}_manual1.gif"),
                fov=_require(sub / "mask" / f"{num}_{tag}_mask.gif"),
                label2=_require(label2) if split == "test" else None,
            )
        )
    return out


@register_dataset("stare")
def stare(root: Path, split: str) -> list[Sample]:
    """STARE: 20 labelled images; first 10 train, last 10 test (file-name order); no FOV masks."""
    chosen = _first_n(_listing(root / "stare-images", "im*.ppm"), TRAIN_IMAGES["stare"], split)
    return [
        Sample(
            name=img.stem,
            image=img,
            label=_require(root / "labels-ah" / f"{img.stem}.ah.ppm"),
            label2=_require(root / "labels-vk" / f"{img.stem}.vk.ppm"),
        )
        for img in chosen
    ]


@register_dataset("chase")
def chase(root: Path, split: str) -> list[Sample]:
    """CHASE_DB1: 28 images; first 20 train, last 8 test (file-name order); no FOV masks."""
    chosen = _first_n(_listing(root, "Image_*.jpg"), TRAIN_IMAGES["chase"], split)
    return [
        Sample(
            name=img.stem,
            image=img,
            label=_require(root / f"{img.stem}_1stHO.png"),
            label2=_require(root / f"{img.stem}_2ndHO.png"),
        )
        for img in chosen
    ]


@register_dataset("avrdb")
def avrdb(root: Path, split: str) -> list[Sample]:
    """AVRDB: 100 photographs (1504x1000) with artery/vein labels as lossy JPEG; first 70 train,
    last 30 test (file-name order); no FOV masks, no second observer.

    Its vessels are drawn with a broad brush (wider than in the photograph, the finest capillaries
    absent): a vessel label for training and a second camera to test on, coarse as calibre truth.
    """
    # One file is named .JPG: match the suffix case-insensitively, or the split would shift.
    images = sorted(p for p in _listing(root / "images", "IM*") if p.suffix.lower() == ".jpg")
    chosen = _first_n(images, TRAIN_IMAGES["avrdb"], split)
    return [Sample(name=img.stem, image=img, label=_require(root / "av-labels" / f"{img.stem}--av.jpg"),
                   label_format="av") for img in chosen]


@register_dataset("rite")
def rite(root: Path, split: str) -> list[Sample]:
    """RITE: artery/vein labels of the 40 DRIVE photographs (DRIVE's split: training 21-40, test
    01-20), drawn red artery, blue vein, green crossing, white uncertain. The photographs and FOV
    masks are DRIVE's own, found beside RITE under the same data root."""
    out = []
    for s in drive(root.parent / FOLDERS["drive"], split):
        tag = "training" if split == "train" else "test"
        out.append(Sample(name=s.name, image=s.image, fov=s.fov, label_format="av",
                          label=_require(root / tag / "av" / f"{s.name}.png")))
    return out


#: The datasets whose labels are artery/vein maps (``label_format="av"``): what an A/V model trains on.
AV_DATASETS = ("rite", "avrdb")


def load_av_classes(sample: Sample) -> np.ndarray:
    """The artery/vein class map ``(H, W)`` uint8 of a sample with an artery/vein label."""
    if sample.label_format != "av" or sample.label is None:
        raise InputError(f"{sample.name}: has no artery/vein label")
    return read_av_label(sample.label)


# --- optic disc sets (label = the disc) --------------------------------------------------------------

@register_dataset("drive_od")
def drive_od(root: Path, split: str) -> list[Sample]:
    """DRIVE's photographs with the optic-disc masks of DRIVE-OD (same train/test split as DRIVE)."""
    _check_split(split)
    tag = "training" if split == "train" else "test"
    out = []
    for s in drive(root.parent / FOLDERS["drive"], split):
        out.append(Sample(name=s.name, image=s.image, label=_require(root / f"{s.name.split('_')[0]}_{tag}_od.png"),
                          fov=s.fov))
    return out


@register_dataset("idrid_od")
def idrid_od(root: Path, split: str) -> list[Sample]:
    """IDRiD + DIARETDB1 with optic-disc boxes (``discs.csv``), the disc drawn as the box's ellipse.

    605 photographs in file-name order; every fifth (the 5th, 10th, ...: 121) is held out as the
    test split, so both sources are in both splits. Two images have no box (no disc drawn): their
    label is empty.
    """
    import csv

    _check_split(split)
    table = _require(root / "discs.csv")
    with open(table, newline="") as fh:
        rows = sorted(csv.DictReader(fh), key=lambda r: r["image"])
    out = []
    for i, row in enumerate(rows):
        if (i % 5 == 4) != (split == "test"):
            continue
        box = None
        if row["disc_cx"]:
            box = tuple(float(row[k]) for k in ("disc_cx", "disc_cy", "disc_w", "disc_h"))
        out.append(Sample(name=Path(row["image"]).stem, image=_require(root / "images" / row["image"]), label=None,
                          label_format="ellipse", ellipse=box))
    return out


@register_dataset("drishti_od")
def drishti_od(root: Path, split: str) -> list[Sample]:
    """Drishti-GS1 (training part, disc-centred): first 40 train, last 10 test (file-name order);
    the disc is where at least half of the experts drew it (soft map >= 128)."""
    chosen = _first_n(_listing(root / "images", "drishtiGS_*.jpg"), DISC_TRAIN_IMAGES["drishti_od"], split)
    return [Sample(name=img.stem, image=img, label=_require(root / "od_softmap" / f"{img.stem}_od.png"),
                   label_format="majority") for img in chosen]


@register_dataset("avwide_od")
def avwide_od(root: Path, split: str) -> list[Sample]:
    """AV-WIDE (ultra-widefield, pseudo-colour) with optic-disc masks: first 20 train, last 10 test."""
    chosen = _first_n(_listing(root / "images", "wide_image_*.png"), DISC_TRAIN_IMAGES["avwide_od"], split)
    return [Sample(name=img.stem, image=img, label=_require(root / "od" / f"{img.stem}_od.png")) for img in chosen]


def folder_samples(root: Path, split: str | None = None) -> list[Sample]:
    """A user's folder: ``images/`` + ``masks/`` (+ optional ``fov/``), matched by file stem.

    If ``root/<split>/images`` exists the split sub-folder is used, otherwise ``root`` itself
    (for both splits). Mask and FOV file names may carry a suffix after the stem
    (``01.png`` ↔ ``01_manual.gif``): the longest image stem that prefixes the mask's stem wins.
    An image without a mask is an error (train), or allowed with ``label=None`` (no ``masks/``
    folder at all, e.g. for inference only).
    """
    if split and (root / split / "images").is_dir():
        root = root / split
    img_dir = root / "images"
    if not img_dir.is_dir():
        raise InputError(f"{img_dir}: folder dataset needs an 'images/' sub-folder")
    images = sorted(p for p in img_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise InputError(f"{img_dir}: no images found")

    def match(folder: Path) -> dict[str, Path]:
        found: dict[str, Path] = {}
        if not folder.is_dir():
            return found
        stems = sorted((p.stem for p in images), key=len, reverse=True)
        for f in sorted(folder.iterdir()):
            if f.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            for s in stems:
                if f.stem == s or f.stem.startswith(s + "_") or f.stem.startswith(s + "-"):
                    found.setdefault(s, f)
                    break
        return found

    has_masks = (root / "masks").is_dir()
    masks, fovs = match(root / "masks"), match(root / "fov")
    out = []
    for img in images:
        if has_masks and img.stem not in masks:
            raise InputError(f"{img}: no matching mask in {root / 'masks'}")
        out.append(Sample(name=img.stem, image=img, label=masks.get(img.stem), fov=fovs.get(img.stem)))
    return out


@register_dataset("folder")
def folder(root: Path, split: str) -> list[Sample]:
    return folder_samples(root, split)


def get_dataset(name: str) -> DatasetFn:
    try:
        return DATASETS[name]
    except KeyError:
        raise InputError(f"unknown dataset {name!r}; choose from {', '.join(sorted(DATASETS))}") from None


def dataset_dir(name: str, data: str | Path | None = None) -> Path:
    """Folder of a named dataset (``folder``: ``data`` itself is the folder)."""
    if name == "folder":
        if data is None:
            raise InputError("the folder dataset needs a path (--data DIR)")
        return Path(data)
    return data_root(data) / FOLDERS[name]


def load_split(name: str, split: str, data: str | Path | None = None) -> list[Sample]:
    """List the samples of ``split`` of dataset ``name`` under the data root (or ``data``)."""
    fn = get_dataset(name)
    return fn(dataset_dir(name, data), split)


def _ellipse_label(shape: tuple[int, int], box: tuple[float, float, float, float] | None) -> np.ndarray:
    import cv2

    out = np.zeros(shape, np.uint8)
    if box is not None:
        cx, cy, w, h = box
        cv2.ellipse(out, (round(cx), round(cy)), (max(1, round(w / 2)), max(1, round(h / 2))), 0, 0, 360, 1, -1)
    return out.astype(bool)


def _read_label(path: Path, shape: tuple[int, int], label_format: str) -> np.ndarray:
    if label_format == "majority":
        grey = read_image(path)[..., 0]
        if grey.shape != tuple(shape):
            raise InputError(f"{path}: label is {grey.shape[1]}x{grey.shape[0]} but its image is "
                             f"{shape[1]}x{shape[0]}")
        return grey >= 0.5 - 1e-6  # values are k/255: at least 128 of 255
    if label_format == "av":
        vessels = vessel_from_av(read_av_label(path))
        if vessels.shape != tuple(shape):
            raise InputError(f"{path}: label is {vessels.shape[1]}x{vessels.shape[0]} but its image is "
                             f"{shape[1]}x{shape[0]}")
        return vessels
    return read_mask(path, shape)


def load_sample(sample: Sample, observer2: bool = True) -> LoadedSample:
    """Read a sample's files, checking that every mask matches the image's size."""
    image = read_image(sample.image)
    shape = image.shape[:2]
    if sample.label_format == "ellipse":
        label = _ellipse_label(shape, sample.ellipse)
    else:
        label = _read_label(sample.label, shape, sample.label_format) if sample.label else None
    label2 = read_mask(sample.label2, shape) if (observer2 and sample.label2) else None
    if sample.fov is not None:
        fov, derived = read_mask(sample.fov, shape), False
    else:
        fov, derived = derive_fov(image), True
    if not fov.any():
        raise InputError(f"{sample.fov or sample.image}: FOV mask is empty")
    return LoadedSample(sample.name, image, label, fov, label2, derived)
