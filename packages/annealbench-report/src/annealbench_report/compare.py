"""Do two builds of the same study agree? Typically the same seeds on a CPU and on a GPU.

    python -m annealbench_report.compare A B --study NAME [--study NAME ...] [--out DIR]

A and B are output folders (``<A>/<study>/records.parquet`` and ``verdicts.csv`` as
``annealbench-report build`` writes them, ``study.json`` and ``meta.json`` as ``annealbench run``
does). Runs are matched on what defines them apart from the device (optimizer, schedule, base LR,
seed, length).

The comparison is void unless both sides ran the same spec (study.json's name, budget and
spec_sha256), the same precision (meta.json's resolved precisions) and the same commit
(meta.json's git_commit): one line naming what differs, exit 2. Otherwise they agree unless a rule
of ``annealbench_report.analysis.consistency`` finds the device changed something systematic (an
arm moved differently from the others, a shift of the metric, more scatter than a new seed brings;
at most 5% false failures together) or a claim is "reproduced" on one side and "reversed" on the
other; other verdict differences are listed, not judged. Whether the builds also agree seed by seed
is stated. Exit 0 if every study agrees, 1 if one does not.

These rules were declared after the first GPU run (2026-12-04, docs/gpu.md) and before any other,
replacing a rule declared after that run that no run was judged by. That run was judged by the
rules declared before it (a 95% t-interval of the mean per-run difference inside +-min_effect; the
SD of the per-run differences at most sqrt(2) times the CPU's seed SD; no opposite verdicts), and it
stays reported under them in docs/gpu.md.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import pandas as pd

from annealbench_report.analysis import consistency
from annealbench_report.analysis.consistency import KEY
from annealbench_report.records.frames import baseline_arm

OPPOSITE = {("reproduced", "reversed"), ("reversed", "reproduced")}
IDENTITY = ("spec", "precision", "commit")  # what both sides must share for a comparison to mean anything


class Void(ValueError):
    """The two sides are not the same study, precision and commit: nothing to compare."""


def finals(records: pd.DataFrame, primary: str) -> pd.DataFrame:
    """One row per run: its final test ``primary`` value (the epoch equal to its length)."""
    r = records[(records["split"] == "test") & (records["metric"] == primary)
                & (records["epoch"] == records["epochs"])]
    return r[[*KEY, "value"]].drop_duplicates(KEY)


def fixed_arm(records: pd.DataFrame, study: dict) -> str | None:
    """The arm every schedule is contrasted with: the study's declared baseline (records.frames)."""
    return baseline_arm(records, study)


def identity(folder: Path) -> dict:
    """The spec, precision and commit a build ran (None where its files do not say)."""
    study = json.loads((folder / "study.json").read_text())
    meta_file = folder / "meta.json"
    meta = json.loads(meta_file.read_text()) if meta_file.is_file() else {}
    resolved = (meta.get("precision") or {}).get("resolved")
    spec = [study.get("name"), study.get("budget"), study.get("spec_sha256")]
    return {"spec": None if None in spec else spec,
            "precision": sorted(resolved) if resolved else None,
            "commit": meta.get("git_commit")}


def check_same(a: dict, b: dict) -> None:
    """Raise Void naming the first of spec, precision and commit that is unknown or differs."""
    for field in IDENTITY:
        if a[field] is None or b[field] is None:
            side = "A" if a[field] is None else "B"
            raise Void(f"void: {side} does not record its {field} (study.json, meta.json)")
        if a[field] != b[field]:
            raise Void(f"void: {field} differs (A {a[field]}, B {b[field]})")


def verdicts(va: pd.DataFrame, vb: pd.DataFrame) -> pd.DataFrame:
    on = ["optimizer", "protocol", "claim", "schedule"]
    m = va[[*on, "verdict", "delta"]].merge(vb[[*on, "verdict", "delta"]], on=on, how="outer",
                                            suffixes=("_a", "_b"))
    m["same"] = m["verdict_a"] == m["verdict_b"]
    m["opposite"] = [(x, y) in OPPOSITE for x, y in zip(m["verdict_a"], m["verdict_b"], strict=True)]
    return m


def compare_study(dir_a: Path, dir_b: Path) -> dict:
    same = identity(dir_a)
    check_same(same, identity(dir_b))
    study = json.loads((dir_a / "study.json").read_text())
    primary = study["primary_metric"]
    min_effect = study.get("min_effect")
    if min_effect is None:
        raise ValueError(f"{dir_a / 'study.json'}: min_effect is not set; the rules are in its units")
    ra = pd.read_parquet(dir_a / "records.parquet")
    fa, fb = finals(ra, primary), finals(pd.read_parquet(dir_b / "records.parquet"), primary)
    fixed = fixed_arm(ra, study)
    if fixed is None:
        raise ValueError(f"{dir_a / 'records.parquet'}: no fixed-LR arm to contrast the schedules with")
    r = consistency.judge(fa, fb, fixed, float(min_effect))
    matched = len(fa.merge(fb, on=KEY))
    v = verdicts(pd.read_csv(dir_a / "verdicts.csv"), pd.read_csv(dir_b / "verdicts.csv"))
    rules = {**r["rules"], "no_opposite_verdicts": not bool(v["opposite"].any())}
    return {"study": study.get("name", dir_a.name), "primary_metric": primary, "min_effect": min_effect,
            "identity": same, "runs_matched": matched, "unmatched_a": len(fa) - matched,
            "unmatched_b": len(fb) - matched, **{k: x for k, x in r.items() if k != "rules"},
            "verdicts_total": len(v), "verdicts_same": int(v["same"].sum()),
            "verdict_differences": v[~v["same"]].to_dict("records"), "rules": rules,
            "agree": all(x is not False for x in rules.values())}


def _rule_lines(r: dict) -> list[str]:
    nan = {"f": math.nan, "dof": ("-", "-"), "p": math.nan}
    m, b, s = r["systematic_move"] or nan, r["bias"] or {}, r["scatter"] or {}
    level = f"{r['level']:.3g}"
    beyond = f"fails where p < {level} and the estimate is beyond the margin"
    return [f"  1. systematic move: ANOVA of B - A across arms F {m['f']:.3g} on {m['dof'][0]}, "
            f"{m['dof'][1]} df, p {m['p']:.3g}; widest move between two arms "
            f"{r['widest_arm_move']:.4f} ({beyond})",
            f"  2. device bias B - A: {b.get('mean', math.nan):+.4f} [{b.get('lo', math.nan):+.4f}, "
            f"{b.get('hi', math.nan):+.4f}] ({100 * b.get('confidence', math.nan):.1f}% t), "
            f"p {b.get('p', math.nan):.3g} ({beyond})",
            f"  3. scatter: SD of B - A within arms {s.get('device_sd', math.nan):.4f} "
            f"({s.get('device_dof', 0)} df) against a new seed's, sqrt(2) x A's seed SD "
            f"{math.sqrt(2) * s.get('seed_sd', math.nan):.4f} ({s.get('seed_dof', 0)} df): "
            f"F {s.get('ratio', math.nan):.3g}, p {s.get('p', math.nan):.3g} (fails where p < {level})"]


def _stated_lines(r: dict) -> list[str]:
    sp, t = r["seed_paired"], r["bias_within_margin"] or {}
    paired = {None: "n/a", True: "yes", False: "no"}[sp["holds"]]
    return [f"  stated, not judged: seed-paired {paired} (a contrast's move SD {sp['move_sd']:.4f}, 90% "
            f"upper bound {sp['move_sd_upper']:.4f} on {sp['move_dof']} df, margin {r['margin']:.4g}); "
            f"bias within the margin (TOST p {t.get('p', math.nan):.3g}): "
            f"{'yes' if t.get('equivalent') else 'not shown'}; worst mean contrast move "
            f"{r['worst_mean_move']:+.4f} over {r['moves']} contrasts"]


def describe(r: dict) -> list[str]:
    lines = [f"{r['study']}: {r['runs_matched']} runs matched ({r['unmatched_a']} only in A, "
             f"{r['unmatched_b']} only in B; {r['runs_not_finite']} not finite on a side, left out) in "
             f"{r['arms']} arms; margin {r['margin']:.4g} (half of "
             f"min_effect, {r['primary_metric']})", *_rule_lines(r), *_stated_lines(r)]
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
