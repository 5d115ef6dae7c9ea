"""The package's layers (pyproject.toml, [tool.importlinter]): each imports only those below it."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_layer_contract_is_kept():
    code = ("import sys; from importlinter.cli import lint_imports; "
            f"sys.exit(lint_imports(config_filename={str(REPO / 'pyproject.toml')!r}, no_cache=True))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "1 kept, 0 broken" in out, out


def test_listing_weights_does_not_import_torch():
    """The web server's parent process and `--help` list shipped weights without paying for torch."""
    code = ("import sys; from vesselseg.inference.weights import shipped_weights; "
            "names = sorted(shipped_weights()); assert 'torch' not in sys.modules, 'torch imported'; print(names)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "drive" in proc.stdout and "general" in proc.stdout


def test_lint_is_clean():
    """ruff (pyproject [tool.ruff]): pyflakes, pycodestyle, sorted imports, over the whole repository."""
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "."], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
