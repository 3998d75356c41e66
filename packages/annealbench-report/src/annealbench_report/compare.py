"""Do two builds of the same study agree? Typically the same seeds on a CPU and on a GPU.

    python -m annealbench_report.compare A B --study NAME [--study NAME ...] [--out DIR]

A and B are output folders (``<A>/<study>/records.parquet``, ``verdicts.csv`` and ``study.json``
as ``annealbench-report build`` writes them). Runs are matched on what defines them apart from the
device and precision (optimizer, schedule, base LR, seed, length); for each pair the difference
B - A of the final test primary metric is taken.

A CPU and a GPU never give the same bits: cuDNN's kernels sum in other orders than the CPU's, bf16
rounds where fp32 does not, and training amplifies a last-bit difference into a different run of
the same seed. So agreement is judged on distributions and verdicts, by rules fixed here before
any GPU run (each is a line of the output):

1. No device effect the study would call meaningful: the 95% t-interval of the mean difference
   lies inside +-min_effect (the study's smallest effect of interest).
2. No more scatter than a new seed brings: two independent draws of a run's luck differ by
   sqrt(2) sigma, and changing the device at a fixed seed must not do worse than redrawing the seed.
   Tested, not compared point to point: the variance ratio F = SD(d)^2 / (2 SD_seed^2), SD_seed
   pooled over A's arms, must not exceed the 95% quantile of F(n - 1, dof of SD_seed). (The first
   GPU run, 2026-12-04, used the point rule SD(d) <= sqrt(2) SD_seed. Where the device does
   decorrelate a run as fully as a new seed, that rule's threshold is the expected value itself,
   so it fails about half the time with nothing wrong: the CNN failed it by 3%, docs/gpu.md. This
   test, declared after that run and before any other, fails only on significantly more scatter.)
3. Verdicts: no claim is "reproduced" on one side and "reversed" on the other. Other differences
   (e.g. inconclusive on one side) are listed: near the decision threshold they are expected.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

KEY = ["optimizer", "schedule", "base_lr", "seed", "epochs"]
OPPOSITE = {("reproduced", "reversed"), ("reversed", "reproduced")}


def finals(records: pd.DataFrame, primary: str) -> pd.DataFrame:
    """One row per run: its final test ``primary`` value (the epoch equal to its length)."""
    r = records[(records["split"] == "test") & (records["metric"] == primary)
                & (records["epoch"] == records["epochs"])]
    return r[[*KEY, "value"]].drop_duplicates(KEY)


def pooled_seed_sd(f: pd.DataFrame) -> tuple[float, int]:
    """Within-arm seed SD, pooled over arms (optimizer, schedule, base LR, length), and its
    degrees of freedom."""
    groups = [g["value"].to_numpy() for _, g in f.groupby(KEY[:3] + ["epochs"]) if len(g) > 1]
    dof = sum(len(g) - 1 for g in groups)
    if not dof:
        return math.nan, 0
    return math.sqrt(sum(((g - g.mean()) ** 2).sum() for g in groups) / dof), dof


def scatter_test(sd_d: float, n: int, seed_sd: float, dof: int) -> tuple[float, float]:
    """(F, its 95% critical value) for rule 2: F = sd_d^2 / (2 seed_sd^2) on (n - 1, dof)."""
    return sd_d ** 2 / (2 * seed_sd ** 2), float(stats.f.ppf(0.95, n - 1, dof))


def differences(a: pd.DataFrame, b: pd.DataFrame) -> dict:
    """Summary of the paired differences b - a; t-interval at 95%."""
    m = a.merge(b, on=KEY, suffixes=("_a", "_b"))
    d = (m["value_b"] - m["value_a"]).to_numpy(dtype=float)
    n = len(d)
    out = {"n": n, "unmatched_a": len(a) - n, "unmatched_b": len(b) - n}
    if n < 2:
        return {**out, "mean": math.nan, "lo": math.nan, "hi": math.nan, "sd": math.nan}
    mean, sd = float(d.mean()), float(d.std(ddof=1))
    half = stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n)
    return {**out, "mean": mean, "lo": mean - half, "hi": mean + half, "sd": sd,
            "median_abs": float(np.median(np.abs(d))), "max_abs": float(np.abs(d).max()),
            "q05": float(np.quantile(d, 0.05)), "q95": float(np.quantile(d, 0.95))}


def verdicts(va: pd.DataFrame, vb: pd.DataFrame) -> pd.DataFrame:
    on = ["optimizer", "protocol", "claim", "schedule"]
    m = va[[*on, "verdict", "delta"]].merge(vb[[*on, "verdict", "delta"]], on=on, how="outer",
                                            suffixes=("_a", "_b"))
    m["same"] = m["verdict_a"] == m["verdict_b"]
    m["opposite"] = [(x, y) in OPPOSITE for x, y in zip(m["verdict_a"], m["verdict_b"], strict=True)]
    return m


def compare_study(dir_a: Path, dir_b: Path) -> dict:
    study = json.loads((dir_a / "study.json").read_text())
    primary = study["primary_metric"]
    min_effect = study.get("min_effect")
    fa = finals(pd.read_parquet(dir_a / "records.parquet"), primary)
    fb = finals(pd.read_parquet(dir_b / "records.parquet"), primary)
    diff = differences(fa, fb)
    seed_sd, dof = pooled_seed_sd(fa)
    ok_sd = None
    if math.isfinite(seed_sd) and seed_sd > 0 and diff["n"] >= 2:
        f_ratio, f_crit = scatter_test(diff["sd"], diff["n"], seed_sd, dof)
        diff.update(f_ratio=f_ratio, f_crit=f_crit, seed_dof=dof)
        ok_sd = bool(f_ratio <= f_crit)
    v = verdicts(pd.read_csv(dir_a / "verdicts.csv"), pd.read_csv(dir_b / "verdicts.csv"))
    rules = {
        "mean_within_min_effect": None if min_effect is None or diff["n"] < 2 else bool(
            -min_effect <= diff["lo"] and diff["hi"] <= min_effect),
        "sd_within_seed_sd": ok_sd,
        "no_opposite_verdicts": not bool(v["opposite"].any()),
    }
    return {"study": study.get("name", dir_a.name), "primary_metric": primary,
            "min_effect": min_effect, "seed_sd_a": seed_sd, "differences": diff,
            "verdicts_total": len(v), "verdicts_same": int(v["same"].sum()),
            "verdict_differences": v[~v["same"]].to_dict("records"), "rules": rules,
            "agree": all(r is not False for r in rules.values())}


def describe(r: dict) -> list[str]:
    d = r["differences"]
    lines = [f"{r['study']}: {d['n']} runs matched ({d['unmatched_a']} only in A, "
             f"{d['unmatched_b']} only in B); B - A final test {r['primary_metric']}: mean "
             f"{d['mean']:+.4f} [{d['lo']:+.4f}, {d['hi']:+.4f}] (95% t), SD {d['sd']:.4f}, "
             f"max |d| {d.get('max_abs', math.nan):.4f}; seed SD of A {r['seed_sd_a']:.4f}"]
    if "f_ratio" in d:
        lines.append(f"  scatter against a new seed: F {d['f_ratio']:.3f} (95% critical "
                     f"{d['f_crit']:.3f} on {d['n'] - 1} and {d['seed_dof']} df)")
    for rule, ok in r["rules"].items():
        lines.append(f"  {rule}: {'n/a' if ok is None else 'yes' if ok else 'NO'}")
    lines.append(f"  verdicts: {r['verdicts_same']} of {r['verdicts_total']} the same")
    for x in r["verdict_differences"]:
        lines.append(f"    {x['optimizer']}/{x['protocol']}/{x['claim']}/{x['schedule']}: "
                     f"{x['verdict_a']} (A) vs {x['verdict_b']} (B)")
    lines.append(f"  agree: {'yes' if r['agree'] else 'NO'}")
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m annealbench_report.compare",
                                description=__doc__.split("\n")[0])
    p.add_argument("a", help="output folder A (e.g. the CPU's)")
    p.add_argument("b", help="output folder B (e.g. the GPU's)")
    p.add_argument("--study", action="append", required=True)
    p.add_argument("--out", help="write compare.json and compare.txt here")
    a = p.parse_args(argv)
    results = []
    lines = []
    for name in a.study:
        try:
            r = compare_study(Path(a.a) / name, Path(a.b) / name)
        except (OSError, KeyError, ValueError) as e:
            print(f"annealbench-report compare: {name}: {e}", file=sys.stderr)
            return 2
        results.append(r)
        lines += describe(r)
    print("\n".join(lines))
    if a.out:
        out = Path(a.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "compare.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
        (out / "compare.txt").write_text("\n".join(lines) + "\n")
    return 0 if all(r["agree"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
