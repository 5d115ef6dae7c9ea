"""Smoke training of every registered model on real DRIVE patches: does the loss fall?

    python benchmarks/smoke_models.py [--steps 200] [--models caffnet unet ...]

Each model trains ``--steps`` Adam steps (lr 5e-4, batch 32, 48x48 augmented patches from the
DRIVE training images, BCE+Dice with deep supervision where the model has it). Prints the mean
loss over the first and last 20 steps, the patches/s, and for CaFFNet variants the CaFF
attention-term ratios ``||term|| / ||E_i||`` (levels 1..3) before and after training, measured on
64x64 DRIVE test-image crops.
"""

from __future__ import annotations

import argparse
import time

import torch

from vesselseg.engine.config import load_config
from vesselseg.engine.data import fit_training_stats, load_raw, prepare, preprocess_config
from vesselseg.losses import build_loss
from vesselseg.models import count_parameters, create, list_models
from vesselseg.models.layers.caff import attention_term_ratios
from vesselseg.patches import PatchDataset
from vesselseg.settings import set_threads

VARIANTS = {"caffnet[paper]": ("caffnet", {"caff_mode": "paper"}),
            "caffnet[dual_prototype]": ("caffnet", {"caff_mode": "dual_prototype"}),
            "caffnet[sigmoid]": ("caffnet", {"caff_mode": "sigmoid"})}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--models", nargs="+", default=None, help="registry names or caffnet[mode]")
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    set_threads(args.threads)
    cfg = load_config(None)
    pcfg = preprocess_config(cfg)
    train_raw = load_raw(cfg, "train")
    stats = fit_training_stats(train_raw, pcfg)
    train = prepare(train_raw, pcfg, stats)
    test = prepare(load_raw(cfg, "test")[:4], pcfg, stats)
    probe = torch.stack([torch.from_numpy(im[260:324, 260:324]) for im in test.images])[:, None]
    ds = PatchDataset(train.images, train.labels, patches_per_image=1000, seed=0)

    names = args.models or [n for n in list_models() if n != "caffnet"] + list(VARIANTS)
    print("| model | params | loss first 20 steps | loss last 20 steps | patches/s | CaFF ratio init | CaFF ratio after |")
    print("|---|---|---|---|---|---|---|")
    for label in names:
        name, opts = VARIANTS.get(label, (label, {}))
        torch.manual_seed(0)
        model = create(name, **opts).to(memory_format=torch.channels_last)
        model.eval()
        before = attention_term_ratios(model, probe)
        model.train()
        loss_fn = build_loss("bce_dice", deep_supervision=bool(getattr(model, "deep_supervision", False)))
        opt = torch.optim.Adam(model.parameters(), lr=5e-4)
        losses = []
        t0 = time.perf_counter()
        for step in range(args.steps):
            x, y = ds.__getitems__(range(step * 32, step * 32 + 32))
            loss = loss_fn(model(x.contiguous(memory_format=torch.channels_last)), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        rate = args.steps * 32 / (time.perf_counter() - t0)
        model.eval()
        after = attention_term_ratios(model, probe)
        fmt = lambda r: " / ".join(f"{v:.2g}" for v in r) if r else "-"  # noqa: E731
        print(f"| {label} | {count_parameters(model):,} | {sum(losses[:20]) / 20:.4f} | {sum(losses[-20:]) / 20:.4f} "
              f"| {rate:.0f} | {fmt(before)} | {fmt(after)} |", flush=True)


if __name__ == "__main__":
    main()
