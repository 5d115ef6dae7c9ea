"""The training loop: patches -> model -> loss -> Adam with cosine annealing, with full resume.

A run folder holds ``config.yaml`` (resolved), ``log.csv`` (one row per finished epoch),
``learning_curve.png``, ``checkpoints/`` (see :mod:`vesselseg.engine.checkpoint`), and at the end
``model.safetensors`` + ``model.json`` (model card). Model selection: none -- the last epoch's
weights are the result (no validation split is carved out, and the test split is never looked at
during training).
"""

from __future__ import annotations

import csv
import io
import math
import time
from contextlib import nullcontext
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from vesselseg.engine import distributed
from vesselseg.engine.checkpoint import load_latest, save_checkpoint, sha256_hex
from vesselseg.engine.config import Config, config_from_dict, load_config, save_config
from vesselseg.engine.data import fit_training_stats, load_raw, prepare, preprocess_config
from vesselseg.engine.mixture import prepare_mixture
from vesselseg.errors import ConfigError, InputError, TrainingError
from vesselseg.inference.weights import code_version, save_weights
from vesselseg.io.files import atomic_write, atomic_write_text
from vesselseg.io.fov import training_resolution
from vesselseg.io.images import ensure_output_dir
from vesselseg.losses import build_loss
from vesselseg.models import count_parameters, create
from vesselseg.patches import PatchDataset
from vesselseg.preprocess import input_channels
from vesselseg.settings import machine_summary, native_bf16_cpu, set_threads

LOG_FIELDS = ("epoch", "loss", "loss_final", "loss_aux", "lr", "seconds", "patches_per_s", "device")


def build_model(cfg: Config) -> torch.nn.Module:
    model = create(cfg.model.name, **cfg.model.options)
    if cfg.train.channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model


def initialise_from(model: torch.nn.Module, cfg: Config) -> dict:
    """Load ``cfg.train.init_from``'s weights into ``model`` (fine-tuning); returns what the card
    records about them. The weights' card must name the same model and options as ``cfg``."""
    from vesselseg.inference.weights import load_model, resolve_weights

    source = cfg.train.init_from
    try:
        donor, card = load_model(source)
    except InputError as exc:
        raise ConfigError(f"train.init_from: {exc}") from None
    theirs = (card["model"]["name"], card["model"].get("options") or {})
    if theirs != (cfg.model.name, cfg.model.options):
        raise ConfigError(f"train.init_from: {source} holds model {theirs[0]!r} with options {theirs[1]}, "
                          f"but this run trains {cfg.model.name!r} with options {cfg.model.options}")
    model.load_state_dict(donor.state_dict())
    path = resolve_weights(source)
    return {"weights": str(source), "name": card.get("name"), "file_sha256": sha256_hex(path.read_bytes()),
            "epochs": (card.get("protocol") or {}).get("epochs")}


def resolve_bf16(device: torch.device, bf16: bool | str) -> bool:
    """``train.bf16`` for this device: ``auto`` is on for a CPU with native bfloat16 instructions
    (:func:`~vesselseg.settings.native_bf16_cpu`) and off elsewhere (GPUs included)."""
    if bf16 == "auto":
        return device.type == "cpu" and native_bf16_cpu()
    return bool(bf16)


def autocast_context(device: torch.device, bf16: bool | str):
    """``train.bf16``: bfloat16 autocast on the device the model trains on (``torch.autocast("cpu")``
    would leave a CUDA model in float32 without a word), or no autocast."""
    if not resolve_bf16(device, bf16):
        return nullcontext()
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ConfigError(f"train.bf16: {torch.cuda.get_device_name(device)} has no bfloat16 support; "
                          "set train.bf16=false")
    return torch.autocast(device.type, dtype=torch.bfloat16)


def _rng_state() -> dict:
    # Patch positions come from their own (seed, epoch) generator; the global torch RNG only
    # drives stochastic layers (DropBlock, dropout) and must resume where it stopped.
    return {"torch": torch.get_rng_state()}


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])


def _write_log(run_dir: Path, history: list[dict]) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=LOG_FIELDS)
    w.writeheader()
    for row in history:
        w.writerow({k: row.get(k, "") for k in LOG_FIELDS})
    atomic_write_text(run_dir / "log.csv", buf.getvalue())


def _plot_curve(run_dir: Path, history: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ep = [h["epoch"] for h in history]
    fig, ax = plt.subplots(figsize=(5, 3.4), dpi=110)
    ax.plot(ep, [h["loss"] for h in history], label="total")
    ax.plot(ep, [h["loss_final"] for h in history], label="final output")
    if any(h["loss_aux"] for h in history):
        ax.plot(ep, [h["loss_aux"] for h in history], label="deep supervision")
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    atomic_write(run_dir / "learning_curve.png", lambda fh: fig.savefig(fh, format="png"))
    plt.close(fig)


class Trainer:
    """Owns one run: data, model, optimiser, scheduler, and the run folder.

    Under torchrun with several processes it trains data-parallel (:mod:`.distributed`): each
    rank trains on its slice of the global batch, rank 0 alone writes the run folder. A CUDA GPU
    is used when present (the model card and checkpoints always hold CPU tensors).
    """

    def __init__(self, cfg: Config, run_dir: str | Path, progress: bool = True, resuming: bool = False):
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.dist = distributed.setup()
        self.progress = progress and self.dist.is_main
        set_threads(distributed.threads_per_rank(self.dist, cfg.train.threads))
        torch.manual_seed(cfg.train.seed)  # same initial weights on every rank (DDP also broadcasts rank 0's)
        self.device = torch.device(f"cuda:{self.dist.local_rank}" if torch.cuda.is_available() else "cpu")
        autocast_context(self.device, cfg.train.bf16)  # an unsupported bf16 fails before the data is prepared
        self.bf16 = resolve_bf16(self.device, cfg.train.bf16)
        self.model = build_model(cfg)  # before the data too: a wrong init_from fails in seconds, not minutes
        # A resumed run takes its weights (and what they started from) from the checkpoint: the donor
        # may have moved or changed since.
        self.init_source = initialise_from(self.model, cfg) if cfg.train.init_from and not resuming else None

        self.pcfg = preprocess_config(cfg)
        p = cfg.patches
        self.mixture = None
        if cfg.dataset.name == "mixture":
            self.mixture = prepare_mixture(cfg, self.pcfg, log=tqdm.write if self.dist.is_main else lambda _: None)
            self.stats = None
            images, labels, fovs, per_image = (self.mixture.images, self.mixture.labels, self.mixture.fovs,
                                               self.mixture.counts)
            self.resolution = dict(training_resolution(fovs), fov_diameter_px=float(cfg.dataset.fov_diameter))
        else:
            train_raw = load_raw(cfg, "train")
            self.stats = fit_training_stats(train_raw, self.pcfg) if self.pcfg.standardise == "dataset" else None
            train = prepare(train_raw, self.pcfg, self.stats)
            images, labels, fovs, per_image = train.images, train.labels, train.fovs, p.per_image
            self.resolution = training_resolution(train.fovs)
        small = [img.shape[-2:] for img in images if min(img.shape[-2:]) < p.size]
        if small:
            raise ConfigError(f"patches.size={p.size} is larger than {len(small)} training image(s) "
                              f"(the smallest is {small[0][1]}x{small[0][0]} px): lower patches.size")
        try:
            self.dataset = PatchDataset(images, labels, fovs, patch_size=p.size, patches_per_image=per_image,
                                        augment=p.augment, centres_in_fov=p.centres_in_fov, seed=cfg.train.seed)
        except ValueError as exc:  # e.g. an FOV with no pixel that can centre a patch
            raise ConfigError(f"cannot sample training patches: {exc}") from None
        self.loader = DataLoader(self.dataset, batch_size=cfg.train.batch_size, shuffle=False,
                                 collate_fn=PatchDataset.collate, num_workers=0)
        self.model = self.model.to(self.device)
        wrapped = distributed.wrap_model(self.dist, self.model)
        if wrapped is not self.model and hasattr(wrapped, "module"):
            self.model = wrapped.module  # the SyncBatchNorm-converted model on GPUs; same weights
        self.forward = torch.compile(wrapped) if cfg.train.compile else wrapped
        self.loss_fn = build_loss(cfg.loss.name, deep_supervision=cfg.loss.deep_supervision,
                                  ds_weights=tuple(cfg.loss.ds_weights))
        self.optim = torch.optim.Adam(self.model.parameters(), lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay)
        self.steps_per_epoch = math.ceil(len(self.dataset) / cfg.train.batch_size)
        self.sched = torch.optim.lr_scheduler.CosineAnnealingLR(
            self.optim, T_max=cfg.train.epochs * self.steps_per_epoch, eta_min=cfg.optim.min_lr)
        self.epoch = 0
        self.history: list[dict] = []
        self.train_seconds = 0.0
        # Which machine trained which epochs: a run resumed elsewhere (say a GPU lease, then the
        # CPU) must not pass for one machine's run in its timing or its record.
        self.segments: list[dict] = []

    # -- state --------------------------------------------------------------------------------
    def state(self) -> dict:
        return {"config": self.cfg.to_dict(), "epoch": self.epoch, "model": self.model.state_dict(),
                "optim": self.optim.state_dict(), "sched": self.sched.state_dict(), "rng": _rng_state(),
                "history": self.history, "train_seconds": self.train_seconds, "segments": self.segments,
                "init_source": self.init_source,
                "stats": self.stats.to_dict() if self.stats else None}

    def load_state(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optim.load_state_dict(state["optim"])
        self.sched.load_state_dict(state["sched"])
        _set_rng_state(state["rng"])
        self.epoch = int(state["epoch"])
        self.history = list(state["history"])
        self.train_seconds = float(state["train_seconds"])
        self.segments = list(state.get("segments", []))  # absent in older checkpoints
        self.init_source = state.get("init_source")

    # -- loop ---------------------------------------------------------------------------------
    def train_epoch(self) -> dict:
        cfg = self.cfg
        self.model.train()
        self.dataset.set_epoch(self.epoch)
        amp = autocast_context(self.device, self.bf16)
        total = final = aux = 0.0
        n = 0
        t0 = time.perf_counter()
        bar = tqdm(self.loader, desc=f"epoch {self.epoch + 1}/{cfg.train.epochs}", leave=False,
                   disable=not self.progress, unit="batch", dynamic_ncols=True)
        for x, y in bar:
            if x.shape[0] < self.dist.world_size:
                continue  # a tail batch too small to give every rank a sample (identical on all ranks)
            x, y = distributed.rank_slice(self.dist, x, y)
            x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
            if cfg.train.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with amp:
                out = self.forward(x)
            out = {"logits": out["logits"].float(), "aux": [a.float() for a in out["aux"]]}
            terms = self.loss_fn.terms(out, y)
            loss = terms["total"]
            value = loss.item()
            if not math.isfinite(value):
                self._diverged(value, n // max(1, x.shape[0]) + 1)
            self.optim.zero_grad(set_to_none=True)
            loss.backward()
            self.optim.step()
            self.sched.step()
            b = x.shape[0]
            total += value * b
            final += terms["base"].item() * b
            aux += terms["aux"].item() * b if "aux" in terms else 0.0
            n += b
            bar.set_postfix(loss=f"{total / n:.4f}")
        total, final, aux, n = distributed.sum_across(self.dist, [total, final, aux, float(n)])
        secs = time.perf_counter() - t0
        self.train_seconds += secs
        return {"epoch": self.epoch + 1, "loss": total / n, "loss_final": final / n, "loss_aux": aux / n,
                "lr": self.sched.get_last_lr()[0], "seconds": round(secs, 2), "patches_per_s": round(n / secs, 1),
                "device": torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else "cpu"}

    def _diverged(self, value: float, batch: int) -> None:
        """Stop at the first non-finite loss, before the step would write NaN into the weights."""
        ckpt = self.run_dir / "checkpoints"
        kept = (f"the checkpoint of epoch {self.epoch} is kept in {ckpt} (resume from it after a fix)"
                if self.epoch else "no epoch had finished, so there is no checkpoint")
        raise TrainingError(f"training diverged: loss is {value} in epoch {self.epoch + 1}, batch {batch} "
                            f"(lr {self.sched.get_last_lr()[0]:.3g}); no weights were saved and {kept}. "
                            "Lower optim.lr, or check the data and the config")

    def fit(self, stop_after: int | None = None) -> None:
        """Train until ``cfg.train.epochs`` (or ``stop_after`` more epochs), checkpointing each epoch."""
        ckpt_dir = self.run_dir / "checkpoints"
        done = 0
        machine = dict(machine_summary(), processes=self.dist.world_size, precision=self.precision)
        while self.epoch < self.cfg.train.epochs and (stop_after is None or done < stop_after):
            row = self.train_epoch()
            self.epoch += 1
            self._count_epoch(machine, row["seconds"])
            self.history.append(row)
            done += 1
            if not self.dist.is_main:
                continue
            save_checkpoint(self.state(), ckpt_dir)
            _write_log(self.run_dir, self.history)
            # One line per epoch even without bars, so a background run's log shows progress.
            tqdm.write(f"epoch {row['epoch']}/{self.cfg.train.epochs} loss={row['loss']:.4f} "
                       f"lr={row['lr']:.2e} {row['seconds']:.1f}s {row['patches_per_s']:.0f} patches/s")
        if self.history and self.dist.is_main:
            _plot_curve(self.run_dir, self.history)

    @property
    def precision(self) -> str:
        """What this run's steps compute in: ``bf16 autocast`` or ``fp32`` (each training segment
        records its own: a resumed ``auto`` run may change machine and precision)."""
        return "bf16 autocast" if self.bf16 else "fp32"

    def precision_record(self) -> str:
        """The precision of the whole run, from its training segments: one value, or each part's
        epochs when a resumed ``auto`` run changed machine and precision (``"bf16 autocast
        (epochs 1-30), fp32 (epochs 31-50)"``). A run without segments: this session's."""
        parts = [(seg["trained_on"].get("precision", self.precision), seg["epochs"]) for seg in self.segments]
        if not parts or len({p for p, _ in parts}) == 1:
            return parts[0][0] if parts else self.precision
        return ", ".join(f"{p} (epochs {a}-{b})" for p, (a, b) in parts)

    def _count_epoch(self, machine: dict, seconds: float) -> None:
        """Extend the current training segment by the epoch just done, or open a new one."""
        last = self.segments[-1] if self.segments else None
        if last and last["trained_on"] == machine and last["epochs"][1] == self.epoch - 1:
            last["epochs"][1] = self.epoch
            last["seconds"] = round(last["seconds"] + seconds, 2)
        else:
            self.segments.append({"epochs": [self.epoch, self.epoch], "seconds": round(seconds, 2),
                                  "trained_on": machine})

    def card(self) -> dict:
        cfg = self.cfg
        return {
            "name": cfg.name,
            "model": {"name": cfg.model.name, "options": cfg.model.options,
                      "parameters": count_parameters(self.model), "in_channels": input_channels(self.pcfg),
                      "out_channels": int(getattr(self.model, "out_channels", 1)), "labels": cfg.dataset.labels},
            "preprocess": self.pcfg.to_dict(),
            "stats": self.stats.to_dict() if self.stats else None,
            "resolution": self.resolution,
            "dataset": ({"name": cfg.dataset.name, "train_images": len(self.dataset.sizes)} if self.mixture is None
                        else {"name": "mixture", "sources": self.mixture.sources,
                              "train_images": sum(s["images"] for s in self.mixture.sources.values()),
                              "variants": cfg.patches.variants, "scale_jitter": cfg.patches.scale_jitter,
                              "camera_augment": cfg.patches.camera_augment}),
            "protocol": {"patch_size": cfg.patches.size, "patches_per_image": cfg.patches.per_image,
                         "augment": cfg.patches.augment, "epochs": self.epoch, "batch_size": cfg.train.batch_size,
                         "optimiser": f"Adam lr={cfg.optim.lr} cosine to {cfg.optim.min_lr}",
                         "loss": cfg.loss.name, "deep_supervision": cfg.loss.deep_supervision,
                         "model_selection": "last epoch (no validation split; test set unseen in training)",
                         "bf16": self.precision_record() != "fp32", "precision": self.precision_record(),
                         "seed": cfg.train.seed,
                         "init_from": self.init_source},
            "training_seconds": round(self.train_seconds, 1),
            "trained_on": dict(machine_summary(), processes=self.dist.world_size),
            "training_segments": self.segments,
            "code_version": code_version(),
            "config": cfg.to_dict(),
        }

    def finish(self) -> Path:
        """Write the final safetensors weights and model card."""
        return save_weights(self.model, self.card(), self.run_dir / "model.safetensors")


def start_run(cfg: Config, run_dir: str | Path, progress: bool = True, stop_after: int | None = None) -> Trainer:
    """Start a new run in ``run_dir`` (which must not hold a run already)."""
    run_dir = Path(run_dir)
    ctx = distributed.setup()
    if (run_dir / "checkpoints").exists() or (run_dir / "config.yaml").exists():
        raise InputError(f"{run_dir}: already holds a run; use --resume {run_dir} or another --out")
    distributed.barrier(ctx)  # every rank has checked before rank 0 creates anything
    if ctx.is_main:
        ensure_output_dir(run_dir, "run folder")
    trainer = Trainer(cfg, run_dir, progress)
    if ctx.is_main:
        save_config(cfg, run_dir / "config.yaml")
    trainer.fit(stop_after)
    return trainer


def resume_run(run_dir: str | Path, progress: bool = True, stop_after: int | None = None) -> Trainer:
    """Continue an interrupted run from its newest verified checkpoint (or finish a complete one)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise InputError(f"{run_dir}: no such run folder")
    ckpt_dir = run_dir / "checkpoints"
    if (run_dir / "config.yaml").is_file() and not any(ckpt_dir.glob("*.pt")):
        # Interrupted before its first checkpoint: nothing was learnt, start over from its config.
        trainer = Trainer(load_config(run_dir / "config.yaml"), run_dir, progress)
        trainer.fit(stop_after)
        return trainer
    state, _ = load_latest(ckpt_dir)
    try:
        cfg = config_from_dict(state["config"])
    except ConfigError as exc:
        raise InputError(f"{run_dir}: checkpoint config is invalid ({exc})") from None
    trainer = Trainer(cfg, run_dir, progress, resuming=True)
    trainer.load_state(state)
    trainer.fit(stop_after)
    return trainer
