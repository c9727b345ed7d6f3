"""Medians over repeats, the ratios between runners, and the table."""

from __future__ import annotations

import statistics

from benchmarks.tools.speed.probe import FLOP_FORMULA

ROWS = [
    ("real tokens/s", "tokens_per_s", "{:,.0f}"),
    ("samples/s", "samples_per_s", "{:,.1f}"),
    ("step time (ms)", "step_ms", "{:,.1f}"),
    ("padding efficiency", "padding_efficiency", "{:.1%}"),
    ("optimizer share", "optimizer_share", "{:.1%}"),
    ("cores used (CPU/wall)", "cores_used", "{:.2f}"),
    ("real tokens/CPU-second", "tokens_per_cpu_s", "{:,.0f}"),
    ("MFU (of fp32 peak)", "mfu_fp32", "{:.1%}"),
    ("MFU (of bf16 peak)", "mfu_bf16", "{:.1%}"),
    ("achieved GFLOP/s", "achieved_flops_per_s", "{:,.1f}", 1e-9),
    ("train time (s)", "train_s", "{:,.1f}"),
    ("steps", "steps", "{:,}"),
    ("start-up (s)", "startup_s", "{:,.1f}"),
    ("first step to end (s)", "fit_s", "{:,.1f}"),
    ("after training (s)", "after_s", "{:,.1f}"),
    ("whole process (s)", "wall_s", "{:,.1f}"),
    ("eval samples/s", "eval_samples_per_s", "{:,.0f}"),
    ("peak RSS (MB)", "peak_rss_mb", "{:,.0f}"),
    ("peak CUDA memory (MB)", "cuda_peak_mb", "{:,.0f}"),
    ("dev metric", "metric", "{:.4f}"),
    ("optimizer", "optimizer", "{}"),
]
# (result key, numerator runner, denominator runner, runner key): one ratio per alternating pair.
RATIOS = [
    ("tokens_per_s_ratio", "glue_lit", "trainer", "tokens_per_s"),
    ("tokens_per_cpu_s_ratio", "glue_lit", "trainer", "tokens_per_cpu_s"),
    ("step_ms_ratio_bare", "glue_lit", "bare", "step_ms"),
    ("wall_s_ratio", "trainer_process", "glue_lit_process", "wall_s"),
    ("startup_s_ratio", "trainer_process", "glue_lit_process", "startup_s"),
]


def median(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    mid = statistics.median(values)
    return int(mid) if all(isinstance(v, int) for v in values) and mid == int(mid) else mid


def aggregate(runs: dict[str, list[dict]], peaks: dict[str, float]) -> dict:
    """Medians over repeats; MFU against the best matmul throughput of each dtype seen in the run."""
    seen = [peaks] + [r.get("matmul_peaks", {}) for rs in runs.values() for r in rs]
    peaks = {dtype: max(p.get(dtype, 0.0) for p in seen) for dtype in peaks}
    out = {"matmul_peaks": peaks, "runners": {}}
    for name, rs in runs.items():
        for r in rs:
            if "achieved_flops_per_s" in r:
                r.update({f"mfu_{dtype}": r["achieved_flops_per_s"] / peak for dtype, peak in peaks.items()})
        keys = [k for k, v in rs[0].items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
        agg = {k: median([r[k] for r in rs]) for k in keys}
        agg.update({k: v for k, v in rs[0].items() if k not in agg})
        if "tokens_per_s" in agg:
            agg["tokens_per_s_all"] = [r["tokens_per_s"] for r in rs]
        agg["metric_all"] = [r.get("metric") for r in rs]
        out["runners"][name] = agg
    for key, top, bottom, field in RATIOS:
        if {top, bottom} <= runs.keys():
            pairs = [(a.get(field), b.get(field)) for a, b in zip(runs[top], runs[bottom])]
            ratios = [a / b for a, b in pairs if a and b]
            if ratios:
                out[key], out[f"{key}_all"] = statistics.median(ratios), ratios
    if {"glue_lit", "trainer"} <= runs.keys():
        g, t = (out["runners"][n]["metric"] for n in ("glue_lit", "trainer"))
        out["metric_difference"] = g - t if g is not None and t is not None else None
    return out


def _ratio_line(result: dict, key: str, text: str, note: str = "") -> None:
    if key in result:
        spread = ", ".join(f"{x:.2f}" for x in result[f"{key}_all"])
        print(f"{text}: {result[key]:.2f}x (runs: {spread}{note})")


def runs_in(cfg: dict) -> str:
    """The precision of the runs, in words: one for all, or glue_lit's and the Trainer's."""
    trainer = cfg.get("trainer_precision") or cfg["precision"]
    if trainer == cfg["precision"]:
        return f"runs in {cfg['precision']}"
    return f"glue_lit and bare runs in {cfg['precision']}, Trainer runs in {trainer}"


def print_table(result: dict) -> None:
    runners = result["runners"]
    names = list(runners)
    print(f"\n{'':24}" + "".join(f"{n:>18}" for n in names))
    for label, key, fmt, *scale in ROWS:
        cells = []
        for n in names:
            v = runners[n].get(key)
            cells.append("-" if v is None else fmt.format(v * scale[0] if scale else v))
        if any(c != "-" for c in cells):
            print(f"{label:24}" + "".join(f"{c:>18}" for c in cells))
    cfg = result["config"]
    peaks = ", ".join(f"{dtype} {flops / 1e9:,.1f}" for dtype, flops in result["matmul_peaks"].items())
    print(f"\nmatmul peaks (GFLOP/s): {peaks} ({cfg['device']}, {result['threads']} threads; "
          f"{runs_in(cfg)})")
    _ratio_line(result, "tokens_per_s_ratio", "glue_lit / Trainer real tokens/s")
    _ratio_line(result, "tokens_per_cpu_s_ratio", "glue_lit / Trainer real tokens per CPU-second",
                "; less sensitive to other load on the machine")
    _ratio_line(result, "step_ms_ratio_bare", "glue_lit / bare loop step time", "; 1.00 = no overhead")
    _ratio_line(result, "wall_s_ratio", "whole process, Trainer / glue_lit wall-clock")
    _ratio_line(result, "startup_s_ratio", "start-up to the first step, Trainer / glue_lit")
    if any(len(r["metric_all"]) > 1 and r.get("metric_name") for r in runners.values()):
        for n, r in runners.items():
            if r.get("metric_name"):
                values = ", ".join("-" if v is None else f"{v:.4f}" for v in r["metric_all"])
                print(f"{n} dev {r['metric_name']} per run: {values}")
    print(f"FLOPs = {FLOP_FORMULA}\n")
