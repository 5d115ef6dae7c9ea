import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vesselseg.settings import data_root

# Tests share 2 cores with whatever else runs; one thread keeps them predictable.
os.environ.setdefault("OMP_NUM_THREADS", "1")
import torch  # noqa: E402

torch.set_num_threads(1)

DATA = data_root()
HAVE_DATA = (DATA / "DRIVE").is_dir()
needs_data = pytest.mark.skipif(not HAVE_DATA, reason=f"datasets not found under {DATA}")


def run_cli(*args, cwd=None, env=None, timeout=600):
    """Run ``python -m vesselseg ARGS`` in a subprocess; returns CompletedProcess (text)."""
    e = dict(os.environ)
    e.setdefault("OMP_NUM_THREADS", "1")
    e["VESSELSEG_THREADS"] = e.get("VESSELSEG_THREADS", "1")
    if env:
        e.update(env)
    return subprocess.run([sys.executable, "-m", "vesselseg", *map(str, args)], cwd=cwd, env=e,
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
    from vesselseg.engine.weights import save_weights
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
