"""``python -m experiments report``: the results tables of the docs, generated from ``results/`` only.

Each table lives between two markers in a markdown file (README.md or docs/*.md)::

    <!-- report:main -->
    ...generated...
    <!-- /report:main -->

and is rewritten in place; text outside the markers is never touched. ``--check`` exits non-zero
when a file differs from what the records give (a test runs it, so the docs cannot drift
from ``results/``). Every number comes from a record; the only typed-in numbers are the
published references in :data:`PUBLISHED`, labelled as such with their protocol.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from experiments.results import load_records
from vesselseg.errors import InputError
from vesselseg.io.files import atomic_write_text
from vesselseg.vocabulary import BENCHMARKS

DATASETS = BENCHMARKS
DATASET_TITLES = {"drive": "DRIVE", "stare": "STARE", "chase": "CHASE_DB1"}
#: Rows of the main table, in order: ``<dataset>_<model>`` runs (paper schedule, seed 0).
MAIN_MODELS = ("unet", "attention_unet", "sa_unet", "ce_net", "caffnet")
MODEL_TITLES = {"unet": "U-Net", "attention_unet": "Attention U-Net", "sa_unet": "SA-UNet", "ce_net": "CE-Net",
                "caffnet": "CaFFNet"}
CAFF_MODES = {"": "paper (faithful)", "_dual": "dual_prototype (repaired)"}

#: Published numbers for orientation (SPEC section 4); *not ours*, and measured under other protocols.
PUBLISHED = [
    # method, protocol, DRIVE AUC, DRIVE F1, CHASE AUC, STARE AUC, params
    ("U-Net, VesselSeg-Pytorch example", "FOV, 48² patches", 0.9807, 0.8263, None, None, "34.5 M"),
    ("IterNet (2020)", "FOV, patches", 0.9816, 0.8205, 0.9851, 0.9881, "—"),
    ("SA-UNet (2020)", "whole 592² image (pixels outside the FOV count)", 0.9864, 0.8263, 0.9905, None, "0.54 M"),
    ("FR-UNet (2022)", "whole image, no FOV", 0.9889, 0.8316, None, None, "5.7 M"),
]
TARGET = {"auc": 0.9807, "f1": 0.8263}  # DRIVE, the published FOV-protocol U-Net (issue 6)

COLUMNS = ("auc", "pr_auc", "f1", "accuracy", "sensitivity", "specificity", "mcc")
COLUMN_TITLES = {"auc": "AUC", "pr_auc": "PR-AUC", "f1": "F1", "accuracy": "Acc", "sensitivity": "Se",
                 "specificity": "Sp", "mcc": "MCC"}


def _f(x, digits: int = 4) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def _params(rec: dict) -> str:
    n = (rec.get("model") or {}).get("parameters")
    return "—" if not n else f"{n / 1e6:.2f} M"


def _minutes(rec: dict) -> str:
    s = rec.get("training_seconds")
    return "—" if not s else f"{s / 60:.0f}" + (" ‡" if _machines_note(rec) else "")


def _machines_note(rec: dict) -> str | None:
    """``"epochs 1–43 NVIDIA H200, 44–50 AMD EPYC"`` for a run trained on more than one kind of
    machine (its minutes are then no one machine's time), else None."""
    spans: list[list] = []  # [first epoch, last epoch, machine kind], neighbours of a kind merged
    for seg in rec.get("training_segments") or []:
        kind = seg["trained_on"].get("gpu") or seg["trained_on"].get("cpu", "?")
        if spans and spans[-1][2] == kind:
            spans[-1][1] = seg["epochs"][1]
        else:
            spans.append([*seg["epochs"], kind])
    if len({k for _, _, k in spans}) < 2:
        return None
    return ", ".join(f"{a}–{b} {k}" if a != b else f"{a} {k}" for a, b, k in spans)


#: How a record's loss is named in the tables' schedule column.
LOSS_TITLES = {"bce_dice": "BCE+Dice", "dice": "Dice", "bce": "BCE", "focal": "focal"}


def _schedule(rec: dict) -> str:
    """The schedule label with the loss the run trained with ("paper, BCE+Dice"): the paper's
    protocol trains Dice only, so "paper" alone would claim more than the run did."""
    label = (rec.get("schedule") or {}).get("label", "—")
    loss = ((rec.get("config") or {}).get("loss") or {}).get("name")
    return f"{label}, {LOSS_TITLES.get(loss, loss)}" if loss else label


def _header(*titles: str) -> list[str]:
    """A Markdown table's header and separator lines."""
    return ["| " + " | ".join(titles) + " |", "|" + "---|" * len(titles)]


def _mean_sd(ev: dict, key: str) -> str:
    return f"{_f(ev['mean'][key])} ± {_f(ev['std'][key])}"


class Records:
    """Records indexed by kind and name."""

    def __init__(self, records: list[dict]):
        self.model = {r["name"]: r for r in records if r["kind"] == "model"}
        self.human = {r["dataset"]: r for r in records if r["kind"] == "human"}
        self.cross = {(r["run"], r["dataset"]): r for r in records if r["kind"] == "cross"}


def table_main(rec: Records) -> str:
    """Table 1 layout: every paper-schedule seed-0 model per dataset, plus the human reference."""
    lines = _header("dataset", "method", "params", "schedule", *(COLUMN_TITLES[c] for c in COLUMNS),
                    "sliding AUC", "sliding F1", "training (min)")
    missing, shown = [], []
    for d in DATASETS:
        h = rec.human.get(d)
        if h:
            p = h["evaluations"]["observer2"]["pooled"]
            cells = ["—" if c in ("auc", "pr_auc") else _f(p[c]) for c in COLUMNS]
            lines.append(f"| {DATASET_TITLES[d]} | second observer (human) | — | — | " + " | ".join(cells)
                         + " | — | — | — |")
        for m in MAIN_MODELS:
            r = rec.model.get(f"{d}_{m}")
            if r is None:
                if m in ("unet", "caffnet"):
                    missing.append(f"{d}_{m}")
                continue
            shown.append(f"{d}_{m}")
            w = r["evaluations"]["whole"]["pooled"]
            s = r["evaluations"].get("sliding", {}).get("pooled", {})
            cells = [_f(w[c]) for c in COLUMNS]
            lines.append(f"| {DATASET_TITLES[d]} | {MODEL_TITLES[m]} | {_params(r)} | {_schedule(r)} | "
                         + " | ".join(cells) + f" | {_f(s.get('auc'))} | {_f(s.get('f1'))} | {_minutes(r)} |")
    out = "\n".join(lines) + "\n"
    mixed = [(n, note) for n in shown if (note := _machines_note(rec.model[n]))]
    if mixed:
        out += ("\n‡ Trained on more than one machine, so the minutes are no one machine's time: "
                + "; ".join(f"{n}: epochs {note}" for n, note in mixed) + ".\n")
    if missing:
        out += f"\nNot run yet: {', '.join(missing)}.\n"
    return out


def table_per_image(rec: Records) -> str:
    """Mean ± sd over test images (whole-image inference) for the same rows."""
    lines = _header("dataset", "method", "images", "AUC", "F1", "Se", "Sp")
    for d in DATASETS:
        h = rec.human.get(d)
        if h:
            e = h["evaluations"]["observer2"]
            lines.append(f"| {DATASET_TITLES[d]} | second observer (human) | {e['n_images']} | — | "
                         + " | ".join(_mean_sd(e, c) for c in ("f1", "sensitivity", "specificity")) + " |")
        for m in MAIN_MODELS:
            r = rec.model.get(f"{d}_{m}")
            if r is None:
                continue
            e = r["evaluations"]["whole"]
            lines.append(f"| {DATASET_TITLES[d]} | {MODEL_TITLES[m]} | {e['n_images']} | "
                         + " | ".join(_mean_sd(e, c) for c in ("auc", "f1", "sensitivity", "specificity")) + " |")
    return "\n".join(lines) + "\n"


def table_caff_mode(rec: Records) -> str:
    """The CaFF-mode head-to-head: ``<d>_caffnet`` (paper) vs ``<d>_caffnet_dual`` (repaired)."""
    lines = _header("dataset", "CaFF mode", "params", "schedule", "AUC", "F1", "MCC", "sliding AUC", "sliding F1")
    for d in DATASETS:
        pair = [(suffix, rec.model.get(f"{d}_caffnet{suffix}")) for suffix in CAFF_MODES]
        if not all(r for _, r in pair):
            continue
        for suffix, r in pair:
            w, s = r["evaluations"]["whole"]["pooled"], r["evaluations"]["sliding"]["pooled"]
            lines.append(f"| {DATASET_TITLES[d]} | {CAFF_MODES[suffix]} | {_params(r)} | {_schedule(r)} | "
                         f"{_f(w['auc'])} | {_f(w['f1'])} | {_f(w['mcc'])} | {_f(s['auc'])} | {_f(s['f1'])} |")
    if len(lines) == 2:
        return "No head-to-head pair has results yet (needs `<dataset>_caffnet` and `<dataset>_caffnet_dual`).\n"
    return "\n".join(lines) + "\n"


def table_cross(rec: Records) -> str:
    """3x3: CaFFNet trained on the row's dataset, tested on the column's (AUC / F1, whole image).

    Off-diagonal cells show native resolution, then the resolution policy (``scale=auto``).
    """
    lines = _header("trained on ↓ / tested on →", *(DATASET_TITLES[d] for d in DATASETS))
    any_cross = False
    for src in DATASETS:
        run = f"{src}_caffnet"
        if run not in rec.model:
            continue
        cells = []
        for dst in DATASETS:
            if dst == src:
                p = rec.model[run]["evaluations"]["whole"]["pooled"]
                cells.append(f"**{_f(p['auc'])} / {_f(p['f1'])}**")
                continue
            c = rec.cross.get((run, dst))
            if c is None:
                cells.append("—")
                continue
            any_cross = True
            n, a = c["evaluations"]["native"]["pooled"], c["evaluations"]["rescaled"]["pooled"]
            cells.append(f"{_f(n['auc'])} / {_f(n['f1'])} → {_f(a['auc'])} / {_f(a['f1'])}")
        lines.append(f"| {DATASET_TITLES[src]} | " + " | ".join(cells) + " |")
    if not any_cross:
        return "No cross-dataset results yet.\n"
    return "\n".join(lines) + "\n"


def table_published(rec: Records) -> str:
    """Published numbers (typed in, cited protocols) next to ours on the same columns."""
    lines = _header("method", "protocol", "DRIVE AUC", "DRIVE F1", "CHASE AUC", "STARE AUC", "params")
    for name, proto, da, df, ca, sa, params in PUBLISHED:
        lines.append(f"| {name} *(published)* | {proto} | {_f(da)} | {_f(df)} | {_f(ca)} | {_f(sa)} | {params} |")

    def ours(d: str, key: str, mode: str) -> float | None:
        r = rec.model.get(f"{d}_caffnet")
        return r["evaluations"][mode]["pooled"][key] if r and mode in r["evaluations"] else None

    params = _params(rec.model["drive_caffnet"]) if "drive_caffnet" in rec.model else "—"
    for mode, label in (("whole", "whole-image"), ("sliding", "sliding-window")):
        lines.append(f"| **CaFFNet, ours** ({label} inference) | FOV only, 48² patches, threshold 0.5 | "
                     f"{_f(ours('drive', 'auc', mode))} | {_f(ours('drive', 'f1', mode))} | "
                     f"{_f(ours('chase', 'auc', mode))} | {_f(ours('stare', 'auc', mode))} | {params} |")
    out = "\n".join(lines) + "\n"
    r = rec.model.get("drive_caffnet")
    if r:
        verdicts = []
        for mode in ("whole", "sliding"):
            p = r["evaluations"].get(mode, {}).get("pooled")
            if not p:
                continue
            met = [f"{k.upper() if k == 'auc' else 'F1'} {p[k]:.4f} {'≥' if p[k] >= t else '<'} {t}"
                   for k, t in TARGET.items()]
            verdicts.append(f"{mode}: " + ", ".join(met))
        out += "\nIssue-6 target on DRIVE (FOV, first observer, 0.5): " + "; ".join(verdicts) + ".\n"
    return out


def table_pooling_context(rec: Records) -> str:
    """Runs with a global pooling (DBPF's strips, SE, CBAM, ...): whole image pooling the whole
    input (as trained) vs the patch context vs sliding windows."""
    lines = _header("run", "whole, global pooling: AUC / F1", "whole, patch context: AUC / F1",
                    "sliding: AUC / F1", "whole s / image", "sliding s / image")
    for name, r in sorted(rec.model.items()):
        ev = r["evaluations"]
        if "whole_global" not in ev:
            continue
        cells = [f"{_f(ev[k]['pooled']['auc'])} / {_f(ev[k]['pooled']['f1'])}" if k in ev else "—"
                 for k in ("whole_global", "whole", "sliding")]
        secs = [_f(ev.get(k, {}).get("seconds_per_image"), 2) for k in ("whole", "sliding")]
        lines.append(f"| {name} | " + " | ".join(cells + secs) + " |")
    if len(lines) == 2:
        return ("No pooling-context comparison yet (records of runs with a global pooling, evaluated "
                "after this option existed).\n")
    return "\n".join(lines) + "\n"


#: Table 2 rows: run name -> (CaFF, DBPF, attention in the ConvBlocks)
ABLATION_ROWS = {
    "chase_ablation_plain": ("—", "—", "—"),
    "chase_ablation_caff": ("✓", "—", "—"),
    "chase_ablation_dbpf": ("—", "✓", "—"),
    "chase_caffnet": ("✓", "✓", "—"),
    "chase_ablation_se": ("—", "—", "SE"),
    "chase_ablation_cbam": ("—", "—", "CBAM"),
    "chase_ablation_coord": ("—", "—", "coordinate"),
    "chase_ablation_scse": ("—", "—", "scSE"),
}


def _pooled(rec: dict, evaluation: str) -> dict | None:
    """Pooled metrics of one evaluation of a record, None when it was not run."""
    return rec["evaluations"].get(evaluation, {}).get("pooled")


def table_ablation(rec: Records) -> str:
    """Table 2 on CHASE_DB1: each module against the plain baseline, with the gain per parameter."""
    base = rec.model.get("chase_ablation_plain")
    lines = _header("CaFF", "DBPF", "attention", "params", "schedule", "AUC", "F1", "Se", "Sp", "MCC",
                    "ΔF1 vs plain", "ΔF1 per 100k extra params", "sliding AUC / F1", "sliding ΔF1")
    for name, (caff, dbpf, att) in ABLATION_ROWS.items():
        r = rec.model.get(name)
        if r is None:
            continue
        p = r["evaluations"]["whole"]["pooled"]
        delta = per = "—"
        if base is not None and r is not base:
            d = p["f1"] - base["evaluations"]["whole"]["pooled"]["f1"]
            extra = r["model"]["parameters"] - base["model"]["parameters"]
            delta = f"{d:+.4f}"
            per = f"{d / extra * 1e5:+.4f}" if extra > 0 else "—"
        sp, sb = _pooled(r, "sliding"), _pooled(base, "sliding") if base is not None else None
        sliding = f"{_f(sp['auc'])} / {_f(sp['f1'])}" if sp else "—"
        sdelta = f"{sp['f1'] - sb['f1']:+.4f}" if sp and sb and r is not base else "—"
        lines.append(f"| {caff} | {dbpf} | {att} | {_params(r)} | {_schedule(r)} | {_f(p['auc'])} | {_f(p['f1'])} | "
                     f"{_f(p['sensitivity'])} | {_f(p['specificity'])} | {_f(p['mcc'])} | {delta} | {per} | "
                     f"{sliding} | {sdelta} |")
    if len(lines) == 2:
        return "No ablation results yet (`python -m experiments study configs/studies/ablation.yaml`).\n"
    return "\n".join(lines) + "\n"


def table_skips(rec: Records) -> str:
    """U-Net on DRIVE with one skip connection removed at a time (1 = finest level)."""
    full = rec.model.get("drive_unet")
    lines = _header("skip removed", "params", "schedule", "AUC", "F1", "Se", "Sp", "ΔAUC", "ΔF1",
                    "sliding AUC / F1", "sliding ΔF1")
    rows = [("none (all four skips)", full)]
    rows += [(f"level {k}", rec.model.get(f"drive_unet_noskip{k}")) for k in (1, 2, 3, 4)]
    for label, r in rows:
        if r is None:
            continue
        p = r["evaluations"]["whole"]["pooled"]
        sl = r["evaluations"].get("sliding", {}).get("pooled")
        da = df = dsf = "—"
        if full is not None and r is not full:
            b = full["evaluations"]["whole"]["pooled"]
            da, df = f"{p['auc'] - b['auc']:+.4f}", f"{p['f1'] - b['f1']:+.4f}"
            bs = full["evaluations"].get("sliding", {}).get("pooled")
            if sl and bs:
                dsf = f"{sl['f1'] - bs['f1']:+.4f}"
        sliding = f"{_f(sl['auc'])} / {_f(sl['f1'])}" if sl else "—"
        lines.append(f"| {label} | {_params(r)} | {_schedule(r)} | {_f(p['auc'])} | {_f(p['f1'])} | "
                     f"{_f(p['sensitivity'])} | {_f(p['specificity'])} | {da} | {df} | {sliding} | {dsf} |")
    if sum(1 for _, r in rows[1:] if r) == 0:
        return "No skip-removal results yet (`python -m experiments study configs/studies/ablation.yaml`).\n"
    return "\n".join(lines) + "\n"


def _seed_runs(rec: Records, base: str) -> list[dict]:
    pattern = re.compile(rf"^{re.escape(base)}(_s\d+)?$")
    return [r for n, r in sorted(rec.model.items()) if pattern.match(n)]


#: (evaluation, metric, label) compared across seeds
SEED_METRICS = (("whole", "auc", "AUC"), ("whole", "f1", "F1"), ("sliding", "f1", "sliding F1"))


def _seed_mean_sd(values: list[float]) -> tuple[float, float | None]:
    """Mean and sample sd (ddof=1); sd is None for a single value."""
    import statistics

    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else None)


def _seed_values(runs: list[dict], ev: str, metric: str) -> list[float]:
    """The finite values of one metric over the runs that have that evaluation."""
    import math

    vals = ((_pooled(r, ev) or {}).get(metric) for r in runs)
    return [float(v) for v in vals if v is not None and math.isfinite(v)]


def _seed_cell(runs: list[dict], ev: str, metric: str) -> str:
    v = _seed_values(runs, ev, metric)
    if not v:
        return "—"
    m, sd = _seed_mean_sd(v)
    cell = f"{m:.4f} ± {sd:.4f}" if sd is not None else f"{m:.4f} (one seed)"
    return cell + (f" ({len(v)} of {len(runs)} seeds)" if len(v) < len(runs) else "")


def _one_against_many(label: str, one: str, x: float, many: str, v: list[float]) -> str:
    """Is one seed of ``one`` outside the seed spread of ``many``? The t of a new observation
    against a sample (prediction interval): ``(x - mean) / (sd * sqrt(1 + 1/n))``, df = n - 1. It
    assumes ``one`` varies over seeds as much as ``many`` does."""
    from scipy import stats

    m, sd = _seed_mean_sd(v)
    n = len(v)
    head = f" {label}: {one}'s single seed {x:.4f} vs {many}'s {n} seeds {m:.4f} ± {sd:.4f}"
    if sd < 1e-9:
        return head + ": no seed spread to compare with."
    t = (x - m) / (sd * (1 + 1 / n) ** 0.5)
    p = 2 * stats.t.sf(abs(t), n - 1)
    return head + f": t = {t:+.2f}, df = {n - 1}, p = {p:.3f} for a {many} seed landing this far."


def table_seeds(rec: Records) -> str:
    """CaFFNet vs U-Net on CHASE_DB1 over seeds: mean ± sd (sample sd, ddof=1) and Welch's t-test.

    Rows appear as soon as a model has one seed; the test needs two seeds of each. The p-value comes
    from scipy's Welch test (Welch-Satterthwaite degrees of freedom): with 3 seeds a side a fixed
    |t| > 2 bar would call differences significant at p ~ 0.1. Non-finite metric values are left
    out (and the cell says how many seeds it averages).
    """
    from scipy import stats

    groups = {"CaFFNet": _seed_runs(rec, "chase_caffnet"), "U-Net": _seed_runs(rec, "chase_unet")}
    if not any(groups.values()):
        return ("No CHASE_DB1 CaFFNet / U-Net results yet "
                "(`python -m experiments study configs/studies/ablation.yaml`).\n")
    lines = _header("model (CHASE_DB1)", "seeds", "schedule", *(f"{label} mean ± sd" for *_, label in SEED_METRICS),
                    "per-seed F1")
    for title, runs in groups.items():
        if not runs:
            continue
        seeds = ", ".join("?" if r.get("seed") is None else str(r["seed"]) for r in runs)
        schedules = ", ".join(sorted({_schedule(r) for r in runs}))
        per = ", ".join(f"{r['evaluations']['whole']['pooled']['f1']:.4f}" for r in runs)
        cells = [_seed_cell(runs, ev, k) for ev, k, _ in SEED_METRICS]
        lines.append(f"| {title} | {seeds} | {schedules} | " + " | ".join(cells) + f" | {per} |")
    out = "\n".join(lines) + "\n"
    if len({_schedule(r) for runs in groups.values() for r in runs}) > 1:
        out += "\n**Mixed schedules**: the runs below were not all trained on the same schedule.\n"
    n = {t: len(r) for t, r in groups.items()}
    if min(n.values()) < 2:
        few = [t for t, k in n.items() if k < 2]
        out += (f"\nNo test yet: {' and '.join(few)} {'has' if len(few) == 1 else 'have'} fewer than two seeds "
                f"(`python -m experiments study configs/studies/ablation.yaml` runs the rest).")
        many = [t for t, k in n.items() if k >= 2]
        if len(many) == 1 and n[few[0]] == 1:
            for ev, k, label in SEED_METRICS:
                v, x = _seed_values(groups[many[0]], ev, k), _seed_values(groups[few[0]], ev, k)
                if len(v) >= 2 and x:
                    out += _one_against_many(label, few[0], x[0], many[0], v)
        return out + "\n"
    for ev, k, label in SEED_METRICS:
        a, b = _seed_values(groups["CaFFNet"], ev, k), _seed_values(groups["U-Net"], ev, k)
        if len(a) < 2 or len(b) < 2:
            out += f"\n{label}: not tested (fewer than two seeds with this evaluation on one side)."
            continue
        (ma, sa), (mb, sb) = _seed_mean_sd(a), _seed_mean_sd(b)
        if max(sa, sb) < 1e-9:  # identical values on both sides: the test is undefined
            verdict = "no seed spread to test against"
        else:
            res = stats.ttest_ind(a, b, equal_var=False)
            verdict = f"Welch t = {res.statistic:+.2f}, df = {res.df:.1f}, p = {res.pvalue:.3f}: " + (
                "beyond the seed spread (p < 0.05)" if res.pvalue < 0.05 else
                f"not significant at p < 0.05 (with {len(a)} and {len(b)} seeds only large differences are)")
        out += f"\n{label}: CaFFNet − U-Net = {ma - mb:+.4f}; {verdict}."
    return out + "\n"


SECTIONS: dict[str, Callable[[Records], str]] = {
    "main": table_main,
    "per_image": table_per_image,
    "caff_mode": table_caff_mode,
    "pooling_context": table_pooling_context,
    "cross": table_cross,
    "published": table_published,
    "ablation": table_ablation,
    "skips": table_skips,
    "seeds": table_seeds,
}
_MARKER = re.compile(r"(<!-- report:(\w+) -->\n)(.*?)(<!-- /report:\2 -->)", re.S)


def render(results_dir: str | Path, extra: dict[str, Callable[[Records], str]] | None = None) -> dict[str, str]:
    """``{section: markdown}`` for every known section, from the records in ``results_dir``."""
    rec = Records(load_records(Path(results_dir)))
    sections = dict(SECTIONS, **(extra or {}))
    return {name: fn(rec) for name, fn in sections.items()}


def update_text(text: str, tables: dict[str, str]) -> tuple[str, list[str]]:
    """Replace every marked section of ``text`` whose name is in ``tables``; returns (new, names)."""
    seen = []

    def sub(m: re.Match) -> str:
        name = m.group(2)
        if name not in tables:
            raise InputError(f"marker report:{name} names no table; known: {', '.join(sorted(tables))}")
        seen.append(name)
        return m.group(1) + tables[name] + m.group(4)

    return _MARKER.sub(sub, text), seen


def marked_files(root: Path) -> list[Path]:
    """README.md and every ``docs/*.md`` under ``root`` that holds a ``<!-- report:NAME -->`` marker."""
    candidates = [root / "README.md", *sorted((root / "docs").glob("*.md"))]
    return [p for p in candidates if p.is_file() and _MARKER.search(p.read_text())]


def update_file(path: str | Path, results_dir: str | Path, check: bool = False) -> tuple[bool, list[str]]:
    """Rewrite a markdown file's marked tables (or, with ``check``, only compare). Returns (changed, sections)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    if not Path(results_dir).is_dir():
        raise InputError(f"{results_dir}: no results folder")
    text = path.read_text()
    new, seen = update_text(text, render(results_dir))
    if not seen:
        raise InputError(f"{path} has no <!-- report:NAME --> markers")
    changed = new != text
    if changed and not check:
        atomic_write_text(path, new)
    return changed, seen
