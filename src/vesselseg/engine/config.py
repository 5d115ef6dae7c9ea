"""Experiment configuration: one YAML file per run, validated into typed sections.

A file states only what differs from the defaults below, or from another config it names as
its ``base``::

    # configs/drive_caffnet_dice.yaml
    base: drive_caffnet.yaml      # relative to this file's folder; a base may have a base
    name: drive_caffnet_dice
    loss: {name: dice}

The file's keys are merged into its (resolved) base section by section -- ``model.options`` key by
key, lists replaced whole -- and ``--set`` overrides are applied last. Unknown keys and wrong types
are errors that name the key (``train.epochs: expected int, got 'ten'``). ``--set a.b=value``
overrides parse ``value`` as YAML. The resolved config (no ``base``) is saved in every run folder
and checkpoint.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from vesselseg.errors import ConfigError
from vesselseg.io.files import atomic_write_text
from vesselseg.preprocess import PreprocessConfig
from vesselseg.settings import max_threads
from vesselseg.validation import finite_number, whole_number
from vesselseg.vocabulary import MODES


@dataclass
class DatasetSection:
    name: str = "drive"  # drive | stare | chase | avrdb | folder | mixture
    data: str | None = None  # root (named datasets) or the folder (folder dataset); None: default root
    # mixture only: the training splits to combine, each a name or {name: ..., weight: ...} (a
    # source's share of every epoch's patches, relative; default 1 each), and the FOV diameter
    # (pixels) every training image is resampled to -- the model's one vessel-width scale.
    sources: list = field(default_factory=list)
    fov_diameter: float = 540.0
    # What the network learns: ``vessels`` (one channel) or ``av`` (artery and vein channels, from
    # the artery/vein maps of RITE / AVRDB; mixture only).
    labels: str = "vessels"


@dataclass
class PreprocessSection:
    grey: str = "luminance"
    standardise: str = "dataset"
    clahe: bool = True
    clahe_clip: float = 2.0
    clahe_tiles: int = 8
    gamma: float = 1.2
    colour: bool = False  # grey + R, G, B input (artery/vein models)


@dataclass
class ModelSection:
    name: str = "caffnet"
    options: dict = field(default_factory=dict)


@dataclass
class PatchSection:
    size: int = 48
    per_image: int = 1000
    augment: bool = True
    centres_in_fov: bool = False
    # mixture only: copies of each training image (the first clean, at the base scale); each other
    # copy is resampled by a log-uniform factor in [1/(1+scale_jitter), 1+scale_jitter] and, with
    # camera_augment, degraded as by another camera (vesselseg.patches.camera).
    variants: int = 1
    scale_jitter: float = 0.0
    camera_augment: bool = False


@dataclass
class LossSection:
    name: str = "bce_dice"  # the paper uses dice; bce_dice ranks probabilities better (SPEC 2)
    deep_supervision: bool = True
    ds_weights: list = field(default_factory=lambda: [0.5, 0.3, 0.2])


@dataclass
class OptimSection:
    lr: float = 5e-4
    weight_decay: float = 0.0
    min_lr: float = 0.0  # cosine annealing floor


@dataclass
class TrainSection:
    epochs: int = 50
    batch_size: int = 32
    seed: int = 0
    threads: int = 0  # 0: all cores
    channels_last: bool = True
    # bfloat16 autocast on the training device: true, false, or auto (on where the CPU has native
    # bf16 instructions, AVX-512-BF16 or AMX: 1.45x for CaFFNet, DRIVE parity run 0.9814 / 0.8309
    # against fp32's 0.9811 / 0.8305, docs/throughput.md "Training in bf16"; fp32 on
    # other CPUs, where bf16 is emulated and 10x slower, and on GPUs, where these small steps are
    # launch-bound and bf16 measured slower; docs/throughput.md)
    bf16: bool | str = "auto"
    compile: bool = False  # torch.compile the model
    eval_after: bool = True  # evaluate the final weights on the test split
    # Start from these weights (a shipped name, a .safetensors file or a run folder) instead of a
    # random initialisation: fine-tuning. The model and its options must be the ones the weights
    # were trained with; optimiser and schedule start fresh.
    init_from: str | None = None


@dataclass
class EvalSection:
    mode: str = "whole"  # whole | sliding
    threshold: float = 0.5
    tta: bool = False


@dataclass
class Config:
    name: str = "run"
    dataset: DatasetSection = field(default_factory=DatasetSection)
    preprocess: PreprocessSection = field(default_factory=PreprocessSection)
    model: ModelSection = field(default_factory=ModelSection)
    patches: PatchSection = field(default_factory=PatchSection)
    loss: LossSection = field(default_factory=LossSection)
    optim: OptimSection = field(default_factory=OptimSection)
    train: TrainSection = field(default_factory=TrainSection)
    eval: EvalSection = field(default_factory=EvalSection)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _coerce(value: Any, typ: Any, key: str) -> Any:
    origin = typing.get_origin(typ)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(typ)
        if value is None and type(None) in args:
            return None
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(value, a, key)
            except ConfigError:
                pass
        raise ConfigError(f"{key}: expected {typ}, got {value!r}")
    if typ is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected true/false, got {value!r}")
    if typ is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected an integer, got {value!r}")
    if typ is float:
        number = None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            number = float(value)
        elif isinstance(value, str):  # YAML reads 5e-4 (no dot) as a string
            try:
                number = float(value)
            except ValueError:
                pass
        if number is None:
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        if not math.isfinite(number):  # .nan / .inf in YAML, "nan" in --set
            raise ConfigError(f"{key}: expected a finite number, got {value!r}")
        return number
    if typ is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{key}: expected a string, got {value!r}")
    if typ is dict or origin is dict:
        if isinstance(value, dict):
            return value
        raise ConfigError(f"{key}: expected a mapping, got {value!r}")
    if typ is list or origin is list:
        if isinstance(value, (list, tuple)):
            return list(value)
        raise ConfigError(f"{key}: expected a list, got {value!r}")
    return value


#: Keys that older configs, run folders and checkpoints may still hold but that no longer mean
#: anything: dropped on reading, so those keep loading. ``train.deterministic`` was never read
#: (CPU training is deterministic anyway; a CUDA run is not bitwise reproducible).
LEGACY_KEYS = frozenset({"train.deterministic"})


def _build(cls, data: dict, prefix: str = ""):
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: expected a mapping, got {data!r}")
    data = {k: v for k, v in data.items() if f"{prefix}{k}" not in LEGACY_KEYS}
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"unknown config key {prefix}{unknown[0]} (valid: {', '.join(sorted(names))})")
    kwargs = {}
    for name, value in data.items():
        typ = hints[name]
        if dataclasses.is_dataclass(typ):
            kwargs[name] = _build(typ, value or {}, f"{prefix}{name}.")
        else:
            kwargs[name] = _coerce(value, typ, f"{prefix}{name}")
    return cls(**kwargs)


def _set_dotted(d: dict, dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    cur = d
    for k in keys[:-1]:
        nxt = cur.setdefault(k, {})
        if not isinstance(nxt, dict):
            raise ConfigError(f"--set {dotted}: {k} is not a section")
        cur = nxt
    cur[keys[-1]] = value


def parse_overrides(items: list[str] | tuple[str, ...]) -> dict:
    """``["train.epochs=2", "model.options.caff_mode=paper"]`` -> nested dict (values parsed as YAML)."""
    out: dict = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected key=value")
        key, raw = item.split("=", 1)
        try:
            value = yaml.safe_load(raw) if raw != "" else ""
        except yaml.YAMLError:
            value = raw
        _set_dotted(out, key.strip(), value)
    return out


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict) and k != "options":
            out[k] = _merge(out[k], v)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):  # model.options merge too
            out[k] = {**out[k], **v}
        else:
            out[k] = v
    return out


def config_from_dict(data: dict) -> Config:
    return _build(Config, data)


def _read_yaml(path: Path) -> dict:
    if path.exists() and not path.is_file():  # a folder, or a FIFO that would block the read
        raise ConfigError(f"{path}: not a regular file; expected a YAML config file")
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping")
    return data


def _read_with_bases(path: Path, chain: tuple[Path, ...] = ()) -> dict:
    """The file's keys merged over those of its ``base`` chain (``base`` itself removed)."""
    chain = (*chain, path.resolve())
    data = _read_yaml(path)
    if "base" not in data:
        return data
    base = data.pop("base")
    if not isinstance(base, str) or not base.strip():
        raise ConfigError(f"{path}: base: expected the path of another config file, got {base!r}")
    base_path = path.parent / base  # relative to this file's folder (an absolute path stays as it is)
    if not base_path.is_file():
        why = "not a regular file" if base_path.exists() else "not found"
        raise ConfigError(f"{path}: base {base!r}: {base_path} {why}")
    again = base_path.resolve()
    if again in chain:
        cycle = " -> ".join(str(p) for p in (*chain[chain.index(again):], again))
        raise ConfigError(f"{path}: base {base!r} makes a cycle ({cycle})")
    return _merge(_read_with_bases(base_path, chain), data)


def load_config(path: str | Path | None, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Read a YAML config with its ``base`` chain (or start from the defaults when ``path`` is
    None) and apply ``--set`` overrides last."""
    data: dict = _read_with_bases(Path(path)) if path is not None else {}
    over = parse_overrides(overrides)
    if "base" in over:
        raise ConfigError("--set base: a config's base can only be named in the config file")
    data = _merge(data, over)
    cfg = config_from_dict(data)
    check_values(cfg)
    if cfg.dataset.name == "mixture":
        from vesselseg.engine.mixture import check_mixture

        check_mixture(cfg)
    elif cfg.dataset.sources:
        raise ConfigError("dataset.sources applies to dataset.name: mixture only")
    if cfg.eval.mode not in MODES:
        raise ConfigError(f"eval.mode: expected 'whole' or 'sliding', got {cfg.eval.mode!r}")
    return cfg


#: Largest training patch side: every image of the named datasets (DRIVE's 565x584 the smallest)
#: must hold a whole patch, and the paper's 48 is far below it.
MAX_PATCH = 512


def _model_facts(cfg: Config) -> tuple[int, int | None, int | None]:
    """The network's down-sampling factor (inputs are padded to a multiple of it) and its input
    and output channels (None: unknown): built on the meta device, so no memory is allocated.
    Unknown names and options raise ConfigError here."""
    import torch

    from vesselseg.models import create

    if not isinstance(cfg.model.name, str):
        raise ConfigError(f"model.name: expected a string, got {cfg.model.name!r}")
    try:
        with torch.device("meta"):
            model = create(cfg.model.name, **cfg.model.options)
    except ConfigError as exc:
        raise ConfigError(f"model: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"model.options: invalid for model {cfg.model.name!r} ({exc})") from None
    except Exception:  # a builder that cannot run on the meta device: no bound from it
        return 1, None, None
    return (int(getattr(model, "size_multiple", 1) or 1), getattr(model, "in_channels", None),
            getattr(model, "out_channels", 1))


#: What a network can learn (``dataset.labels``): vessels, or arteries and veins.
LABELS = ("vessels", "av")


def _check_task(cfg: Config, in_channels: int | None, out_channels: int | None) -> None:
    """The labels, the input (grey or colour), the model's channels and the loss must fit together."""
    labels = cfg.dataset.labels
    if labels not in LABELS:
        raise ConfigError(f"dataset.labels: expected one of {', '.join(LABELS)}, got {labels!r}")
    if labels == "av" and cfg.dataset.name != "mixture":
        raise ConfigError("dataset.labels: av needs dataset.name: mixture (sources: rite, avrdb)")
    if cfg.preprocess.colour and cfg.dataset.name != "mixture":
        raise ConfigError("preprocess.colour: colour input is prepared by mixture runs only (dataset.name: "
                          "mixture, e.g. the artery/vein model's configs/av/av_unet.yaml)")
    want_in = 4 if cfg.preprocess.colour else 1
    if in_channels is not None and in_channels != want_in:
        raise ConfigError(f"model.options.in_channels: the input has {want_in} channel(s) (preprocess.colour: "
                          f"{str(cfg.preprocess.colour).lower()}) but the model takes {in_channels}")
    want_out = 2 if labels == "av" else 1
    if out_channels is not None and out_channels != want_out:
        raise ConfigError(f"model.options.out_channels: dataset.labels {labels} needs {want_out} output "
                          f"channel(s), the model has {out_channels}")
    masked = cfg.loss.name == "masked_bce_dice"
    if masked != (labels == "av"):
        raise ConfigError("loss.name: artery/vein labels train with masked_bce_dice (it leaves uncertain vessels "
                          "out), and only they do" if labels == "av" else
                          "loss.name: masked_bce_dice is for dataset.labels: av")
    if labels == "av" and cfg.train.eval_after:
        raise ConfigError("train.eval_after: the vessel evaluation does not score artery/vein models; set it to "
                          "false and run benchmarks/av_eval.py on the weights")
    if labels == "av" and cfg.loss.deep_supervision:
        raise ConfigError("loss.deep_supervision: not available for artery/vein labels; set it to false")


def check_values(cfg: Config) -> None:
    """Range checks of the numeric keys (types are checked while building): each error names its key."""
    t, p, o = cfg.train, cfg.patches, cfg.optim
    whole_number(t.epochs, "train.epochs", 1)
    whole_number(t.batch_size, "train.batch_size", 1)
    whole_number(p.per_image, "patches.per_image", 1)
    whole_number(t.seed, "train.seed", 0, 2**32 - 1)
    whole_number(t.threads, "train.threads", 0, max_threads())  # 0: all cores
    if isinstance(t.bf16, str) and t.bf16 != "auto":
        raise ConfigError(f"train.bf16: expected true, false or auto, got {t.bf16!r}")
    finite_number(o.lr, "optim.lr", 0, lo_open=True)
    finite_number(o.weight_decay, "optim.weight_decay", 0)
    finite_number(o.min_lr, "optim.min_lr", 0)
    if o.min_lr > o.lr:
        raise ConfigError(f"optim.min_lr {o.min_lr:g} exceeds optim.lr {o.lr:g}: the cosine schedule would "
                          "raise the learning rate")
    finite_number(cfg.eval.threshold, "eval.threshold", 0, 1)
    finite_number(cfg.dataset.fov_diameter, "dataset.fov_diameter", 0, lo_open=True)
    whole_number(p.variants, "patches.variants", 1)
    finite_number(p.scale_jitter, "patches.scale_jitter", 0, 1)
    if not cfg.loss.ds_weights and cfg.loss.deep_supervision:
        raise ConfigError("loss.ds_weights: one weight per deep-supervision output is needed")
    for i, w in enumerate(cfg.loss.ds_weights):
        finite_number(w, f"loss.ds_weights[{i}]", 0)
    try:
        PreprocessConfig.from_dict(dataclasses.asdict(cfg.preprocess))
    except TypeError as exc:
        raise ConfigError(f"preprocess: {exc}") from None
    multiple, in_channels, out_channels = _model_facts(cfg)
    _check_task(cfg, in_channels, out_channels)
    smallest = max(16, multiple)
    if not smallest <= p.size <= MAX_PATCH:
        why = (f"model {cfg.model.name!r} down-samples by {multiple}" if multiple > 16
               else "smaller patches hold too little context")
        raise ConfigError(f"patches.size: {p.size} is out of range; it must be between {smallest} "
                          f"({why}) and {MAX_PATCH} (training images must hold a whole patch)")


def save_config(cfg: Config, path: str | Path) -> None:
    atomic_write_text(path, yaml.safe_dump(cfg.to_dict(), sort_keys=False))
