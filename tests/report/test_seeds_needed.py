"""The seed planner (annealbench_report.analysis.seeds_needed, ``annealbench-report seeds``): its
statistics against scipy, its paired Δs on records whose answer is known, its command's output
and one-line errors, and a real tuning run of the smoke study."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from constructed import records, run, tuning_entry
from scipy import stats

from annealbench_report.analysis import inference, seeds_needed, tuning
from annealbench_report.cli import main
from annealbench_report.records.contract import write_files

ROOT = Path(__file__).resolve().parents[2]
SEEDS = (100, 101, 102)
BASE = {100: 0.60, 101: 0.63, 102: 0.58}  # the fixed LR's test accuracy per seed
# the arms' Δ per (arm, length), one per seed; step's seed 102 diverges at length 4
DELTAS = {("cosine", 2): (0.010, 0.030, 0.020), ("cosine", 4): (0.020, 0.045, 0.010),
          ("step", 2): (-0.010, 0.000, 0.015), ("step", 4): (0.030, 0.010)}
CHOSEN = {("constant", 2): 0.1, ("constant", 4): 0.1, ("cosine", 2): 0.1, ("cosine", 4): 0.01,
          ("step", 2): 0.1, ("step", 4): 0.1}
VAL_SHIFT = 0.1  # each arm's validation value is its test value + this; the baseline's is equal
STUDY = {"name": "t", "budget": "quick-tune", "seeds": list(SEEDS), "epochs": 4,
         "curve_epochs": [2, 4], "baseline": "constant", "primary_metric": "accuracy",
         "metric_directions": {"accuracy": "max"}, "min_effect": 0.02,
         "schedules": {"constant": {"type": "constant"}, "cosine": {"type": "cosine"},
                       "step": {"type": "step"}}}


def _tuning_records():
    """The fixed LR trained to 4 epochs only (its epoch 2 stands for length 2); the arms trained
    to each length, at two LRs; a run at an LR not chosen scores 0, so using it shows."""
    rows = []
    for i, s in enumerate(SEEDS):
        for lr in (0.01, 0.1):
            v = BASE[s] if lr == CHOSEN[("constant", 4)] else 0.0
            rows.append(run("constant", lr, s, 4, {2: (v, v), 4: (v, v)}))
            for (arm, b), ds in DELTAS.items():
                if i >= len(ds):
                    rows.append(run(arm, lr, s, b, {1: (0.5, None)}, status="diverged"))
                    continue
                v = BASE[s] + ds[i] if lr == CHOSEN[(arm, b)] else 0.0
                rows.append(run(arm, lr, s, b, {b: (v + VAL_SHIFT, v)}))
    return records(rows)


def _tuned():
    return tuning.read({"tuning": tuning_entry(CHOSEN, seeds=SEEDS)}, "t.json")


def _plan(study=STUDY, split="test", target=0.015):
    sgn = 1.0 if study["metric_directions"]["accuracy"] == "max" else -1.0
    return seeds_needed.plan(_tuning_records(), study, _tuned(), "constant", "accuracy", sgn, split,
                             target)


def test_pooled_sd_is_the_within_groups_sd_of_scipy():
    rng = np.random.default_rng(0)
    groups = [rng.normal(0, 1, n) for n in (2, 3, 5, 1)]
    dof = sum(len(g) - 1 for g in groups)
    want = math.sqrt(sum((len(g) - 1) * stats.tvar(g) for g in groups if len(g) > 1) / dof)
    sd, got_dof = seeds_needed.pooled_sd(groups)
    assert got_dof == dof == 7 and sd == pytest.approx(want, rel=1e-12)
    # one-way ANOVA's within-groups mean square is the pooled variance: F = MS_between / MS_within
    g3 = groups[:3]
    grand = np.concatenate(g3).mean()
    ms_between = sum(len(g) * (g.mean() - grand) ** 2 for g in g3) / 2
    sd3, dof3 = seeds_needed.pooled_sd(g3)
    assert stats.f_oneway(*g3).statistic == pytest.approx(ms_between / sd3 ** 2, rel=1e-10)
    assert seeds_needed.pooled_sd([[1.0], [2.0]]) == (pytest.approx(math.nan, nan_ok=True), 0)


def test_upper_bound_is_the_chi_square_quantile_and_covers_80_percent():
    for sd, dof in [(1.0, 1), (0.7, 4), (2.5, 12)]:
        u = seeds_needed.sd_upper_bound(sd, dof)
        # the bound is where a chi-square(dof) draw of dof·s²/σ² falls below its 20% quantile
        assert stats.chi2.cdf(dof * sd ** 2 / u ** 2, dof) == pytest.approx(0.20, abs=1e-12)
    rng = np.random.default_rng(1)
    s = rng.normal(0, 1, (40_000, 4)).std(axis=1, ddof=1)
    covered = np.mean(s * seeds_needed.sd_upper_bound(1.0, 3) >= 1.0)  # the bound scales with sd
    assert abs(covered - 0.80) < 0.01


@pytest.mark.parametrize("m", [1, 2, 3, 5, 7, 8, 12])
def test_exact_minimum_is_where_scipy_sign_flip_first_reaches_holm(m):
    def p_equal(n):  # n equal Δs: the sign-flip test is the two-sided sign test
        return stats.binomtest(n, n, 0.5).pvalue

    n = seeds_needed.exact_min_seeds(m)
    assert p_equal(n) < inference.ALPHA / m <= p_equal(n - 1)
    if n <= 10:
        d = np.full(n, 0.3)
        res = stats.permutation_test((d,), lambda x, axis=-1: np.abs(x.sum(axis=axis)),
                                     permutation_type="samples", n_resamples=np.inf,
                                     alternative="greater")
        assert res.pvalue == pytest.approx(p_equal(n))


def _power(effect, n, sd, level):
    df, nc = n - 1, effect * math.sqrt(n) / sd
    tc = stats.t.ppf(1 - level / 2, df)
    # P(T < −tc | nc) = P(T > tc | −nc): scipy's nct.cdf returns NaN that far in the left tail
    return stats.nct.sf(tc, df, nc) + stats.nct.sf(tc, df, -nc)


@pytest.mark.parametrize("sd,m,target", [(0.01, 2, 0.0075), (0.008, 8, 0.0075), (0.02, 7, 0.01),
                                         (0.001, 3, 0.01)])
def test_seeds_needed_is_the_fewest_with_80_percent_power_and_a_reachable_exact_test(sd, m, target):
    n = seeds_needed.seeds_needed(sd, m, target)
    level = inference.ALPHA / m
    assert _power(target, n, sd, level) >= inference.POWER - 1e-6
    assert n >= seeds_needed.exact_min_seeds(m)
    if n > seeds_needed.exact_min_seeds(m):
        assert _power(target, n - 1, sd, level) < inference.POWER
    assert seeds_needed.seeds_needed(sd, m, target / 100, max_seeds=n) is None


def test_family_is_the_non_baseline_arms_at_the_full_length():
    c = {("sgd", s, b): {} for s in ("constant", "a", "b") for b in (2, 4)}
    c[("sgd", "late", 4)] = {}
    c[("adam", "constant", 4)] = c[("adam", "a", 4)] = {}
    assert seeds_needed.family_sizes(c, "constant") == {"adam": 1, "sgd": 3}


def test_paired_deltas_at_each_arms_own_lr_and_the_pooled_sd():
    p = _plan()
    got = {(a.schedule, a.length): a for a in p.arms}
    assert set(got) == set(DELTAS)
    for k, ds in DELTAS.items():
        assert got[k].deltas == pytest.approx(ds, abs=1e-12)
        assert got[k].base_lr == CHOSEN[k] and got[k].ref_lr == 0.1
    assert got[("step", 4)].left_out == 1  # the diverged seed
    want = math.sqrt(sum((len(d) - 1) * stats.tvar(d) for d in DELTAS.values()) / 7)
    assert p.df == 7 and p.sd == pytest.approx(want, rel=1e-10)
    assert p.sd_upper == pytest.approx(want * math.sqrt(7 / stats.chi2.ppf(0.2, 7)), rel=1e-10)
    assert p.families == {"sgd": 2} and p.exact_min == 7
    assert p.needed == seeds_needed.seeds_needed(p.sd, 2, 0.015)
    assert p.needed_upper >= p.needed
    assert set(p.mde_at) == set(seeds_needed.PLAN_AT)
    assert p.mde_at[8][0] == pytest.approx(inference.mde(8, p.sd, 2))


def test_direction_and_judged_split():
    lower = {**STUDY, "metric_directions": {"accuracy": "min"}}
    flipped = {(a.schedule, a.length): a.deltas for a in _plan(lower).arms}
    assert flipped[("cosine", 4)] == pytest.approx([-d for d in DELTAS[("cosine", 4)]])
    on_val = {(a.schedule, a.length): a.deltas for a in _plan(split="val").arms}
    assert on_val[("step", 2)] == pytest.approx([d + VAL_SHIFT for d in DELTAS[("step", 2)]])


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "out" / "t" / "tuning" / "quick-tune"
    d.mkdir(parents=True)
    write_files(_tuning_records(), d)
    (d / "study.json").write_text(json.dumps(STUDY))
    f = tmp_path / "t.quick.tuning.json"
    entry = tuning_entry(CHOSEN, seeds=SEEDS)
    del entry["file"]
    f.write_text(json.dumps(entry))
    return d, f


def test_command_prints_the_plan_and_its_json(folder, capsys):
    d, f = folder
    assert main(["seeds", str(d), "--tuning-file", str(f)]) == 0
    out = capsys.readouterr().out
    p = _plan()
    assert f"seeds needed: {p.needed} at the pooled SD, {p.needed_upper} at its upper bound" in out
    assert "target MDE: 1.5 points (min_effect 0.02 × 0.75)" in out
    assert "m = 2" in out and "7 degrees of freedom" in out
    assert main(["seeds", str(d), "--tuning-file", str(f), "--json", "--target-mde", "0.01",
                 "--max-seeds", "40"]) == 0
    j = json.loads(capsys.readouterr().out)
    assert j["pooled_sd"] == pytest.approx(p.sd) and j["df"] == 7 and j["m"] == 2
    assert j["seeds_needed"] == seeds_needed.seeds_needed(p.sd, 2, 0.01, 40)
    assert [r["seeds"] for r in j["mde"]] == list(seeds_needed.PLAN_AT)


def test_records_kept_as_csv_alone_give_the_same_plan(folder, capsys):
    d, f = folder
    argv = ["seeds", str(d), "--tuning-file", str(f), "--json"]
    assert main(argv) == 0
    from_parquet = capsys.readouterr().out
    (d / "records.parquet").unlink()
    assert main(argv) == 0
    assert capsys.readouterr().out == from_parquet
    (d / "records.csv").unlink()
    assert main(argv) == 2 and "runs/" in capsys.readouterr().err


def _one_line_error(capsys, argv, *words):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("annealbench-report: ") and err.count("\n") == 1, err
    for w in words:
        assert w in err, err


def test_bad_input_is_one_line(folder, capsys):
    d, f = folder
    _one_line_error(capsys, ["seeds", str(d), "--tuning-file", str(f), "--target-mde", "-1"],
                    "--target-mde")
    other = json.loads(f.read_text())
    f.write_text(json.dumps({**other, "study": "other"}))
    _one_line_error(capsys, ["seeds", str(d), "--tuning-file", str(f)], str(f), "study", "other")
    f.write_text(json.dumps({**other, "seeds": [1, 2, 3]}))
    _one_line_error(capsys, ["seeds", str(d), "--tuning-file", str(f)], str(f), "seeds")
    f.write_text(json.dumps(other))
    (d / "study.json").write_text(json.dumps({**STUDY, "min_effect": None}))
    _one_line_error(capsys, ["seeds", str(d), "--tuning-file", str(f)], "min_effect",
                    "--target-mde")
    _one_line_error(capsys, ["seeds", str(d.parent), "--tuning-file", str(f)], "study.json")
    _one_line_error(capsys, ["seeds", str(d)], "--tuning-file")


def test_on_a_real_tuning_run_of_the_smoke_study(tmp_path, capsys):
    """The smoke study copied (its tuning file is written beside it), kept short (two base LRs
    for SGD, one for the schedule-free arm, half the training images): the planner's Δs are the
    run directories' own test accuracies."""
    from annealbench import api

    text = (ROOT / "experiments" / "smoke.toml").read_text()
    text = text.replace("lrs = [0.05, 0.2, 0.5]", "lrs = [0.05, 0.2]") \
        .replace("lrs = [0.2, 0.5, 1.0]", "lrs = [0.5]").replace("n_train = 512", "n_train = 256")
    assert text.count("lrs = [0.05, 0.2]") == text.count("lrs = [0.5]") == 1 and "n_train = 256" in text
    path = tmp_path / "smoke.toml"
    path.write_text(text)
    t = api.tune(path, budget="quick", out=tmp_path / "out", device="cpu", workers=1,
                 log=lambda _m: None)
    assert main(["seeds", str(t.folder), "--tuning-file", str(t.file), "--target-mde", "0.05",
                 "--json"]) == 0
    j = json.loads(capsys.readouterr().out)
    assert j["m"] == 7 and j["exact_min_seeds"] == 9  # 7 arms, the averaging ones included
    chosen = {c["schedule"]: c["base_lr"] for c in t.tuning["choices"]}
    finals = _finals(t.folder)
    base = {s: v for (sched, lr, s), v in finals.items() if sched == "constant" and lr == chosen[sched]}
    for a in j["arms"]:
        ds = [finals[(a["schedule"], chosen[a["schedule"]], s)] - base[s] for s in sorted(base)]
        assert a["n"] == 2 and a["mean"] == pytest.approx(np.mean(ds), abs=1e-12)
        assert a["sd"] == pytest.approx(np.std(ds, ddof=1), abs=1e-12)
    shutil.rmtree(tmp_path / "out")


def _finals(folder: Path) -> dict:
    """(schedule, base LR, seed) -> test accuracy after the last epoch, read from each run's
    epoch files and averages.csv."""
    out = {}
    for r in (folder / "runs").iterdir():
        cfg = json.loads((r / "config.json").read_text())
        last = max((r / "epochs").glob("*.csv"))
        files = [(cfg["schedule"], last, None)]
        if (r / "averages.csv").is_file():
            files += [(None, r / "averages.csv", int(last.stem))]
        for sched, f, epoch in files:
            lines = f.read_text().splitlines()
            head = lines[0].split(",")
            for line in lines[1:]:
                row = dict(zip(head, line.split(",")))
                if row["split"] == "test" and row["metric"] == "accuracy" and (
                        epoch is None or int(row["epoch"]) == epoch):
                    out[(sched or row["arm"], cfg["base_lr"], cfg["seed"])] = float(row["value"])
    return out
