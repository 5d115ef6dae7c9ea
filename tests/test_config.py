import pytest
from conftest import assert_clean_error, run_cli

from vesselseg.engine.config import Config, load_config, parse_overrides
from vesselseg.errors import ConfigError
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
    ("train.bf16=maybe", "train.bf16: expected true, false or auto"),
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


@pytest.mark.slow
def test_cli_bad_config_is_one_line(tmp_path):
    proc = run_cli("train", "--set", "train.epochz=2", "--out", tmp_path / "run")
    assert_clean_error(proc, "train.epochz")
    assert not (tmp_path / "run").exists()


# -- base: inheritance -------------------------------------------------------------------------

def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_base_chain_merges_section_by_section(tmp_path):
    _write(tmp_path / "root.yaml", "name: root\ndataset: {name: chase}\n"
                                   "model: {name: unet, options: {drop_prob: 0.1, attention: se}}\n"
                                   "train: {epochs: 7, seed: 3}\n")
    _write(tmp_path / "mid.yaml", "base: root.yaml\nname: mid\n"
                                  "model: {options: {attention: cbam, drop_skips: [1]}}\ntrain: {epochs: 9}\n")
    leaf = _write(tmp_path / "leaf.yaml", "base: mid.yaml\nname: leaf\nloss: {name: dice, ds_weights: [1.0]}\n")
    cfg = load_config(leaf)
    assert cfg.name == "leaf" and cfg.dataset.name == "chase" and cfg.model.name == "unet"
    assert cfg.model.options == {"drop_prob": 0.1, "attention": "cbam", "drop_skips": [1]}  # options merge key by key
    assert cfg.train.epochs == 9 and cfg.train.seed == 3  # sections merge key by key
    assert cfg.loss.name == "dice" and cfg.loss.ds_weights == [1.0]  # lists are replaced whole
    assert cfg.patches.size == Config().patches.size  # the rest: dataclass defaults
    assert load_config(tmp_path / "mid.yaml").loss.name == Config().loss.name  # a base is unchanged by its children


def test_base_path_is_relative_to_the_file_not_the_working_folder(tmp_path, monkeypatch):
    _write(tmp_path / "configs" / "common" / "base.yaml", "train: {epochs: 4}\n")
    child = _write(tmp_path / "configs" / "exp" / "child.yaml", "base: ../common/base.yaml\nname: child\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert load_config(child).train.epochs == 4
    monkeypatch.chdir(tmp_path / "configs")
    assert load_config("exp/child.yaml").train.epochs == 4  # a relative config path too


def test_set_overrides_apply_after_the_base_chain(tmp_path):
    _write(tmp_path / "base.yaml", "train: {epochs: 4, seed: 1}\nmodel: {options: {drop_prob: 0.1}}\n")
    child = _write(tmp_path / "child.yaml", "base: base.yaml\nname: child\ntrain: {epochs: 6}\n")
    cfg = load_config(child, ["train.epochs=2", "train.seed=5", "model.options.drop_prob=0.0"])
    assert cfg.train.epochs == 2 and cfg.train.seed == 5 and cfg.model.options == {"drop_prob": 0.0}
    with pytest.raises(ConfigError, match="base"):
        load_config(child, ["base=other.yaml"])


def test_saved_config_is_resolved_and_has_no_base(tmp_path):
    from vesselseg.engine.config import save_config

    _write(tmp_path / "base.yaml", "dataset: {name: stare}\ntrain: {epochs: 4}\n")
    child = _write(tmp_path / "child.yaml", "base: base.yaml\nname: child\n")
    save_config(load_config(child), tmp_path / "run.yaml")
    text = (tmp_path / "run.yaml").read_text()
    assert "base" not in text and "stare" in text and "epochs: 4" in text
    assert load_config(tmp_path / "run.yaml").to_dict() == load_config(child).to_dict()


@pytest.mark.parametrize("files,start,msg", [
    ({"a.yaml": "base: a.yaml\n"}, "a.yaml", r"a\.yaml: base 'a\.yaml' makes a cycle"),
    ({"a.yaml": "base: b.yaml\n", "b.yaml": "base: c.yaml\n", "c.yaml": "base: a.yaml\n"}, "a.yaml",
     r"c\.yaml: base 'a\.yaml' makes a cycle \(.*a\.yaml -> .*b\.yaml -> .*c\.yaml -> .*a\.yaml\)"),
    ({"a.yaml": "base: missing.yaml\n"}, "a.yaml", r"a\.yaml: base 'missing\.yaml': .*missing\.yaml not found"),
    ({"a.yaml": "base: b.yaml\n", "b.yaml": "base: gone.yaml\n"}, "a.yaml", r"b\.yaml: base 'gone\.yaml'"),
    ({"a.yaml": "base: [b.yaml]\n"}, "a.yaml", r"a\.yaml: base: expected the path"),
    ({"a.yaml": "base: sub\n", "sub/x.yaml": ""}, "a.yaml", r"a\.yaml: base 'sub': .* not a regular file"),
    ({"a.yaml": "base: b.yaml\n", "b.yaml": "train: {epochz: 1}\n"}, "a.yaml", r"train\.epochz"),
])
def test_bad_base_is_a_config_error_naming_the_file(tmp_path, files, start, msg):
    for name, text in files.items():
        _write(tmp_path / name, text)
    with pytest.raises(ConfigError, match=msg):
        load_config(tmp_path / start)


def test_shipped_configs_keep_their_names_and_bases_resolve():
    """Every run config names itself (the study runner reads ``name`` without resolving bases)."""
    import yaml

    root = repo_root() / "configs"
    for path in sorted(root.glob("*.yaml")) + sorted((root / "general").glob("*.yaml")):
        raw = yaml.safe_load(path.read_text())
        assert raw.get("name") == path.stem, path
        assert load_config(path).name == path.stem


# -- legacy and dead settings ------------------------------------------------------------------

def test_legacy_train_deterministic_is_dropped(tmp_path):
    """Configs, run folders and checkpoints written before ``train.deterministic`` was removed
    still load; the key is gone from the resolved config (and so from model cards)."""
    from vesselseg.engine.config import config_from_dict

    p = _write(tmp_path / "old.yaml", "name: old\ntrain: {epochs: 3, deterministic: true}\n")
    cfg = load_config(p)
    assert cfg.train.epochs == 3 and "deterministic" not in cfg.to_dict()["train"]
    old_state = Config().to_dict()
    old_state["train"]["deterministic"] = False
    assert "deterministic" not in config_from_dict(old_state).to_dict()["train"]
    with pytest.raises(ConfigError, match="unknown config key deterministic"):  # only where it lived
        load_config(None, ["deterministic=true"])


def test_bf16_autocasts_on_the_training_device(monkeypatch):
    import contextlib

    import torch

    from vesselseg.engine.trainer import autocast_context

    assert isinstance(autocast_context(torch.device("cpu"), False), contextlib.nullcontext)
    amp = autocast_context(torch.device("cpu"), True)
    assert amp.device == "cpu" and amp.fast_dtype == torch.bfloat16
    with amp:
        assert torch.is_autocast_enabled("cpu")
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.bfloat16
    # a CUDA model gets CUDA autocast, not CPU autocast (which would leave it in float32)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    with pytest.warns(UserWarning) if not torch.cuda.is_available() else contextlib.nullcontext():
        amp = autocast_context(torch.device("cuda", 0), True)
    assert amp.device == "cuda" and amp.fast_dtype == torch.bfloat16
    # a GPU without bfloat16 is refused by name instead of failing inside torch
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a, **k: "Old GPU")
    with pytest.raises(ConfigError, match="train.bf16: Old GPU has no bfloat16 support"):
        autocast_context(torch.device("cuda", 0), True)


def test_a_resumed_run_records_each_parts_precision():
    """A run resumed on another machine under ``auto`` may change precision: the card says which
    epochs ran in which, not only the last session's."""
    from types import SimpleNamespace

    from vesselseg.engine.trainer import Trainer

    def seg(a, b, precision):
        return {"epochs": [a, b], "seconds": 1.0, "trained_on": {"cpu": "x", "precision": precision}}

    one = SimpleNamespace(precision="fp32", segments=[seg(1, 10, "bf16 autocast"), seg(11, 20, "bf16 autocast")])
    assert Trainer.precision_record(one) == "bf16 autocast"
    mixed = SimpleNamespace(precision="fp32", segments=[seg(1, 30, "bf16 autocast"), seg(31, 50, "fp32")])
    assert Trainer.precision_record(mixed) == "bf16 autocast (epochs 1-30), fp32 (epochs 31-50)"
    assert Trainer.precision_record(SimpleNamespace(precision="fp32", segments=[])) == "fp32"


def test_bf16_auto_follows_the_cpu(monkeypatch):
    """``train.bf16: auto`` (the default): bf16 where the CPU computes it natively, fp32 elsewhere."""
    import contextlib

    import torch

    from vesselseg import settings
    from vesselseg.engine.trainer import autocast_context, resolve_bf16

    assert load_config(None, []).train.bf16 == "auto"
    assert load_config(None, ["train.bf16=false"]).train.bf16 is False
    cpu, gpu = torch.device("cpu"), torch.device("cuda", 0)
    monkeypatch.setattr(settings, "cpu_flags", lambda: {"avx2", "avx512f", "avx512_bf16"})
    monkeypatch.delenv("VESSELSEG_CPU_BF16", raising=False)
    assert settings.native_bf16_cpu() and resolve_bf16(cpu, "auto")
    assert not resolve_bf16(gpu, "auto")  # GPUs: launch-bound small steps, bf16 measured slower
    assert autocast_context(cpu, "auto").fast_dtype == torch.bfloat16
    monkeypatch.setattr(settings, "cpu_flags", lambda: {"avx2", "fma"})  # emulated bf16: 10x slower
    assert not settings.native_bf16_cpu() and not resolve_bf16(cpu, "auto")
    assert isinstance(autocast_context(cpu, "auto"), contextlib.nullcontext)
    assert resolve_bf16(cpu, True) and not resolve_bf16(cpu, False)  # explicit settings are obeyed
    monkeypatch.setenv("VESSELSEG_CPU_BF16", "1")
    assert settings.native_bf16_cpu()
