"""Tests for vesselseg.models: every registered model is checked for the output contract,
gradients, determinism and export, so a new model is covered the moment it is registered."""

from __future__ import annotations

import math
import warnings

import pytest
import torch

from vesselseg.errors import ConfigError
from vesselseg.models import (
    MODELS,
    attention_term_ratios,
    count_parameters,
    create,
    list_models,
    model_options,
)
from vesselseg.models.layers import (
    ATTENTION,
    DBPF,
    CaFF,
    ConvBlock,
    DropBlock2d,
    make_attention,
)
from vesselseg.models.nets import SegmentationModel

ALL = list_models()
SIZES = [(37, 53), (64, 64)]


@pytest.fixture(scope="module")
def models() -> dict[str, torch.nn.Module]:
    torch.manual_seed(0)
    return {name: create(name) for name in ALL}


def _check_output(model, out, batch: int, h: int, w: int) -> None:
    assert set(out) == {"logits", "aux"}
    assert out["logits"].shape == (batch, 1, h, w)
    assert out["logits"].dtype == torch.float32
    assert isinstance(out["aux"], list)
    assert len(out["aux"]) == len(model.aux_strides)
    assert model.deep_supervision == bool(out["aux"])
    for a, s in zip(out["aux"], model.aux_strides, strict=True):
        assert a.shape == (batch, 1, math.ceil(h / s), math.ceil(w / s))
    if out["aux"]:
        assert out["aux"][0].shape[-1] >= out["aux"][-1].shape[-1]  # finest first


def test_required_models_registered():
    assert {"caffnet", "unet", "attention_unet", "sa_unet", "ce_net"} <= set(ALL)
    assert set(ALL) == set(MODELS)


@pytest.mark.parametrize("name", ALL)
def test_output_contract(models, name):
    model = models[name]
    assert isinstance(model, SegmentationModel)
    assert isinstance(type(model).deep_supervision, (bool, property))
    for train in (False, True):
        model.train(train)
        for h, w in SIZES:
            with torch.no_grad():
                out = model(torch.randn(2, 1, h, w))
            _check_output(model, out, 2, h, w)
    model.eval()


@pytest.mark.parametrize("name", ALL)
def test_gradients_reach_every_parameter(models, name):
    model = models[name].train()
    model.zero_grad()
    torch.manual_seed(0)  # the input must not depend on which tests ran before
    out = model(torch.randn(2, 1, 37, 53))
    loss = out["logits"].sum() + sum(a.sum() for a in out["aux"])
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, f"no gradient for {missing}"
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())
    zero = [n for n, p in model.named_parameters() if not p.grad.abs().sum() > 0]
    assert not zero, f"zero gradient for {zero}"
    model.zero_grad(set_to_none=True)
    model.eval()


@pytest.mark.parametrize("name", ALL)
def test_deterministic_under_seed_in_eval(name):
    x = torch.randn(1, 1, 24, 40)
    outs = []
    for _ in range(2):
        torch.manual_seed(123)
        model = create(name).eval()
        with torch.no_grad():
            outs.append(model(x))
    assert torch.equal(outs[0]["logits"], outs[1]["logits"])
    for a, b in zip(outs[0]["aux"], outs[1]["aux"], strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize(
    ("name", "low", "high"),
    [
        ("caffnet", 0.55e6, 0.7e6),  # default base 16; base 20 is checked below
        ("sa_unet", 0.45e6, 0.65e6),
        ("unet", 0.45e6, 0.52e6),
        ("unet_large", 34.0e6, 35.0e6),
        ("attention_unet", 0.45e6, 0.55e6),
        ("ce_net", 25e6, 32e6),
    ],
)
def test_parameter_counts(models, name, low, high):
    assert low <= count_parameters(models[name]) <= high


def test_caffnet_paper_size_option():
    assert 0.9e6 <= count_parameters(create("caffnet", base_channels=20)) <= 1.1e6


def test_in_channels_configurable_and_checked():
    model = create("caffnet", in_channels=3).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 16, 16))["logits"].shape == (1, 1, 16, 16)
    with pytest.raises(ValueError, match="expects"):
        model(torch.randn(1, 1, 16, 16))


# --- CaFFNet switches and CaFF ----------------------------------------------------------------


def _count(model, cls) -> int:
    return sum(isinstance(m, cls) for m in model.modules())


def test_caffnet_ablation_switches():
    counts = {}
    for caff in (False, True):
        for dbpf in (False, True):
            model = create("caffnet", caff=caff, dbpf=dbpf)
            assert _count(model, CaFF) == (3 if caff else 0)
            assert _count(model, DBPF) == (3 if dbpf else 0)
            assert model.deep_supervision == caff
            assert model.depth == 3
            with torch.no_grad():
                out = model.eval()(torch.randn(1, 1, 48, 48))
            assert len(out["aux"]) == (3 if caff else 0)
            if not caff:
                assert not any("caff" in n for n, _ in model.named_parameters())
            counts[caff, dbpf] = count_parameters(model)
    assert len(set(counts.values())) == 4
    assert counts[False, False] < counts[True, False] < counts[True, True]


def test_caff_modes_follow_their_formulas():
    """Each mode's output is E + the attention term of the module docstring, computed here from the
    module's own weights (so the modes differ by construction), and all share one coarse mask."""
    e, d = torch.randn(2, 8, 12, 10), torch.randn(2, 8, 12, 10)
    torch.manual_seed(0)
    reference = CaFF(8, mode="paper").eval()
    masks = {}
    for mode in ("paper", "dual_prototype", "sigmoid"):
        caff = CaFF(8, mode=mode).eval()
        caff.load_state_dict(reference.state_dict())
        with torch.no_grad():
            t, masks[mode] = caff(e, d)
            m = torch.sigmoid(masks[mode])
            q = caff.w_q(e).flatten(2)  # (B, C, N)
            gap = (m * d).mean(dim=(2, 3))  # the paper's pooling: divided by H W
            vessel = (m * d).sum(dim=(2, 3)) / m.sum(dim=(2, 3))  # mask-normalised prototypes
            background = ((1 - m) * d).sum(dim=(2, 3)) / (1 - m).sum(dim=(2, 3))
            score = lambda p: torch.einsum("bcn,bc->bn", q, caff.w_k(p)) / 8**0.5  # noqa: E731
            if mode == "paper":  # one softmax over the N pixels
                term = caff.w_v(gap)[:, :, None] * torch.softmax(score(gap), dim=1)[:, None]
                assert torch.allclose(term.sum(2), caff.w_v(gap), atol=1e-5)  # weights sum to 1 over pixels
            elif mode == "sigmoid":  # one vessel prototype, a sigmoid weight per pixel
                term = caff.w_v(vessel)[:, :, None] * torch.sigmoid(score(vessel))[:, None]
            else:  # per pixel, a softmax over the vessel and background keys mixes their values
                a = torch.softmax(torch.stack([score(vessel), score(background)], dim=1), dim=1)
                term = a[:, :1] * caff.w_v(vessel)[:, :, None] + a[:, 1:] * caff.w_v(background)[:, :, None]
        assert t.shape == e.shape and masks[mode].shape == (2, 1, 12, 10)
        assert torch.allclose(t, e + term.reshape(e.shape), atol=1e-5), mode
    assert torch.equal(masks["paper"], masks["dual_prototype"]) and torch.equal(masks["paper"], masks["sigmoid"])
    x = torch.randn(1, 1, 32, 32)
    logits = {}
    for mode in ("paper", "dual_prototype"):
        torch.manual_seed(0)
        net = create("caffnet", caff_mode=mode).eval()
        assert {m.mode for m in net.modules() if isinstance(m, CaFF)} == {mode}  # every level
        with torch.no_grad():
            logits[mode] = net(x)["logits"]
    assert not torch.equal(logits["paper"], logits["dual_prototype"])


def test_attention_term_ratios():
    x = torch.randn(1, 1, 32, 32)
    torch.manual_seed(0)
    paper = attention_term_ratios(create("caffnet", caff_mode="paper").eval(), x)
    torch.manual_seed(0)
    dual = attention_term_ratios(create("caffnet", caff_mode="dual_prototype").eval(), x)
    assert len(paper) == len(dual) == 3
    assert all(0 < p < 0.05 for p in paper)  # softmax over H*W pixels: the term nearly vanishes
    assert all(p < q for p, q in zip(paper, dual, strict=True))
    assert attention_term_ratios(create("unet").eval(), x) == []


def test_caff_paper_weights_sum_to_one_over_pixels():
    caff = CaFF(4, mode="paper").eval()
    e, d = torch.zeros(1, 4, 6, 5), torch.randn(1, 4, 6, 5)
    with torch.no_grad():
        t, _ = caff(e, d)
    # E = 0 gives equal scores, softmax weights 1/N: the term is V / N at every pixel
    assert torch.allclose(t, t[..., :1, :1].expand_as(t), atol=1e-7)


# --- U-Net switches ---------------------------------------------------------------------------


def test_drop_skips_changes_decoder_inputs():
    full = create("unet")
    dropped = create("unet", drop_skips=(2,))
    assert dropped.drop_skips == (2,)
    widths = full.widths
    for i, (a, b) in enumerate(zip(full.decoders, dropped.decoders, strict=True)):
        assert a.in_channels == 2 * widths[i]
        assert b.in_channels == (widths[i] if i == 1 else 2 * widths[i])
    with torch.no_grad():
        out = dropped.eval()(torch.randn(1, 1, 37, 53))
    assert out["logits"].shape == (1, 1, 37, 53)
    caff = create("caffnet", drop_skips=(1,))
    assert _count(caff, CaFF) == 2 and caff.aux_strides == (2, 4)


@pytest.mark.parametrize("value", [(0,), (5,), "1", (1.5,)])
def test_drop_skips_invalid(value):
    with pytest.raises(ConfigError, match="drop_skips"):
        create("unet", drop_skips=value)


@pytest.mark.parametrize("name", [None, *sorted(ATTENTION)])
def test_attention_in_conv_block(name):
    x = torch.randn(2, 3, 11, 9)
    for where in ("end", "middle"):
        block = ConvBlock(3, 16, attention=name, attention_at=where)
        assert block(x).shape == (2, 16, 11, 9)
    y = torch.randn(2, 16, 11, 9)
    assert make_attention(name, 16)(y).shape == y.shape


def test_required_attention_names_and_unet_option():
    assert {"se", "cbam", "coord", "scse"} <= set(ATTENTION)
    model = create("unet", attention="cbam", depth=2)
    assert sum(type(m).__name__ == "CBAM" for m in model.modules()) == 2 * 2 + 1
    with pytest.raises(ConfigError, match="attention"):
        make_attention("nope", 8)


# --- small layers -----------------------------------------------------------------------------


def test_dbpf_halves_size_keeps_channels():
    assert DBPF(8)(torch.randn(2, 8, 16, 12)).shape == (2, 8, 8, 6)


def _assert_far_region_reaches_only_globally(model):
    """A bright region 320+ px away along the rows changes the first 64 columns' output with
    the training (global) pooling, and not at all with a 16-px patch context."""
    from vesselseg.models.layers import set_pooling_context

    model.eval()
    x = torch.randn(1, 1, 32, 512)
    far = x.clone()
    far[..., 384:] += 3.0
    diffs = {}
    for patch in (None, 16):
        set_pooling_context(model, patch)
        with torch.no_grad():
            diffs[patch] = (model(x)["logits"] - model(far)["logits"])[..., :64].abs().max().item()
    assert diffs[16] < 1e-7 < 1e-6 < diffs[None], diffs


def test_dbpf_context_window_is_a_local_strip_mean():
    from vesselseg.models.layers import set_pooling_context

    torch.manual_seed(0)
    dbpf, x = DBPF(4).eval(), torch.randn(1, 4, 20, 30)
    with torch.no_grad():
        paper = dbpf(x)
        dbpf.context_window = 2 * 15 - 1  # spans every row/column of the 10x15 map from any pixel
        assert torch.allclose(dbpf(x), paper, atol=1e-5)
        dbpf.context_window = 5  # local: different, same shape; far from the paper near a bright patch
        local = dbpf(x)
        assert local.shape == paper.shape and not torch.allclose(local, paper, atol=1e-3)
        dbpf.context_window = None
        assert torch.equal(dbpf(x), paper)
    # windows follow each level's stride: a 48-px training patch -> 25, 13, 7 (odd, centred)
    model = create("caffnet")
    assert set_pooling_context(model, 48) == 3
    assert [m.context_window for m in model.modules() if isinstance(m, DBPF)] == [25, 13, 7]
    assert set_pooling_context(model, None) == 3
    assert all(m.context_window is None for m in model.modules() if isinstance(m, DBPF))
    assert set_pooling_context(create("unet"), 48) == 0
    # with a local window, what lies far along the same rows no longer changes a pixel's output
    _assert_far_region_reaches_only_globally(create("caffnet", base_channels=4, caff=False))


@pytest.mark.parametrize("name", ["se", "cbam", "coord", "scse"])
def test_attention_context_window_matches_global_when_it_covers_the_map(name):
    """A window spanning the whole map from every pixel reproduces the global pooling; a small
    one is local (the map's far side no longer reaches a pixel)."""
    from vesselseg.models.layers import ContextPooling

    torch.manual_seed(0)
    attn = make_attention(name, 16)
    pooled = [m for m in attn.modules() if isinstance(m, ContextPooling)]
    assert len(pooled) == 1
    for _ in range(3):  # give BatchNorm (coordinate attention) non-trivial running statistics
        attn(torch.randn(4, 16, 12, 9))
    attn.eval()
    x = torch.randn(2, 16, 12, 9)
    with torch.no_grad():
        global_ = attn(x)
        pooled[0].context_window = 2 * 12 - 1
        assert torch.allclose(attn(x), global_, atol=1e-5)
        pooled[0].context_window = 3
        far = x.clone()
        far[..., 7:] += 5.0
        assert not torch.allclose(attn(x), global_, atol=1e-3)
        assert torch.allclose(attn(x)[..., :3], attn(far)[..., :3], atol=1e-6)  # CBAM: +3 px (7x7)


def test_attention_windows_follow_each_block_resolution():
    """SE in every ConvBlock of a depth-3 net, 48-px patches: stem and finest decoder see 49 px,
    then 25, 13 and the bottleneck 7 (odd, centred)."""
    from vesselseg.models.layers import ContextPooling, set_pooling_context

    model = create("caffnet", caff=False, dbpf=False, attention="se")
    assert set_pooling_context(model, 48) == 7
    windows = sorted(m.context_window for m in model.modules() if isinstance(m, ContextPooling))
    assert windows == [7, 13, 13, 25, 25, 49, 49]
    with_dbpf = create("caffnet", attention="cbam")
    assert set_pooling_context(with_dbpf, 48) == 10  # 7 channel gates + 3 DBPFs
    # and the whole net, made local, no longer lets a far bright region change a pixel
    _assert_far_region_reaches_only_globally(
        create("caffnet", base_channels=4, caff=False, dbpf=False, attention="cbam"))


def test_dropblock():
    x = torch.ones(4, 8, 24, 24)
    drop = DropBlock2d(0.2, 7)
    assert torch.equal(drop.eval()(x), x)
    torch.manual_seed(0)
    y = drop.train()(x)
    zeros = (y == 0).float().mean().item()
    assert 0.1 < zeros < 0.3
    assert y.mean().item() == pytest.approx(1.0, rel=1e-4)  # rescaled
    assert DropBlock2d(0.2, 7).train()(torch.ones(1, 2, 3, 4)).shape == (1, 2, 3, 4)
    assert torch.equal(DropBlock2d(0.0).train()(x), x)


def test_dropblock_drops_nothing_on_a_map_not_larger_than_the_block():
    """SA-UNet's bottleneck of a 48-px patch is 6x6: the original layer has no position where a
    7x7 block fits, so it drops nothing there (it does not shrink the block to the map)."""
    torch.manual_seed(0)
    x = torch.rand(8, 16, 6, 6)
    drop = DropBlock2d(0.18, 7).train()
    assert drop.drop_mask(x.shape) is None
    assert torch.equal(drop(x), x)
    # a 7x7 map has exactly one seed position, the centre: a block there covers the whole map
    mask = DropBlock2d(0.9, 7).drop_mask(torch.Size((64, 1, 7, 7)))
    per_map = mask.flatten(1).mean(1)
    assert set(per_map.unique().tolist()) <= {0.0, 1.0} and per_map.max() == 1.0


@pytest.mark.parametrize("b", [3, 4, 7])
def test_dropblock_blocks_sit_where_the_keras_layer_puts_them(b):
    """One seed at position s blanks s - b//2 .. s + (b-1)//2 (a "same" max-pool window), and
    seeds lie only where half <= s < size - half (half = b // 2)."""
    drop = DropBlock2d(0.5, b)
    size = 15
    torch.manual_seed(1)
    mask = drop.drop_mask(torch.Size((400, 1, size, size)))
    half = b // 2
    seen_min, seen_max = size, -1
    for m in mask[:, 0]:
        rows = m.any(1).nonzero().flatten()
        if rows.numel():
            seen_min, seen_max = min(seen_min, int(rows.min())), max(seen_max, int(rows.max()))
    # outermost seeds at half and size - half - 1: the blocks reach the first row, and the last
    # for odd b (for even b the original never drops the last row: one pixel less after the seed)
    assert seen_min == 0 and seen_max == size - half - 1 + (b - 1) // 2
    # a lone seed's block, placed by hand, covers s - b//2 .. s + (b - 1)//2
    from vesselseg.models.layers.dropblock import _dilate

    seed = torch.zeros(1, 1, size, size)
    seed[0, 0, 7, 7] = 1
    start = 1 if b % 2 == 0 else 0
    block = _dilate(seed, b)[..., start:start + size, start:start + size][0, 0]
    ys = block.any(1).nonzero().flatten()
    assert (int(ys.min()), int(ys.max())) == (7 - half, 7 + (b - 1) // 2)


@pytest.mark.parametrize("b", [1, 2, 5, 7])
@pytest.mark.parametrize("channels_last", [False, True])
def test_dropblock_separable_dilation_is_the_square_max_pool(b, channels_last):
    """The fast mask dilation gives exactly the b x b max pool it replaces, odd and even b."""
    import torch.nn.functional as F

    from vesselseg.models.layers.dropblock import _dilate

    g = torch.Generator().manual_seed(b)
    mask = (torch.rand(3, 5, 17, 13, generator=g) < 0.05).float()
    if channels_last:
        mask = mask.contiguous(memory_format=torch.channels_last)
    assert torch.equal(_dilate(mask, b), F.max_pool2d(mask, b, stride=1, padding=b // 2))
    half = mask.to(torch.bfloat16)
    assert torch.equal(_dilate(half, b), F.max_pool2d(half, b, stride=1, padding=b // 2))
    x = torch.rand(3, 5, 17, 13)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    y = DropBlock2d(0.3, b).train()(x)  # the layer keeps the input's memory format
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    assert y.shape == x.shape and y.is_contiguous(memory_format=fmt)


# --- registry errors --------------------------------------------------------------------------


def test_unknown_model_name():
    with pytest.raises(ConfigError, match="nonet") as err:
        create("nonet")
    assert "caffnet" in str(err.value)


def test_unknown_option():
    with pytest.raises(ConfigError, match="bogus_option") as err:
        create("caffnet", bogus_option=1)
    assert "caff_mode" in str(err.value)
    assert "base_channels" in model_options("unet")


@pytest.mark.parametrize(
    ("name", "option", "value"),
    [
        ("caffnet", "caff_mode", "bogus"),
        ("caffnet", "caff_pool", "bogus"),
        ("caffnet", "caff", "yes"),
        ("caffnet", "dbpf", 1),
        ("unet", "down", "bogus"),
        ("unet", "up", "bogus"),
        ("unet", "skip", "bogus"),
        ("unet", "depth", 0),
        ("unet", "base_channels", 2.5),
        ("unet", "attention", "bogus"),
        ("sa_unet", "drop_prob", 1.5),
        ("sa_unet", "drop_block", 0),
        ("ce_net", "in_channels", 0),
    ],
)
def test_invalid_option_value(name, option, value):
    with pytest.raises(ConfigError, match=option):
        create(name, **{option: value})


# --- export -----------------------------------------------------------------------------------


class _AsTuple(torch.nn.Module):
    """``(logits, *aux)``: the legacy TorchScript exporter cannot return an empty list."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.model(x)
        return (out["logits"], *out["aux"])


@pytest.mark.parametrize("name", ALL)
def test_onnx_export_dynamic_size(models, tmp_path, name):
    """Fast TorchScript-based export with dynamic H, W; parity with ONNX Runtime at 37x53.
    (The default dynamo exporter also works -- see the models README notes -- but takes
    10-30 s per model.)"""
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    model = models[name].eval()
    if count_parameters(model) > 5e6:
        pytest.skip("large model: export covered by the smaller ones")
    path = tmp_path / f"{name}.onnx"
    n_aux = len(model.aux_strides)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _AsTuple(model).eval(),
            (torch.randn(1, 1, 32, 32),),
            str(path),
            dynamo=False,
            input_names=["x"],
            output_names=["logits", *(f"aux{i}" for i in range(n_aux))],
            dynamic_axes={"x": {2: "H", 3: "W"}},
        )
    session = ort.InferenceSession(str(path))
    x = torch.randn(1, 1, 37, 53)
    with torch.no_grad():
        ref = model(x)
    got = session.run(None, {"x": x.numpy()})
    assert len(got) == 1 + n_aux
    for g, r in zip(got, [ref["logits"], *ref["aux"]], strict=True):
        assert g.shape == tuple(r.shape)
        assert abs(g - r.numpy()).max() < 1e-4


@pytest.mark.parametrize("size", [(584, 565), (960, 999)])
def test_caffnet_full_dataset_image_sizes(size):
    """The real DRIVE and CHASE_DB1 image sizes pass in one whole-image forward."""
    model = create("caffnet").eval()
    with torch.inference_mode():
        out = model(torch.rand(1, 1, *size))
    assert out["logits"].shape == (1, 1, *size)
    assert [tuple(a.shape[-2:]) for a in out["aux"]] == [
        (-(-size[0] // s), -(-size[1] // s)) for s in (1, 2, 4)
    ]


@pytest.mark.parametrize("mode", ["dual_prototype", "sigmoid"])
def test_caff_prototypes_follow_the_pooling_context(mode):
    """CaFF's prototypes pool like the other global poolings: a context window as large as the map
    gives the global result; a training-patch window gives each pixel its own prototypes, so a
    far-away change of the map no longer reaches a pixel."""
    from vesselseg.models.layers import set_pooling_context

    torch.manual_seed(0)
    caff = CaFF(4, mode=mode).eval()
    e, d = torch.rand(1, 4, 40, 40), torch.rand(1, 4, 40, 40)
    with torch.no_grad():
        whole = caff(e, d)[0]
        caff.context_window = 81  # larger than the map: every window is the whole map
        assert torch.allclose(caff(e, d)[0], whole, atol=1e-5)
        caff.context_window = 9
        local = caff(e, d)[0]
        far = d.clone()
        far[..., 30:, 30:] += 5.0  # change only the far corner
        moved = caff(e, far)[0]
    assert not torch.allclose(local, whole, atol=1e-4)
    assert torch.allclose(moved[..., :20, :20], local[..., :20, :20], atol=1e-6)
    # the network sets it through set_pooling_context, at each level's own scale
    net = create("caffnet", base_channels=4, caff_mode=mode)
    set_pooling_context(net, 48)
    windows = [m.context_window for m in net.modules() if isinstance(m, CaFF)]
    assert windows and all(w is not None and w % 2 == 1 for w in windows)
