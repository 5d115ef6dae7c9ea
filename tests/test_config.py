import pytest

from vesselseg.engine.config import Config, load_config, parse_overrides
from vesselseg.errors import ConfigError
from conftest import assert_clean_error, run_cli

from vesselseg.settings import repo_root

CONFIGS = sorted((repo_root() / "configs").glob("*.yaml"))


def test_defaults_are_the_paper_protocol():
    cfg = load_config(None)
    assert cfg.patches.size == 48 and cfg.patches.per_image == 1000
    assert cfg.train.epochs == 50 and cfg.train.batch_size == 32
    assert cfg.optim.lr == 5e-4 and cfg.loss.ds_weights == [0.5, 0.3, 0.2]


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_configs_load(path):
    cfg = load_config(path)
    assert isinstance(cfg, Config) and cfg.name == path.stem


def test_overrides_typed_and_nested():
    cfg = load_config(None, ["train.epochs=2", "optim.lr=1e-3", "model.options.caff_mode=paper",
                             "dataset.data=/x"])
    assert cfg.train.epochs == 2 and cfg.optim.lr == 1e-3
    assert cfg.model.options == {"caff_mode": "paper"} and cfg.dataset.data == "/x"
    assert parse_overrides(["a.b=[1, 2]"]) == {"a": {"b": [1, 2]}}


@pytest.mark.parametrize("override,msg", [
    ("train.epoch=3", "unknown config key train.epoch"),
    ("train.epochs=ten", "train.epochs: expected an integer"),
    ("train.bf16=maybe", "train.bf16: expected true/false"),
    ("bogus=1", "unknown config key bogus"),
    ("train.epochs=0", "must be >= 1"),
    ("eval.mode=fast", "eval.mode"),
])
def test_bad_config_names_the_key(override, msg):
    with pytest.raises(ConfigError, match=msg.replace(".", r"\.")):
        load_config(None, [override])


def test_bad_yaml_file(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("train: {epochs: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(p)
    p.write_text("train:\n  epochz: 3\n")
    with pytest.raises(ConfigError, match="train.epochz"):
        load_config(p)


def test_cli_bad_config_is_one_line(tmp_path):
    proc = run_cli("train", "--set", "train.epochz=2", "--out", tmp_path / "run")
    assert_clean_error(proc, "train.epochz")
    assert not (tmp_path / "run").exists()
