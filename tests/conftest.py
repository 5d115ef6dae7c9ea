import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vesselseg.io.datasets import FOLDERS
from vesselseg.settings import data_root

# Tests share 2 cores with whatever else runs; one thread keeps them predictable.
os.environ.setdefault("OMP_NUM_THREADS", "1")
import torch  # noqa: E402

torch.set_num_threads(1)

# --- test tiers ---------------------------------------------------------------------------------
# Markers (declared in pyproject.toml, described in docs/testing.md):
#   slow          trains, kills subprocesses, runs DDP or a browser, or runs a model on real
#                 photographs in a subprocess: anything over ~3 s. `-m "not slow"` is the fast lane.
#   data(*names)  needs the named datasets under VESSELSEG_DATA (default ../shared/datasets);
#                 skipped, naming the missing folder, when one is absent (pytest_runtest_setup below).

DATA = data_root()
DATASET_FOLDERS = FOLDERS  # dataset name -> its folder under DATA ("chase" -> "CHASEDB1")


def dataset_dir(name: str) -> Path:
    """Where dataset ``name`` (``drive``, ``stare``, ``chase``, ``avrdb``) is looked for."""
    return DATA / DATASET_FOLDERS[name]


def have_dataset(*names: str) -> bool:
    return all(dataset_dir(n).is_dir() for n in names)


def requires_dataset(*names: str) -> pytest.MarkDecorator:
    """Mark a test (or a module, through ``pytestmark``) as needing these datasets: it carries the
    ``data`` marker (selected by ``-m data``) and is skipped, naming each missing folder, when one
    is absent."""
    unknown = set(names) - set(DATASET_FOLDERS)
    if not names or unknown:
        raise ValueError(f"requires_dataset: name one or more of {sorted(DATASET_FOLDERS)}, not {names}")
    return pytest.mark.data(*names)


HAVE_DATA = have_dataset("drive")
needs_data = requires_dataset("drive")


def pytest_runtest_setup(item):
    for mark in item.iter_markers("data"):
        missing = [n for n in mark.args if not dataset_dir(n).is_dir()]
        if missing:
            pytest.skip("dataset not found: " + ", ".join(f"{n} ({dataset_dir(n)})" for n in missing)
                        + "; set VESSELSEG_DATA to the folder holding it")


def default_sigint() -> None:
    """``preexec_fn`` for a child that a test interrupts with SIGINT: a shell that starts the test run
    in the background (``cmd &`` without job control) makes it ignore SIGINT, and Python then never
    raises KeyboardInterrupt; the child gets the default disposition back."""
    import signal

    signal.signal(signal.SIGINT, signal.default_int_handler)


def run_cli(*args, cwd=None, env=None, timeout=600):
    """Run ``python -m vesselseg ARGS`` in a subprocess; returns CompletedProcess (text)."""
    e = dict(os.environ)
    e.setdefault("OMP_NUM_THREADS", "1")
    e["VESSELSEG_THREADS"] = e.get("VESSELSEG_THREADS", "1")
    if env:
        e.update(env)
    return subprocess.run([sys.executable, "-m", "vesselseg", *map(str, args)], cwd=cwd, env=e,
                          capture_output=True, text=True, timeout=timeout)


def run_experiments(*args, cwd=None, env=None, timeout=600):
    """Run ``python -m experiments ARGS`` (the paper's study tools, not installed: found through
    PYTHONPATH=<repo>) in a subprocess; returns CompletedProcess (text)."""
    e = dict(os.environ)
    e.setdefault("OMP_NUM_THREADS", "1")
    e["VESSELSEG_THREADS"] = e.get("VESSELSEG_THREADS", "1")
    e["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[1]), e.get("PYTHONPATH")]))
    if env:
        e.update(env)
    return subprocess.run([sys.executable, "-m", "experiments", *map(str, args)], cwd=cwd, env=e,
                          capture_output=True, text=True, timeout=timeout)


def assert_clean_error(proc, *fragments):
    """Non-zero exit, one ``error:`` line naming the problem, no traceback."""
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    err = proc.stderr.strip()
    assert err, "expected an error message on stderr"
    for f in fragments:
        assert f in err, f"{f!r} not in {err!r}"


# The bad-input catalogue: (case, exit status, first stderr line), filled by tests/test_bad_input*.py
# through ``record_case`` and printed at the end of the session (``pytest tests/test_bad_input*.py -s``).
CATALOGUE: list[tuple[str, int, str]] = []


def record_case(case: str, proc=None, *, rc: int | None = None, message: str | None = None) -> None:
    """Add one line to the catalogue: from a finished CLI process, or an explicit rc/message."""
    if proc is not None:
        rc = proc.returncode if rc is None else rc
        if message is None:
            message = (proc.stderr.strip().splitlines() or [""])[0]
    CATALOGUE.append((case, rc if rc is not None else 0, (message or "").replace("|", "\\|")[:150]))


def pytest_sessionfinish(session, exitstatus):
    if CATALOGUE:
        print(f"\n\nbad-input catalogue: {len(CATALOGUE)} cases\n| case | exit | message |\n|---|---|---|")
        for case, rc, msg in CATALOGUE:
            print(f"| {case} | {rc} | {msg} |")


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory):
    """An untrained 8-channel CaFFNet saved with a model card: fast weights for CLI tests."""
    from vesselseg.inference.weights import save_weights
    from vesselseg.models import create

    torch.manual_seed(0)
    model = create("caffnet", base_channels=8).eval()
    card = {"name": "tiny", "model": {"name": "caffnet", "options": {"base_channels": 8}},
            "preprocess": {"standardise": "image"}, "stats": None,
            "resolution": {"fov_diameter_px": 140.0}, "protocol": {"patch_size": 32}}
    return save_weights(model, card, tmp_path_factory.mktemp("w") / "tiny.safetensors")


@pytest.fixture
def rgb_image():
    """A synthetic 'fundus' photograph: bright disc on black with dark lines, float RGB."""
    h, w = 120, 130
    yy, xx = np.mgrid[:h, :w]
    disc = (yy - h / 2) ** 2 + (xx - w / 2) ** 2 < (0.45 * min(h, w)) ** 2
    img = np.zeros((h, w, 3), np.float32)
    img[disc] = (0.8, 0.4, 0.2)
    img[disc & (np.abs(yy - xx) < 2)] *= 0.5
    return img


@pytest.fixture
def weights(tiny_weights):
    """``tiny_weights`` under the name the bad-input tests use."""
    return tiny_weights


# --- synthetic inputs shared by several test files ----------------------------------------------

def fundus(h=160, w=200, radius=70, seed=0, dtype=np.uint8):
    """A synthetic photograph: reddish disc on black with a few dark 'vessels'."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w]
    disc = (yy - h / 2) ** 2 + (xx - w / 2) ** 2 < radius**2
    img = np.zeros((h, w, 3), np.float32)
    img[disc] = (0.75, 0.35, 0.15)
    for k in range(4):
        img[disc & (np.abs((yy - h / 2) * np.cos(k) - (xx - w / 2) * np.sin(k)) < 1.5)] *= 0.55
    img += rng.normal(0, 0.01, img.shape).astype(np.float32) * disc[..., None]
    img = np.clip(img, 0, 1)
    if dtype == np.uint8:
        return np.rint(img * 255).astype(np.uint8)
    return img


def save_image(path, arr, **kw):
    """Write ``arr`` with Pillow (format from the suffix, ``kw`` to ``Image.save``); returns ``path``."""
    from PIL import Image

    Image.fromarray(arr).save(path, **kw)
    return path


def write_photos(folder, n=2):
    """``folder/eye0.png`` ... ``eye{n-1}.png``: synthetic photographs (:func:`fundus`, seed = index)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        save_image(folder / f"eye{i}.png", fundus(seed=i))


def make_folder(root, n=3, size=72, seed=0, stem="img"):
    """A folder dataset (``images/`` + ``masks/``) of ``n`` synthetic images ``{stem}{i}.png``: dark
    straight "vessels" on a flat background. Another ``seed`` gives other images (a held-out set)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for sub in ("images", "masks"):
        (root / sub).mkdir(parents=True)
    for i in range(n):
        mask = np.zeros((size, size), bool)
        for _ in range(4):  # random straight "vessels"
            if rng.random() < 0.5:
                mask[rng.integers(0, size), :] = True
            else:
                mask[:, rng.integers(0, size)] = True
        img = np.full((size, size, 3), 170, np.uint8)
        img[mask] = (60, 30, 20)
        Image.fromarray(img).save(root / "images" / f"{stem}{i}.png")
        Image.fromarray(mask.astype(np.uint8) * 255).save(root / "masks" / f"{stem}{i}_mask.png")
