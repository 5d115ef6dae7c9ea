import pytest
import torch

from vesselseg.engine.checkpoint import load_latest, save_checkpoint
from vesselseg.errors import InputError


def test_roundtrip_and_rotation(tmp_path):
    save_checkpoint({"epoch": 1, "w": torch.ones(3)}, tmp_path)
    save_checkpoint({"epoch": 2, "w": torch.zeros(3)}, tmp_path)
    state, path = load_latest(tmp_path)
    assert state["epoch"] == 2 and path.name == "last.pt"
    assert (tmp_path / "prev.pt").exists()
    assert not list(tmp_path.glob("*.part"))


def test_corrupt_last_falls_back_to_prev(tmp_path):
    save_checkpoint({"epoch": 1}, tmp_path)
    save_checkpoint({"epoch": 2}, tmp_path)
    data = bytearray((tmp_path / "last.pt").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / "last.pt").write_bytes(bytes(data))
    state, path = load_latest(tmp_path)
    assert state["epoch"] == 1 and path.name == "prev.pt"


def test_nothing_usable(tmp_path):
    (tmp_path / "last.pt").write_bytes(b"junk")
    with pytest.raises(InputError, match="no usable checkpoint"):
        load_latest(tmp_path)
