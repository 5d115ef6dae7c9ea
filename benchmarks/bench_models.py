"""Size and speed of every registered model, and CaFF's attention-term ratios.

    OMP_NUM_THREADS=1 python benchmarks/bench_models.py [--batch 32] [--size 48] [--steps 3]

Prints one table: parameters, deep-supervision outputs, forward+backward time of one training
step on ``batch`` ``size x size`` patches and inference time on one 64x64 patch; then
``||attention term|| / ||E_i||`` per CaFF level at initialisation for each CaFF mode.
"""

from __future__ import annotations

import argparse
import time

import torch

from vesselseg.models import attention_term_ratios, count_parameters, create, list_models
from vesselseg.models.layers.caff import MODES


def _seconds(fn, steps: int) -> float:
    fn()  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=48)
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()

    print(f"| model | parameters | aux | train step (B={args.batch}, {args.size}²) s "
          f"| infer 64² s |")
    print("|---|---:|---:|---:|---:|")
    for name in list_models():
        torch.manual_seed(0)
        model = create(name)
        x = torch.randn(args.batch, 1, args.size, args.size)

        def train_step() -> None:
            out = model.train()(x)
            (out["logits"].sum() + sum(a.sum() for a in out["aux"])).backward()

        def infer() -> None:
            with torch.no_grad():
                model.eval()(torch.randn(1, 1, 64, 64))

        train_s = _seconds(train_step, args.steps)
        infer_s = _seconds(infer, args.steps)
        print(f"| {name} | {count_parameters(model):,} | {len(model.aux_strides)} "
              f"| {train_s:.3f} | {infer_s:.4f} |")

    print("\n| CaFF mode | level 1 | level 2 | level 3 |  (||term|| / ||E||, init, 64x64)")
    print("|---|---:|---:|---:|")
    x = torch.randn(1, 1, 64, 64, generator=torch.Generator().manual_seed(0))
    for mode in MODES:
        torch.manual_seed(0)
        ratios = attention_term_ratios(create("caffnet", caff_mode=mode).eval(), x)
        print(f"| {mode} | " + " | ".join(f"{r:.3g}" for r in ratios) + " |")


if __name__ == "__main__":
    main()
