"""Training throughput (patches/s) on this machine, and the projected time of the full protocol.

    python benchmarks/bench_train.py [--models caffnet unet] [--steps 40] [--threads 2] [--device cuda]

For each model and each setting (fp32; channels-last; bf16 autocast; both; + torch.compile if
--compile) it runs ``--steps`` optimiser steps of batch 32 on 48x48 patches after a warm-up and
prints one table. The projection is 50 epochs x 20,000 patches (DRIVE: 20 images x 1000).
Synthetic patches: the data path is measured separately (``patch extraction`` row).

On a GPU (``--device cuda``) small steps are bound by kernel launches, not arithmetic, so the
settings differ: the first row syncs with the host every step as the trainer's loss logging does
(``loss.item()``), the others let the host run ahead; ``--compile`` adds torch.compile's default
and ``reduce-overhead`` (CUDA graphs) modes.
"""

from __future__ import annotations

import argparse
import time
from contextlib import nullcontext

import numpy as np
import torch

from vesselseg.losses import build_loss
from vesselseg.models import count_parameters, create
from vesselseg.patches import PatchDataset
from vesselseg.settings import set_threads


def bench(model_name: str, channels_last: bool, bf16: bool, compile_: bool | str, steps: int, batch: int = 32,
          device: str = "cpu", sync: bool = False, fused: bool = False, profile: bool = False) -> float:
    """Patches/s of ``steps`` optimiser steps; ``compile_`` is False, True or a torch.compile mode.

    ``fused``: Adam's fused kernel (one pass over all parameters) instead of its per-tensor loop.
    ``profile``: also print where a step's CPU time goes (torch.profiler, grouped)."""
    torch.manual_seed(0)
    dev = torch.device(device)
    model = create(model_name).train().to(dev)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    if compile_:
        fwd = torch.compile(model, mode=compile_ if isinstance(compile_, str) else None)
    else:
        fwd = model
    loss_fn = build_loss("bce_dice", deep_supervision=True)
    opt = torch.optim.Adam(model.parameters(), lr=5e-4, fused=True if fused else None)
    x = torch.rand(batch, 1, 48, 48, device=dev)
    y = (torch.rand(batch, 1, 48, 48, device=dev) > 0.88).float()
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    amp = (lambda: torch.autocast(dev.type, dtype=torch.bfloat16)) if bf16 else nullcontext

    def step():
        with amp():
            out = fwd(x)
        out = {"logits": out["logits"].float(), "aux": [a.float() for a in out["aux"]]}
        loss = loss_fn(out, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if sync:
            loss.item()

    def wait():
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    for _ in range(5 if not compile_ else 8):
        step()
    wait()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    wait()
    rate = steps * batch / (time.perf_counter() - t0)
    if profile:
        print_profile(step, min(steps, 10))
    return rate


#: Profiler op names -> the part of a training step they belong to (first match wins).
STEP_PARTS = (
    ("optimizer", ("adam", "optimizer", "_foreach", "_fused")),
    ("convolution backward", ("convolution_backward", "mkldnn_convolution_backward", "convolutionbackward")),
    ("convolution forward", ("conv2d", "convolution", "mkldnn_convolution")),
    ("upsampling", ("upsample", "interpolate")),
    ("pooling", ("pool",)),
    ("normalisation", ("batch_norm", "native_batch_norm", "layer_norm")),
    ("loss", ("binary_cross_entropy", "sigmoid", "dice")),
)


def print_profile(step, n: int) -> None:
    """Self CPU time of ``n`` steps by part (:data:`STEP_PARTS`, else "other") and the top ops."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(n):
            step()
    events = [e for e in prof.key_averages() if e.self_cpu_time_total > 0]
    total = sum(e.self_cpu_time_total for e in events)
    parts: dict[str, float] = {}
    for e in events:
        key = e.key.lower()
        part = next((p for p, words in STEP_PARTS if any(w in key for w in words)), "other")
        parts[part] = parts.get(part, 0.0) + e.self_cpu_time_total
    print(f"  profile of {n} steps: self CPU time by part (all threads' op time, ms per step)")
    for part, us in sorted(parts.items(), key=lambda kv: -kv[1]):
        print(f"    {part:<22} {us / n / 1000:8.1f} ms  {100 * us / total:5.1f} %")
    print("  top ops:")
    for e in sorted(events, key=lambda e: -e.self_cpu_time_total)[:12]:
        print(f"    {e.key[:48]:<48} {e.self_cpu_time_total / n / 1000:8.1f} ms  x{e.count // n}")


def bench_patches(steps: int = 200) -> tuple[float, float]:
    """Batched extraction + augmentation vs the per-patch Python loop it replaced (patches/s)."""
    imgs = [np.random.default_rng(i).random((584, 565)).astype(np.float32) for i in range(20)]
    ds = PatchDataset(imgs, [i > 0.5 for i in imgs])
    t0 = time.perf_counter()
    for s in range(steps):
        ds.__getitems__(range(s * 32, s * 32 + 32))
    batched = steps * 32 / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for s in range(steps):
        xs = []
        for i in range(s * 32, s * 32 + 32):  # the naive way: slice, transform, stack
            n, y, x = ds.coords[i].tolist()
            p = ds.stack[n, :, y : y + 48, x : x + 48]
            k = int(ds.ks[i])
            p = torch.rot90(p, k % 4, dims=(-2, -1))
            xs.append(torch.flip(p, dims=(-1,)) if k >= 4 else p)
        torch.stack(xs)
    return batched, steps * 32 / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["caffnet", "unet"])
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--compile", action="store_true", help="also time torch.compile")
    ap.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    ap.add_argument("--no-bf16", action="store_true", help="skip the bf16 rows (very slow on CPUs without AVX-512 BF16)")
    ap.add_argument("--fused", action="store_true", help="also time channels-last + bf16 with Adam's fused kernel")
    ap.add_argument("--profile", action="store_true", help="print each setting's step profile (torch.profiler)")
    args = ap.parse_args()
    n = set_threads(args.threads)
    settings = [("fp32", False, False, False), ("channels-last", True, False, False),
                ("bf16", False, True, False), ("channels-last + bf16", True, True, False)]
    if args.no_bf16:
        settings = [s for s in settings if not s[2]]
    if args.compile:
        settings.append(("channels-last + compile", True, False, True))
    if args.fused:
        settings.append(("channels-last + bf16 + fused Adam", True, True, False))
    sync: set[str] = set()
    if args.device.startswith("cuda"):
        settings = [("fp32, host sync per step (trainer)", False, False, False), ("fp32", False, False, False),
                    ("channels-last", True, False, False), ("bf16", False, True, False)]
        sync = {settings[0][0]}
        if args.compile:
            settings += [("compile", False, False, True), ("compile reduce-overhead", False, False, "reduce-overhead")]
    print(f"device={args.device}  threads={n}  batch=32  patch=48x48  steps={args.steps}")
    batched, loop = bench_patches()
    print(f"patch extraction + augmentation: {batched:,.0f} patches/s single gather, {loop:,.0f} patches/s "
          f"per-patch loop ({batched / loop:.1f}x)")
    print("| model | params | setting | patches/s | speed-up | projected 50 epochs x 20,000 patches |")
    print("|---|---|---|---|---|---|")
    for name in args.models:
        params = count_parameters(create(name))
        base = None
        for label, cl, bf, comp in settings:
            try:
                rate = bench(name, cl, bf, comp, args.steps, device=args.device, sync=label in sync,
                             fused="fused" in label, profile=args.profile)
            except Exception as e:  # a setting this machine cannot run (no compiler, say) must not hide the others
                print(f"| {name} | {params / 1e6:.2f} M | {label} | failed: {type(e).__name__}: {str(e)[:80]} | | |")
                continue
            base = base or rate
            minutes = 50 * 20000 / rate / 60
            print(f"| {name} | {params / 1e6:.2f} M | {label} | {rate:,.0f} | {rate / base:.2f}x | {minutes:.0f} min |",
                  flush=True)


if __name__ == "__main__":
    main()
