"""Same name, same number? Our biomarkers against PVBM's on the same masks, and why they differ.

    pip install --no-deps --target /tmp/pvbm_lib pvbm    # once; keeps PVBM out of the environment
    python benchmarks/compare_pvbm.py [--pvbm-path /tmp/pvbm_lib] [--rotations 25] [--limit N]

Masks: DRIVE's 20 test images, first observer, inside DRIVE's FOV; A/V: RITE's ground-truth maps of
the same photographs; optic disc: the DRIVE-OD mask (centroid, equal-area radius), given to both
tools. Ours: ``vesselseg.measure.measure_mask`` and ``measure.biomarkers.measure_av``. PVBM (pip
``pvbm``, Fhima et al. 2022): ``MultifractalVBMs`` (D0 with its defaults: 25 rotations, boxes
holding 1-98 % vessel pixels), ``GeometricalVBMs.compute_geomVBMs`` (area, length, tortuosity) and
``CREVBMs`` (Knudtson CRAE/CRVE in pixels, zone 2r-3r), run at the masks' size and, because its
thresholds are in absolute pixels, on the masks upsampled 2x (widths halved back).

To say *why* the fractal dimensions differ, the box counts are redone here from the definitions
(no PVBM code): PVBM's box sizes and occupancy rule without rotation (must equal PVBM's own D0 at
one rotation), PVBM's sizes without the rule, and AutoMorph's rule (boxes that are neither empty
nor full, sizes 4 px to the largest power of 2 that fits), at the masks' size and at AutoMorph's
912-px working size. A synthetic star of bars of known width checks both tools' calibres.

Prints markdown tables; writes ``results/biomarkers/pvbm_comparison.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import sys
import threading
import time
from pathlib import Path

import numpy as np

from vesselseg.io.av import read_av_label
from vesselseg.io.datasets import load_sample, load_split
from vesselseg.measure import measure_mask
from vesselseg.measure.biomarkers import class_masks, knudtson, measure_av, zone_vessels
from vesselseg.measure.zones import zone_mask
from vesselseg.settings import data_root, set_threads

# --- box counting from the written definitions (independent of both tools' code) -----------------


def box_sums(mask: np.ndarray, k: int) -> np.ndarray:
    """Vessel pixels in each ``k x k`` box of a grid anchored at the top-left (edge boxes partial)."""
    h, w = mask.shape
    padded = np.zeros((-(-h // k) * k, -(-w // k) * k), dtype=np.int64)
    padded[:h, :w] = mask
    return padded.reshape(padded.shape[0] // k, k, padded.shape[1] // k, k).sum(axis=(1, 3))


def slope(sizes: list[int], counts: list[int]) -> float:
    """Slope of log N against log(1/s)."""
    return float(np.polyfit(np.log(1.0 / np.asarray(sizes, float)), np.log(np.asarray(counts, float)), 1)[0])


def pvbm_sizes(shape: tuple[int, int]) -> list[int]:
    """PVBM's box sizes: 20 evenly spaced from 5 px to 0.6 x the shorter side (truncated to int)."""
    return [int(s) for s in np.linspace(5, int(0.6 * min(shape)), 20).astype(np.int64)]


def d0_pvbm_rule(mask: np.ndarray, occupancy: tuple[float, float] | None = (0.01, 0.98)) -> float:
    """Box counting over PVBM's sizes; with ``occupancy`` only boxes whose vessel fraction (pixels / k²)
    lies in that range count (PVBM's filter; all-filtered sizes fall back to every non-empty box)."""
    sizes, counts = pvbm_sizes(mask.shape), []
    for k in sizes:
        p = box_sums(mask, k) / k**2
        n = int((p > 0).sum())
        if occupancy is not None:
            kept = int(((p >= occupancy[0]) & (p <= occupancy[1]) & (p > 0)).sum())
            n = kept or n
        counts.append(n)
    return slope(sizes, counts)


def d0_automorph_rule(mask: np.ndarray) -> float:
    """AutoMorph's box counting: boxes neither empty nor full, sizes 2^n down to 4 px, 2^n <= shorter side."""
    n = int(math.floor(math.log2(min(mask.shape))))
    sizes = [2**e for e in range(n, 1, -1)]
    counts = [int(((s := box_sums(mask, k)) > 0).sum() - (s == k * k).sum()) for k in sizes]
    return slope(sizes, counts)


def to_automorph_size(mask: np.ndarray, fov: np.ndarray, size: int = 912) -> np.ndarray:
    """The FOV's bounding box, padded to a square, resized (nearest) to AutoMorph's working size."""
    rows, cols = np.nonzero(fov)
    crop = mask[rows.min(): rows.max() + 1, cols.min(): cols.max() + 1]
    side = max(crop.shape)
    square = np.zeros((side, side), bool)
    r0, c0 = (side - crop.shape[0]) // 2, (side - crop.shape[1]) // 2
    square[r0: r0 + crop.shape[0], c0: c0 + crop.shape[1]] = crop
    idx = (np.arange(size) * side / size).astype(int)
    return square[np.ix_(idx, idx)]


# --- PVBM calls ----------------------------------------------------------------------------------


def quiet(fn, *args, **kwargs):
    """Call ``fn`` with its prints ("Potential error ...") swallowed."""
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*args, **kwargs)


def pvbm_cre(pvbm, mask: np.ndarray, fov: np.ndarray, disc: tuple[float, float, float], artery: bool,
             scale: int = 1) -> tuple[float | None, int]:
    """PVBM's Knudtson equivalent (pixels of the input) of one class mask, zone 2r-3r as PVBM cuts it:
    the mask and its skeleton multiplied by the ring. ``scale``: upsample by pixel repetition first."""
    from skimage.morphology import skeletonize

    m = mask & fov
    x, y, r = disc
    if scale > 1:
        m = np.repeat(np.repeat(m, scale, 0), scale, 1)
        x, y, r = scale * x + (scale - 1) / 2, scale * y + (scale - 1) / 2, scale * r
    ring = zone_mask(m.shape, (x, y), r, "B")
    skel = skeletonize(m).astype(float) * ring
    out, vessels = quiet(pvbm.CREVBMs().compute_central_retinal_equivalents, m.astype(float) * ring, skel, x, y, r,
                         artery=artery)
    value = out["craek" if artery else "crvek"]
    return (None if value == -1 else float(value) / scale), (len(vessels) if vessels else 0)


def load_pvbm(path: str | None):
    if path:
        sys.path.insert(0, path)
    try:
        from PVBM.CentralRetinalAnalysis import CREVBMs
        from PVBM.FractalAnalysis import MultifractalVBMs
        from PVBM.GeometryAnalysis import GeometricalVBMs
    except ImportError as e:
        raise SystemExit(f"PVBM not importable ({e}); install it with: pip install --no-deps --target /tmp/pvbm_lib pvbm "
                         "and pass --pvbm-path /tmp/pvbm_lib") from None
    return argparse.Namespace(CREVBMs=CREVBMs, MultifractalVBMs=MultifractalVBMs, GeometricalVBMs=GeometricalVBMs)


# --- one image -----------------------------------------------------------------------------------


def reference_disc(label: np.ndarray) -> tuple[float, float, float]:
    """Disc mask -> centre (x, y) and equal-area radius, in pixels."""
    rows, cols = np.nonzero(label)
    return float(cols.mean()), float(rows.mean()), math.sqrt(label.sum() / math.pi)


def measure_one(pvbm, sample, disc, rotations: int, upscale: int) -> dict:
    from skimage.morphology import skeletonize

    ls = load_sample(sample, observer2=False)
    mask = (ls.label > 0) & ls.fov
    ours = measure_mask(mask, ls.fov).summary
    rec: dict = {"name": sample.name, "disc": disc, "fov_pixels": int(ls.fov.sum())}
    rec["ours"] = {k: ours[k] for k in ("vessel_pixels", "density", "length_px", "tortuosity_arc_chord",
                                        "fractal_dimension", "fractal_r2", "segments")}
    seg = mask.astype(float)
    d = pvbm.MultifractalVBMs(n_rotations=rotations).compute_multifractals(seg.copy())
    d1 = pvbm.MultifractalVBMs(optimize=False).compute_multifractals(seg.copy())
    area, ti, med_tor, length, *_ = quiet(pvbm.GeometricalVBMs().compute_geomVBMs, seg.copy(),
                                          skeletonize(mask).astype(float), disc[0], disc[1], disc[2])[0]
    rec["pvbm"] = {"D0": float(d[0]), "D1": float(d[1]), "D2": float(d[2]), "D0_one_rotation": float(d1[0]),
                   "area_px": float(area), "density_from_area": float(area) / rec["fov_pixels"],
                   "overall_length_px": float(length), "tortuosity_index": float(ti), "median_tortuosity": float(med_tor)}
    rec["recount"] = {"pvbm_rule": d0_pvbm_rule(mask), "pvbm_sizes_no_rule": d0_pvbm_rule(mask, None),
                      "automorph_rule": d0_automorph_rule(mask),
                      "automorph_rule_912px": d0_automorph_rule(to_automorph_size(mask, ls.fov))}
    classes = read_av_label(data_root() / "RITE" / "test" / "av" / f"{sample.name}.png")
    row, _ = measure_av(classes, ls.fov, disc)
    um = row["um_per_px"]
    rec["ours_av"] = {"crae_px": row["crae_knudtson_um"] / um, "crve_px": row["crve_knudtson_um"] / um,
                      "avr": row["avr_knudtson"], "arteries": row["zoneB_arteries"], "veins": row["zoneB_veins"]}
    masks = class_masks(classes)
    for scale in (1, upscale):
        crae, na = pvbm_cre(pvbm, masks["artery"], ls.fov, disc, True, scale)
        crve, nv = pvbm_cre(pvbm, masks["vein"], ls.fov, disc, False, scale)
        rec[f"pvbm_av_x{scale}"] = {"crae_px": crae, "crve_px": crve, "arteries": na, "veins": nv,
                                    "avr": crae / crve if crae and crve else None}
    return rec


# --- synthetic calibre check ---------------------------------------------------------------------


def synthetic_calibres(pvbm) -> dict:
    """Six straight bars of known width (5-15 px, at 0-300 degrees) leaving a disc of radius 60 px:
    the calibre each tool measures in zone B, and the Knudtson CRAE of the true and measured widths."""
    size, r, c = 800, 60.0, 400.0
    widths, angles = [5, 7, 9, 11, 13, 15], [0, 60, 120, 180, 240, 300]
    yy, xx = np.mgrid[:size, :size]
    mask = np.zeros((size, size), bool)
    for w, a in zip(widths, angles):
        u = np.array([math.cos(math.radians(a)), math.sin(math.radians(a))])
        along, perp = (xx - c) * u[0] + (yy - c) * u[1], np.abs(-(xx - c) * u[1] + (yy - c) * u[0])
        mask |= (along > r) & (along < 6 * r) & (perp <= w / 2)

    def nearest_bar(x: float, y: float) -> int:
        ang = math.degrees(math.atan2(y - c, x - c)) % 360
        return int(np.argmin([min(abs(ang - a), 360 - abs(ang - a)) for a in angles]))

    ours = {nearest_bar(v.x, v.y): v.calibre_px for v in zone_vessels(mask, "artery", (c, c), r)}
    ring = zone_mask(mask.shape, (c, c), r, "B")
    from skimage.morphology import skeletonize

    out, found = quiet(pvbm.CREVBMs().compute_central_retinal_equivalents, mask.astype(float) * ring,
                       skeletonize(mask).astype(float) * ring, c, c, r, artery=True)
    theirs = {nearest_bar(p["start"][1], p["start"][0]): float(p["Mean diameter"]) for p in (found or [])}
    return {"true_width_px": widths, "angle_deg": angles,
            "ours_px": [ours.get(i) for i in range(len(widths))], "pvbm_px": [theirs.get(i) for i in range(len(widths))],
            "crae_true_px": knudtson(widths, "artery"), "crae_ours_px": knudtson(list(ours.values()), "artery"),
            "crae_pvbm_px": None if out["craek"] == -1 else float(out["craek"])}


# --- summary -------------------------------------------------------------------------------------


def pair(a: list, b: list) -> dict:
    """Agreement of ``b`` (the other tool) with ``a`` (ours) over the images where both exist."""
    x = np.array([np.nan if v is None else v for v in a], float)
    y = np.array([np.nan if v is None else v for v in b], float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    n = int(ok.sum())
    return {"n": n, "ours_mean": float(x.mean()), "ours_sd": float(x.std(ddof=1)) if n > 1 else None,
            "other_mean": float(y.mean()), "other_sd": float(y.std(ddof=1)) if n > 1 else None,
            "pearson_r": float(np.corrcoef(x, y)[0, 1]) if n > 2 and x.std() > 0 and y.std() > 0 else None,
            "mean_ratio": float(np.mean(y / x)), "mean_difference": float(np.mean(y - x)),
            "max_abs_difference": float(np.max(np.abs(y - x)))}


def get(rows: list[dict], path: str) -> list:
    out = []
    for r in rows:
        v = r
        for key in path.split("."):
            v = v.get(key) if isinstance(v, dict) else None
        out.append(v)
    return out


def comparisons(rows: list[dict], upscale: int) -> list[tuple[str, str, str, dict]]:
    """(measure, ours, other, agreement) for every pair reported."""
    c = []

    def add(measure: str, ours_label: str, ours_key: str, other_label: str, other_key: str) -> None:
        c.append((measure, ours_label, other_label, pair(get(rows, ours_key), get(rows, other_key))))

    add("fractal dimension", "fractal_dimension", "ours.fractal_dimension", "PVBM D0 (defaults: 25 rotations, 1-98 % rule)", "pvbm.D0")
    add("fractal dimension", "fractal_dimension", "ours.fractal_dimension", "PVBM D0, one rotation", "pvbm.D0_one_rotation")
    add("fractal dimension", "PVBM D0, one rotation", "pvbm.D0_one_rotation", "recount: PVBM sizes + 1-98 % rule", "recount.pvbm_rule")
    add("fractal dimension", "fractal_dimension", "ours.fractal_dimension", "recount: PVBM sizes, no rule", "recount.pvbm_sizes_no_rule")
    add("fractal dimension", "fractal_dimension", "ours.fractal_dimension", "recount: AutoMorph rule, 565 px", "recount.automorph_rule")
    add("fractal dimension", "fractal_dimension", "ours.fractal_dimension", "recount: AutoMorph rule, 912 px", "recount.automorph_rule_912px")
    add("density", "density", "ours.density", "PVBM area / FOV pixels", "pvbm.density_from_area")
    add("length (px)", "length_px", "ours.length_px", "PVBM overall length", "pvbm.overall_length_px")
    add("tortuosity", "tortuosity_arc_chord", "ours.tortuosity_arc_chord", "PVBM tortuosity index (Σarc/Σchord)", "pvbm.tortuosity_index")
    add("tortuosity", "tortuosity_arc_chord", "ours.tortuosity_arc_chord", "PVBM median tortuosity", "pvbm.median_tortuosity")
    for scale in (1, upscale):
        tag = "at 565 px" if scale == 1 else f"on masks upsampled {scale}x"
        add("CRAE (px)", "crae_knudtson / um_per_px", "ours_av.crae_px", f"PVBM craek {tag}", f"pvbm_av_x{scale}.crae_px")
        add("CRVE (px)", "crve_knudtson / um_per_px", "ours_av.crve_px", f"PVBM crvek {tag}", f"pvbm_av_x{scale}.crve_px")
        add("AVR", "avr_knudtson", "ours_av.avr", f"PVBM craek / crvek {tag}", f"pvbm_av_x{scale}.avr")
        add("zone-B arteries", "zoneB_arteries", "ours_av.arteries", f"PVBM vessels found {tag}", f"pvbm_av_x{scale}.arteries")
        add("zone-B veins", "zoneB_veins", "ours_av.veins", f"PVBM vessels found {tag}", f"pvbm_av_x{scale}.veins")
    return c


def fmt(v: float | None, digits: int = 4) -> str:
    return "—" if v is None else f"{v:.{digits}g}"


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pvbm-path", default="/tmp/pvbm_lib", help="folder PVBM was installed into (pip --target)")
    ap.add_argument("--rotations", type=int, default=25, help="PVBM MultifractalVBMs n_rotations (its default: 25)")
    ap.add_argument("--upscale", type=int, default=2, help="second PVBM CRE run on masks upsampled this much")
    ap.add_argument("--limit", type=int, default=0, help="first N images only (0: all 20)")
    ap.add_argument("--out", type=Path, default=Path("results/biomarkers"))
    ap.add_argument("--threads", type=int, default=1)
    return ap.parse_args()


def run(args: argparse.Namespace, pvbm) -> None:
    set_threads(args.threads)
    discs = {s.name: reference_disc(load_sample(s, observer2=False).label) for s in load_split("drive_od", "test")}
    samples = load_split("drive", "test")[: args.limit or None]
    rows: list[dict] = []
    t0 = time.perf_counter()
    for s in samples:
        rows.append(measure_one(pvbm, s, discs[s.name], args.rotations, args.upscale))
        r = rows[-1]
        print(f"{s.name}: D ours {r['ours']['fractal_dimension']:.3f} PVBM {r['pvbm']['D0']:.3f}; AVR ours "
              f"{fmt(r['ours_av']['avr'], 3)} PVBM x1 {fmt(r['pvbm_av_x1']['avr'], 3)} "
              f"x{args.upscale} {fmt(r[f'pvbm_av_x{args.upscale}']['avr'], 3)}", flush=True)
    synthetic = synthetic_calibres(pvbm)
    table = comparisons(rows, args.upscale)
    print(f"\nDRIVE test, {len(rows)} images (1st observer, inside the FOV; A/V: RITE; disc: DRIVE-OD), "
          f"{time.perf_counter() - t0:.0f} s\n")
    print("| measure | ours | other | n | ours mean ± sd | other mean ± sd | Pearson r | mean ratio other/ours | mean difference |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|")
    for measure, a, b, s in table:
        print(f"| {measure} | {a} | {b} | {s['n']} | {fmt(s['ours_mean'])} ± {fmt(s['ours_sd'], 2)} | "
              f"{fmt(s['other_mean'])} ± {fmt(s['other_sd'], 2)} | {fmt(s['pearson_r'], 3)} | "
              f"{s['mean_ratio']:.3f} | {s['mean_difference']:+.4g} |")
    print("\nSynthetic bars (known width, px), calibre in zone B:")
    print("| true width | angle | ours | PVBM |\n|---:|---:|---:|---:|")
    for w, a, o, p in zip(synthetic["true_width_px"], synthetic["angle_deg"], synthetic["ours_px"], synthetic["pvbm_px"]):
        print(f"| {w} | {a}° | {fmt(o, 3)} | {fmt(p, 3)} |")
    print(f"CRAE (Knudtson, px): true widths {synthetic['crae_true_px']:.2f}, ours {fmt(synthetic['crae_ours_px'])}, "
          f"PVBM {fmt(synthetic['crae_pvbm_px'])}")
    args.out.mkdir(parents=True, exist_ok=True)
    summary = [{"measure": m, "ours": a, "other": b, **s} for m, a, b, s in table]
    out = {"images": len(rows), "pvbm_version": pvbm_version(args.pvbm_path), "rotations": args.rotations,
           "upscale": args.upscale, "summary": summary, "synthetic_calibre": synthetic, "per_image": rows}
    (args.out / "pvbm_comparison.json").write_text(json.dumps(out, indent=1) + "\n")
    print(f"\nwrote {args.out / 'pvbm_comparison.json'}")


def pvbm_version(path: str | None) -> str | None:
    from importlib.metadata import distributions

    for dist in distributions(path=[path] if path else sys.path):
        if (dist.metadata["Name"] or "").lower() == "pvbm":
            return dist.version
    return None


def main() -> None:
    args = parse_args()
    pvbm = load_pvbm(args.pvbm_path)
    # PVBM walks skeletons recursively (one Python frame per pixel): run it on a thread with a deep stack.
    sys.setrecursionlimit(1_000_000)
    threading.stack_size(512 * 1024 * 1024)
    failure: list[BaseException] = []

    def work() -> None:
        try:
            run(args, pvbm)
        except BaseException as e:  # handed to the main thread, so the exit status says it failed
            failure.append(e)

    worker = threading.Thread(target=work)
    worker.start()
    worker.join()
    if failure:
        raise failure[0]


if __name__ == "__main__":
    main()
