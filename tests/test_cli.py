"""The command line as a user meets it: help, the main command, and one-line errors."""

import pytest
from conftest import DATA, assert_clean_error, requires_dataset, run_cli


def test_help_lists_commands():
    proc = run_cli("--help")
    assert proc.returncode == 0
    for cmd in ("preprocess", "datasets", "models", "train", "evaluate", "segment", "measure", "export", "serve"):
        assert cmd in proc.stdout
    # The paper's study tools live beside the library (python -m experiments), not in the user CLI.
    for cmd in ("study", "report", "figures"):
        assert f"  {cmd} " not in proc.stdout
    sub = run_cli("train", "--help")
    assert "--resume" in sub.stdout and "--set" in sub.stdout
    sub = run_cli("segment", "--help")
    assert sub.returncode == 0 and "--scale" in sub.stdout and "--backend" in sub.stdout


@pytest.mark.slow
def test_main_command_on_sample_image(tmp_path):
    out = tmp_path / "stages"
    proc = run_cli("preprocess", "--out", out)
    assert proc.returncode == 0, proc.stderr
    names = {p.name for p in out.iterdir()}
    assert {"sample_retina_1_grey.png", "sample_retina_4_gamma.png", "sample_retina_stages.png"} <= names


@pytest.mark.slow
def test_models_lists_registry_with_counts():
    proc = run_cli("models")
    assert proc.returncode == 0, proc.stderr
    line = next(l for l in proc.stdout.splitlines() if l.startswith("caffnet"))
    assert "617,748" in line and "yes" in line


@pytest.mark.slow
def test_missing_and_unreadable_image(tmp_path):
    out = tmp_path / "out"
    assert_clean_error(run_cli("preprocess", tmp_path / "nope.png", "--out", out), "nope.png", "no such file")
    assert not out.exists()  # nothing created for a failed command
    bad = tmp_path / "text.png"
    bad.write_text("not a picture")
    assert_clean_error(run_cli("preprocess", bad, "--out", out), "text.png", "not an image")
    proc = run_cli("preprocess", bad, "--out", out)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_missing_dataset_root(tmp_path):
    assert_clean_error(run_cli("datasets", "--data", tmp_path / "none"), "none", "dataset folder not found")


@pytest.mark.slow
def test_output_path_is_a_file(tmp_path):
    f = tmp_path / "file"
    f.write_text("keep me")
    assert_clean_error(run_cli("preprocess", "--out", f), "not a folder")
    assert f.read_text() == "keep me"


@pytest.mark.slow
@requires_dataset("stare")
def test_datasets_lists_the_sets_present_and_names_the_absent(tmp_path):
    """A root holding only some sets (say STARE alone) is checked, the others named as skipped."""
    (tmp_path / "STARE").symlink_to(DATA / "STARE")
    proc = run_cli("datasets", "--data", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "stare  train images=10" in proc.stdout and "stare  test  images=10" in proc.stdout
    for name in ("drive", "chase", "avrdb"):
        assert f"{name:6s} not found under" in proc.stdout
