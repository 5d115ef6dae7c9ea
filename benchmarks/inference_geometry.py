"""How a trained model's scores depend on the geometry it is run in: whole image, whole image in
tiles, sliding windows of the paper's size and of the training patch's size, and (for CE-Net) its
context blocks made to see what they saw in training.

    python benchmarks/inference_geometry.py runs/drive_ce_net/model.safetensors --dataset drive
    python benchmarks/inference_geometry.py runs/chase_unet/model.safetensors --dataset chase

A network trained on 48x48 patches only ever saw deep feature maps a few cells wide: at CE-Net's
total stride of 32 a 48-px patch (padded to 64) is a 2x2 map, so every cell touches the border,
its dilated convolutions (rates 3, 5) reach nothing but padding and RMP's pools (2, 3, 5, 6) all
cover the whole map. Each row below changes one thing about the geometry, same weights:

* ``whole``: one pass over the image (the project's default);
* ``whole, tiles T``: overlapping T x T tiles, Gaussian-blended (``predict(..., tile=T)``);
* ``sliding W/16``: the paper's protocol with W-px windows (64: the paper; the training patch);
* ``whole, training context`` (models with DAC / RMP only): DAC's dilated convolutions keep only
  their centre tap and RMP's pools become 2x2 max-pools at stride 1 -- what a 2x2 training map
  gave them -- in one whole-image pass.

Pooled over the test split's FOV pixels against the first observer, threshold 0.5: AUC, F1, the
mean background probability and the confident misses (vessel pixels scoring at or below the
median background probability). Reads the datasets through ``VESSELSEG_DATA`` (or ``--data``);
prints numbers only, writes nothing.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager

import numpy as np
from _test_split import confident_misses, load, parser


@contextmanager
def training_context(model):
    """Within the block, ``model``'s DAC / RMP blocks act as on a 2x2 training map (see above).
    Yields the number of blocks changed (0: the model has none)."""
    import torch
    import torch.nn.functional as F

    from vesselseg.models.layers.context import DAC, RMP

    def local_rmp(self, x):
        # A 2x2 map's every pool is a max over the whole 2x2: here, over each 2x2 neighbourhood.
        pooled = self.conv(F.pad(F.max_pool2d(x, 2, stride=1), (0, 1, 0, 1), mode="replicate"))
        return torch.cat([pooled] * len(self.kernels) + [x], dim=1)

    saved = []
    for m in model.modules():
        if isinstance(m, DAC):
            for conv in (m.d3, m.d5):
                saved.append((conv, conv.weight.data.clone()))
                centre = torch.zeros_like(conv.weight)
                centre[..., 1, 1] = 1
                conv.weight.data.mul_(centre)
        elif isinstance(m, RMP):
            m.forward = local_rmp.__get__(m)
            saved.append((m, None))
    try:
        yield len(saved)
    finally:
        for obj, weight in saved:
            if weight is None:
                del obj.forward
            else:
                obj.weight.data.copy_(weight)


def main(argv: list[str] | None = None) -> int:
    ap = parser(__doc__, threads=2)
    ap.add_argument("--tiles", type=int, nargs="*", default=[256], help="tile sides for 'whole, tiles'")
    args = ap.parse_args(argv)
    loaded = load(args)
    if loaded is None:
        return 2
    predictor, samples = loaded

    from vesselseg.metrics.confusion import confusion, scores
    from vesselseg.metrics.ranking import roc_auc

    greys = [predictor.preprocess(s.image, s.fov) for s in samples]
    y = np.concatenate([s.label[s.fov] for s in samples])
    patch = predictor.training_patch

    def score(name, **kw):
        probs = [predictor.predict_grey(g, **kw)[s.fov] for s, g in zip(samples, greys)]
        p = np.concatenate(probs)
        sc = scores(confusion(p, y, threshold=0.5))
        missed = confident_misses(p, y).sum() / y.sum()
        print(f"{name:<28} {roc_auc(p, y):>7.4f} {sc['f1']:>7.4f} {p[~y].mean():>8.3f} {missed:>8.2%}",
              flush=True)

    padded = predictor.padded_training_patch()
    print(f"{args.weights} on {args.dataset} test ({len(samples)} images), FOV pixels, first observer, "
          f"threshold 0.5; trained on {patch}-px patches"
          + (f", padded to {padded[1]} px inside the network" if padded else ""))
    print(f"{'geometry':<28} {'AUC':>7} {'F1':>7} {'bg mean':>8} {'conf.miss':>8}")
    score("whole", mode="whole")
    for t in args.tiles:
        score(f"whole, tiles {t}", mode="whole", tile=t)
    for w in dict.fromkeys([64, patch] if patch else [64]):
        score(f"sliding {w}/16", mode="sliding", window=w, stride=16)
    with training_context(predictor.model) as changed:
        if changed:
            score("whole, training context", mode="whole")
    return 0


if __name__ == "__main__":
    sys.exit(main())
