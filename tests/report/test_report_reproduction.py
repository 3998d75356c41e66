"""The reproduction check: a study against its published folder, run by run (value for value) and
claim by claim (the declared rule for a machine that computes differently), on the study page and
the index; its statistic checked against scipy, and the real published records against
themselves as a known answer."""

from __future__ import annotations

import html
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import make_study
from scipy import stats

from annealbench_report.analysis import claim_agreement as CA
from annealbench_report.analysis.reproduction import compare_runs
from annealbench_report.analysis.study import analyse
from annealbench_report.cli import main
from annealbench_report.pages import reproduction, reproduction_text
from annealbench_report.pages.studies import env
from annealbench_report.records.contract import read_records, write_parquet

RESULTS = Path(__file__).resolve().parents[2] / "docs" / "results"
PUBLISHED = ("records.parquet", "verdicts.csv", "study.json")


def _text(page: Path, section: str = "reproduction") -> str:
    """The words of one section of a page, tags removed and spaces collapsed."""
    s = page.read_text(encoding="utf-8")
    m = re.search(rf'<section id="{section}">(.*?)</section>', s, re.S)
    assert m, f"{page}: no section {section}"
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", m.group(1))).split())


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """The synthetic study built once (records, verdicts.csv, study.json, meta.json)."""
    synth = make_study(tmp_path_factory.mktemp("base"))
    assert main(["build", "--out", str(synth.dir.parent)]) == 0
    return synth


@pytest.fixture
def built(base, tmp_path, capsys):
    """A copy of the built study kept without its runs (rebuilt from its records, which is
    quicker), and its published folder: another copy of what the build wrote."""
    out, pub = tmp_path / "out" / base.dir.name, tmp_path / "published" / base.dir.name
    for d, files in ((out, ("records.parquet", "study.json", "meta.json")), (pub, PUBLISHED)):
        d.mkdir(parents=True)
        for f in files:
            shutil.copy(base.dir / f, d / f)
    capsys.readouterr()
    return base, out.parent, pub


def _context(out: Path, pub: Path) -> dict:
    """The check's context, as the study page gets it, without rendering the page (its figures
    are most of a build's time)."""
    d = next(p for p in out.iterdir() if (p / "records.parquet").is_file())
    df = read_records(d / "records.parquet")
    a = analyse(d, df)
    return reproduction_text.context(reproduction.check(d, df, a, pub.parent), a.units)


def _words(out: Path, pub: Path) -> str:
    """The check's words (headline, run sentences with the runs they name, claims sentence)."""
    ctx = _context(out, pub)
    runs = [" ".join([r["text"], *r["names"]]) for r in ctx["runs"]]
    return " ".join(w for w in [ctx["headline"], *runs, ctx["claims"]] if w)


def _section(out: Path, pub: Path) -> tuple[dict, str]:
    """The context and the study page's reproduction section rendered from it."""
    ctx = _context(out, pub)
    return ctx, env().get_template("_reproduction.html.j2").render(reproduction=ctx)


def _rebuild(out: Path, pub: Path, capsys) -> tuple[str, str]:
    assert main(["build", "--out", str(out), "--published", str(pub.parent)]) == 0, capsys.readouterr().err
    study = next(p for p in out.iterdir() if (p / "index.html").is_file())
    return _text(study / "index.html"), _text(out / "index.html")


def test_equal_records_read_n_of_n_runs_equal(built, capsys):
    synth, out, pub = built
    n = read_records(pub / "records.parquet")["run_key"].nunique()
    assert n >= 20
    page, index = _rebuild(out, pub, capsys)
    assert f"Reproduced bit for bit: {n} of {n} runs equal the published records." in page
    assert f"{n} of {n} runs equal the published records, value for value (" in page
    assert f"{synth.name} : Reproduced bit for bit: {n} of {n} runs" in index
    assert "published runs not in this run" not in page


def test_one_changed_value_names_the_run_and_the_largest_difference(built, capsys):
    synth, out, pub = built
    df = read_records(pub / "records.parquet")
    key = df["run_key"].astype(str).iloc[0]
    hit = (df["run_key"] == key) & (df["split"] == "val") & (df["metric"] == "accuracy") & (df["epoch"] == 2)
    assert hit.sum() == 1
    df.loc[hit, "value"] += 0.0123
    write_parquet(df, pub / "records.parquet")
    n = df["run_key"].nunique()
    page = _words(out, pub)
    r = df[df["run_key"] == key].iloc[0]
    label = (f"{r['optimizer']} · {r['schedule']} · lr {r['base_lr']:g} · {r['epochs']} epochs · "
             f"seed {r['seed']} ({key})")
    assert f"{n - 1} of {n} runs in common equal the published records" in page
    assert f"The largest absolute difference: 0.0123 in run {label}, val accuracy (value), epoch 2." \
        in page
    # the published verdicts are this run's own: the claims agree, so the rule says consistent
    assert page.startswith(f"Consistent with the published answer by the rule below ({n - 1} of {n} "
                           "runs")


def test_machine_measurements_are_not_compared(built, capsys):
    _, out, pub = built
    df = read_records(pub / "records.parquet")
    df["wall_time_s"] *= 3.0
    df.loc[df["metric"] == "throughput", "value"] += 1.0
    assert (df["metric"] == "throughput").any()
    write_parquet(df, pub / "records.parquet")
    page = _words(out, pub)
    assert "Reproduced bit for bit" in page


def _shift_claim(pub: Path, by_half_widths: float) -> pd.Series:
    """Move the published Δ (and its interval) of the first claim with an interval by a multiple
    of its half-width; return that claim's row."""
    v = pd.read_csv(pub / "verdicts.csv")
    i = v.index[(v["n"] >= 2) & (v["hi"] > v["lo"])][0]
    shift = by_half_widths * (v.at[i, "hi"] - v.at[i, "lo"]) / 2
    v.loc[i, ["delta", "lo", "hi"]] += shift
    v.to_csv(pub / "verdicts.csv", index=False, float_format="%.17g")
    return v.loc[i]


def _perturb_records(pub: Path) -> None:
    """Another machine: every value's last digits differ."""
    df = read_records(pub / "records.parquet")
    df["value"] = df["value"] * (1 + 1e-7)
    write_parquet(df, pub / "records.parquet")


def test_a_machine_difference_inside_the_bound_is_consistent(built, capsys):
    _, out, pub = built
    _perturb_records(pub)
    row = _shift_claim(pub, 0.3)
    page = _words(out, pub)
    assert "Consistent with the published answer by the rule below (0 of" in page
    assert "Reproduced bit for bit" not in page
    assert row["schedule"] in page


def test_a_machine_difference_beyond_the_bound_is_not_consistent(built, capsys):
    # the rule can fail: one claim's Δ moved by four half-widths of its own interval
    _, out, pub = built
    _perturb_records(pub)
    _shift_claim(pub, 4.0)
    page, index = _rebuild(out, pub, capsys)
    assert "Not consistent with the published answer by the rule below" in page
    assert "Not consistent with the published answer" in index


def test_one_sided_runs_are_counted_and_named(built, capsys):
    _, out, pub = built
    df = read_records(pub / "records.parquet")
    key = df["run_key"].astype(str).iloc[-1]
    write_parquet(df[df["run_key"] != key].reset_index(drop=True), pub / "records.parquet")
    mine = read_records(out / "synth" / "records.parquet")
    gone = mine["run_key"].astype(str).iloc[0]
    write_parquet(mine[mine["run_key"] != gone].reset_index(drop=True), out / "synth" / "records.parquet")
    page = _words(out, pub)
    assert "1 published run not in this run: " in page and f"({gone})" in page
    assert "1 run of this run not published: " in page and f"({key})" in page
    assert "Reproduced bit for bit" not in page


def _drop_runs(folder: Path, k: int, last: bool = False) -> list[str]:
    """Remove ``k`` runs (the first or the last) from a study folder's records; their keys."""
    df = read_records(folder / "records.parquet")
    keys = list(dict.fromkeys(df["run_key"].astype(str)))
    gone = keys[-k:] if last else keys[:k]
    write_parquet(df[~df["run_key"].astype(str).isin(gone)].reset_index(drop=True),
                  folder / "records.parquet")
    return gone


def test_another_budget_is_not_comparable(built, capsys):
    """Another budget trains other runs: one line says so with the counts, no run is named, and
    no rule is applied to the claims (listed on both sides, not judged)."""
    _, out, pub = built
    study = json.loads((pub / "study.json").read_text())
    study["budget"] = "reference"
    (pub / "study.json").write_text(json.dumps(study))
    n = read_records(pub / "records.parquet")["run_key"].nunique()
    gone = _drop_runs(pub, 12, last=True)
    ctx, section = _section(out, pub)
    words = _text_of(section)
    assert "Not comparable with the published answer: it is of the reference budget" in words
    assert len(ctx["runs"]) == 1 and ctx["runs"][0]["names"] == []
    assert (f"Runs are not compared across budgets: {n - 12} published runs, {n} runs in this run, "
            f"{n - 12} of them with the same" in words)
    assert not any(k in section for k in gone)
    assert ctx["runs_table"] is None and ctx["rule"] == [] and "Rule, declared" not in words
    assert "within the bound" not in words and "bound on |d|" not in section
    assert "(another budget: listed, not judged)" in words


def _text_of(section: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", section)).split())


def test_a_long_list_of_one_sided_runs_is_folded(built, capsys):
    """Comparable checks name every one-sided run: inline when a few, folded when more than ten."""
    _, out, pub = built
    few = _drop_runs(out / "synth", 3)
    many = _drop_runs(pub, reproduction_text.FOLD_AFTER + 1, last=True)
    ctx, section = _section(out, pub)
    inline = next(r for r in ctx["runs"] if r["text"].startswith("3 published runs not in this run"))
    folded = next(r for r in ctx["runs"] if r["text"].endswith("of this run not published:"))
    assert not inline["folded"] and folded["folded"] and len(folded["names"]) == len(many)
    details = re.findall(r"<details>(.*?)</details>", section, re.S)
    assert len(details) == 1 and all(f"({k})" in details[0] for k in many)
    assert details[0].count("<li>") == len(many)
    assert all(f"({k})" in section and f"({k})" not in details[0] for k in few)


def test_the_published_folder_is_named_without_the_machines_path(built, capsys, tmp_path):
    """Inside the clone the page names the folder from the repository's root, else by its name:
    never the absolute path of the machine that built it."""
    assert reproduction.shown(RESULTS / "cifar10-cnn") == "docs/results/cifar10-cnn"
    assert reproduction.shown(tmp_path / "elsewhere" / "synth") == "synth"
    _, out, pub = built
    _, section = _section(out, pub)
    assert "Published answer: <code>synth</code>." in section
    assert str(pub.parent) not in section and str(tmp_path) not in section


def test_a_study_without_a_published_answer_says_so_in_one_line(built, capsys):
    synth, out, pub = built
    empty = pub.parent.parent / "other" / "x"
    empty.mkdir(parents=True)
    assert _words(out, empty) == f"No published answer for this study (none at {synth.dir.name})."


def test_the_default_is_the_clones_docs_results_and_a_missing_published_dir_exits_2(built, capsys,
                                                                                     tmp_path):
    assert reproduction.clone_results() == RESULTS
    _, out, _ = built
    assert main(["build", "--out", str(out), "--published", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("annealbench-report: --published ") and err.count("\n") == 1


def test_the_published_folder_itself(tmp_path):
    d = tmp_path / "s"
    d.mkdir()
    shutil.copy(RESULTS / "cifar10-cnn" / "records.parquet", d / "records.parquet")
    assert reproduction.check(d, None, None, tmp_path).kind == reproduction.SELF


@pytest.mark.parametrize("study", ["cifar10-cnn", "shakespeare-lstm"])
def test_the_published_records_equal_themselves(study):
    d = RESULTS / study
    df = read_records(d / "records.parquet")
    r = compare_runs(df, df.copy())
    n = len(json.loads((d / "meta.json").read_text())["run_keys"])
    assert r.all_equal and r.n_equal == len(r.runs) == r.n_published == n
    assert r.thinned_steps  # the step rows of some runs only, as the README says
    assert r.runs["rows"].sum() == (df["metric"] != "throughput").sum()  # every published row read
    assert (r.runs["max_abs"] == 0).all() and (r.runs["missing"] == 0).all()
    v = pd.read_csv(d / "verdicts.csv")
    c = CA.compare_claims(v, v.copy())
    assert c["on_both"].all() and (c["d"] == 0).all() and c["same_verdict"].all()
    assert CA.consistent(c) is True


def test_a_diverged_run_on_one_side_only_differs_by_infinity(built):
    _, _, pub = built
    df = read_records(pub / "records.parquet")
    here = df.copy()
    i = here.index[(here["split"] == "val") & np.isfinite(here["value"])][0]
    here.loc[i, "value"] = np.nan
    r = compare_runs(df, here)
    bad = r.runs[~r.runs["equal"]]
    assert len(bad) == 1 and bad["max_abs"].iloc[0] == np.inf


# the statistic of rule 2, against scipy

def _claim(delta, lo, hi, n, verdict="inconclusive", schedule="cosine") -> dict:
    return {"optimizer": "adam", "protocol": "tuned", "claim": "better", "schedule": schedule,
            "n": n, "delta": delta, "lo": lo, "hi": hi, "verdict": verdict}


def test_standard_error_and_welch_match_scipy():
    rng = np.random.default_rng(3)
    a, b = rng.normal(0.01, 0.004, 6), rng.normal(0.012, 0.007, 9)
    ia = stats.t.interval(0.95, len(a) - 1, loc=a.mean(), scale=stats.sem(a))
    ib = stats.t.interval(0.95, len(b) - 1, loc=b.mean(), scale=stats.sem(b))
    se_a, se_b = CA.standard_error(*ia, len(a)), CA.standard_error(*ib, len(b))
    assert se_a == pytest.approx(stats.sem(a), rel=1e-12)
    assert se_b == pytest.approx(stats.sem(b), rel=1e-12)
    p, _ = CA.welch(b.mean() - a.mean(), se_a, len(a), se_b, len(b))
    ref = stats.ttest_ind_from_stats(b.mean(), b.std(ddof=1), len(b), a.mean(), a.std(ddof=1),
                                     len(a), equal_var=False)
    assert p == pytest.approx(ref.pvalue, rel=1e-10)
    # the bound is where Welch's p reaches the Bonferroni level
    for m in (1, 4):
        edge = CA.bound(se_a, len(a), se_b, len(b), m)
        assert CA.welch(edge, se_a, len(a), se_b, len(b))[0] == pytest.approx(0.05 / m, rel=1e-9)


def test_the_rule_passes_a_small_difference_and_fails_a_large_one_or_opposite_verdicts():
    pub = pd.DataFrame([_claim(0.010, 0.006, 0.014, 8, "reproduced"),
                        _claim(-0.002, -0.006, 0.002, 8, "inconclusive", "step")])
    near = pd.DataFrame([_claim(0.012, 0.008, 0.016, 8, "reproduced"),
                         _claim(0.001, -0.003, 0.005, 8, "inconclusive", "step")])
    assert CA.consistent(CA.compare_claims(pub, near)) is True
    far = near.assign(delta=[0.030, 0.001], lo=[0.026, -0.003], hi=[0.034, 0.005])
    c = CA.compare_claims(pub, far)
    assert CA.consistent(c) is False and c["within"].tolist() == [False, True]
    flipped = near.assign(verdict=["reversed", "inconclusive"])  # within the bound, opposite words
    c = CA.compare_claims(pub, flipped)
    assert c["within"].all() and c["opposite"].tolist() == [True, False]
    assert CA.consistent(c) is False


def test_a_claim_on_one_side_is_counted_not_judged():
    pub = pd.DataFrame([_claim(0.010, 0.006, 0.014, 8), _claim(0.0, -0.004, 0.004, 8, "x", "step")])
    here = pd.DataFrame([_claim(0.011, 0.007, 0.015, 8)])
    c = CA.compare_claims(pub, here)
    assert c["on_both"].tolist() == [True, False] and CA.consistent(c) is True
    assert CA.consistent(CA.compare_claims(pub.iloc[1:], here)) is None


def test_rule_two_fails_a_consistent_replication_at_most_about_five_percent():
    # both sides estimate the same Δ from independent seeds: the family-wise false alarm rate
    rng = np.random.default_rng(11)
    n, m, reps = 6, 4, 1000
    x = rng.normal(0.01, 0.005, (reps, 2, m, n))
    mean, sem = x.mean(-1), stats.sem(x, axis=-1)
    half = stats.t.ppf(0.975, n - 1) * sem
    fails = 0
    for r in range(reps):
        se = [[CA.standard_error(mean[r, s, k] - half[r, s, k], mean[r, s, k] + half[r, s, k], n)
               for k in range(m)] for s in (0, 1)]
        fails += any(abs(mean[r, 1, k] - mean[r, 0, k]) > CA.bound(se[0][k], n, se[1][k], n, m)
                     for k in range(m))
    assert 0.02 <= fails / reps <= 0.065


def test_a_run_under_two_keys_on_one_side_is_not_dropped(built):
    _, _, pub = built
    df = read_records(pub / "records.parquet")
    key = df["run_key"].astype(str).iloc[0]
    twin = df[df["run_key"] == key].assign(run_key="twin")
    here = pd.concat([df.astype({"run_key": str}), twin.astype({"run_key": str})], ignore_index=True)
    r = compare_runs(df, here)
    assert r.n_equal == len(r.runs) == r.n_published and not r.all_equal
    assert r.only_here["run_key"].tolist() == ["twin"] and r.only_published.empty
