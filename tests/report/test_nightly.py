"""The nightly job's report side: the throughput rule against an exact enumeration and scipy, the
alerts between nights, and a night read from a site (failures, stale records, skipped comparisons,
the bench), through ``python -m annealbench_report.nightly``."""

from __future__ import annotations

import itertools
import json
import math
import shutil
from pathlib import Path

import pytest
from scipy import stats

from annealbench_report import cli
from annealbench_report.nightly import __main__ as nightly_cli
from annealbench_report.nightly import alerts, ledger, night, slowdown, stage


def _exact_less(x, y) -> float:
    """P(U <= U_observed) under the null, by enumerating every split of the pooled ranks (no ties)."""
    pooled = sorted(x + y)
    rank = {v: i + 1 for i, v in enumerate(pooled)}
    u_obs = sum(rank[v] for v in x) - len(x) * (len(x) + 1) / 2
    us = [sum(c) - len(x) * (len(x) + 1) / 2
          for c in itertools.combinations(range(1, len(pooled) + 1), len(x))]
    return sum(u <= u_obs for u in us) / len(us)


def test_mann_whitney_known_answers():
    # wholly below: U = 0 and p = 1 / C(7, 3)
    u, p = slowdown.mann_whitney_less([1.0, 2.0, 3.0], [4.0, 5.0, 6.0, 7.0])
    assert u == 0 and p == pytest.approx(1 / 35)
    x, y = [3.1, 5.2, 0.4, 2.2], [4.4, 6.1, 1.7, 7.3, 5.9]
    u, p = slowdown.mann_whitney_less(x, y)
    assert u == 4  # pairs (x, y) with x > y: (3.1, 1.7), (5.2, 4.4), (5.2, 1.7), (2.2, 1.7)
    assert p == pytest.approx(_exact_less(x, y))
    # large samples with ties: the normal approximation, as scipy computes it
    big_x = [round(math.sin(i) * 10) for i in range(40)]
    big_y = [round(math.cos(i) * 10) + 2 for i in range(60)]
    r = stats.mannwhitneyu(big_x, big_y, alternative="less", method="asymptotic")
    assert slowdown.mann_whitney_less(big_x, big_y) == pytest.approx((r.statistic, r.pvalue))


def test_the_rule_needs_both_the_factor_and_the_p_value():
    base = [1000.0, 1010.0, 990.0, 1020.0, 980.0]
    slow = [x * 0.7 for x in base]
    assert slowdown.judge(slow, [base, base]).slower  # p = 1/3003, ratio 1.43
    one = slowdown.judge(slow, [base])
    assert one.p == pytest.approx(1 / 252) and not one.slower  # one earlier night cannot reach p
    slightly = slowdown.judge([x * 0.95 for x in base * 20], [base * 20] * 3)
    assert slightly.p < 1e-6 and slightly.ratio < slowdown.FACTOR and not slightly.slower
    many = slowdown.judge(slow, [[5000.0]] * 30 + [base] * slowdown.WINDOW)
    assert many.nights == slowdown.WINDOW and many.n_window == 5 * slowdown.WINDOW
    assert slowdown.judge([], [base]) is None and slowdown.judge(base, [[], []]) is None


def _night(nid, verdict="inconclusive", status="passed", speed=1.0, gpu="H100", failures=(),
           budget="full"):
    v = {"optimizer": "adam", "protocol": "tuned", "claim": "better", "schedule": "cosine", "n": 10,
         "delta": 0.01 if verdict == "reproduced" else 0.002, "lo": 0.004, "hi": 0.016,
         "verdict": verdict}
    study = {"budget": budget, "verdicts": [v], "throughput": [speed * (900 + i) for i in range(20)]}
    return {"night": nid, "status": status, "failures": list(failures), "git_commit": "c" * 40,
            "versions": {"gpu": gpu}, "studies": {"cnn": study}, "bench": {}}


def test_alerts_name_a_flip_a_slowdown_and_a_failure():
    earlier = [_night("n1"), _night("n2", status="failed", failures=["x"])]
    tonight = _night("n3", verdict="reproduced", speed=0.7, status="failed", failures=["cnn: 1 run failed"])
    found = alerts.alerts(tonight, earlier)
    assert [a.rule for a in found] == [alerts.FAILED_NIGHT, alerts.VERDICT_CHANGE, alerts.THROUGHPUT_DROP]
    assert "cnn / adam / tuned / better / cosine: inconclusive → reproduced (night n2: Δ +0.002 " \
           "[+0.004, +0.016], n = 10; tonight: Δ +0.01 [+0.004, +0.016], n = 10)" in found[1].text
    assert found[2].text.startswith("cnn (per-run throughput): median 0.70× the window's (2 earlier")
    md = alerts.markdown(tonight, found)
    assert md.startswith("# annealbench nightly n3: failed") and "## throughput drop" in md
    # another GPU is not a window, another budget not an earlier verdict; the same verdict no change
    assert alerts.alerts(_night("n3", speed=0.7, gpu="H200"), earlier) == []
    assert alerts.alerts(_night("n3", verdict="reproduced", budget="quick"), earlier) == []


@pytest.fixture(scope="module")
def built_site(tmp_path_factory):
    """A staged and built site, once per module: the tests below change their own copies."""
    from conftest import make_study

    root = tmp_path_factory.mktemp("nightly")
    work, site = root / "work", root / "site"
    make_study(work, "synth")
    assert [d.name for d, _, _ in stage.stage(work, site)] == ["synth"]
    assert not (site / "synth" / "runs").exists() and (site / "synth" / "records.parquet").exists()
    cli.build(site)
    bench = {"time": "2025-01-02T03:20:00Z", "device_name": "cpu", "measures": {
        "runner_throughput": {"ratio": 0.9, "baseline": 10.0, "candidate": 9.0, "unit": "img/s",
                              "target": ">= 0.95", "met": False, "samples": {"candidate": [9.0, 9.1]}}}}
    (site / "bench").mkdir()
    (site / "bench" / "bench-20250102T032000Z.json").write_text(json.dumps(bench))
    return site


@pytest.fixture
def site(built_site, tmp_path):
    return Path(shutil.copytree(built_site, tmp_path / "site"))


def test_a_night_names_what_failed(site):
    n = night.close_night(site, "n1", "2025-01-02T03:00:00+00:00", "abc", ["synth", "gone"],
                          {"reproduce": 0, "report": 2}, {"torch": "2.15.0"})
    assert n["status"] == "failed"
    runs = n["studies"]["synth"]["runs"]
    bad = ", ".join(f"{k} run{'s' * (k > 1)} {s}" for s, k in runs.items() if s not in night.FINISHED)
    assert n["failures"][0] == "report exited 2"
    assert f"synth: {bad}" in n["failures"]
    assert "gone: no records on the site (the study did not run)" in n["failures"]
    assert "bench: runner_throughput missed its target >= 0.95 (ratio 0.900)" in n["failures"]
    assert not any("stale" in f for f in n["failures"])
    assert n["bench"]["measures"]["runner_throughput"]["samples"] == [9.0, 9.1]
    assert n["studies"]["synth"]["verdicts"] and n["studies"]["synth"]["throughput"]
    later = night.close_night(site, "n2", "2025-02-01T00:00:00+00:00", "abc", ["synth"], {}, {})
    assert any(f.startswith("synth: stale: its records began") for f in later["failures"])
    assert any(f.startswith("bench: stale") for f in later["failures"])


def test_a_declared_comparison_without_a_verdict_fails_the_night(site):
    v = site / "synth" / "verdicts.csv"
    lines = v.read_text().splitlines()
    v.write_text("\n".join(lines[:1] + [ln for ln in lines[1:] if ",better,cosine," not in ln]) + "\n")
    n = night.close_night(site, "n1", "2025-01-02T03:00:00+00:00", "abc", ["synth"], {}, {})
    skipped = [f for f in n["failures"] if "comparisons skipped" in f]
    assert len(skipped) == 1 and "better cosine" in skipped[0]


def test_close_records_archives_renders_and_exits_1_on_a_failed_night(site, capsys):
    args = ["close", str(site), "--night", "20250102T0300Z-abc", "--started",
            "2025-01-02T03:00:00+00:00", "--commit", "abc", "--study", "synth", "--exit", "bench=1"]
    assert nightly_cli.main(args) == 1
    out = capsys.readouterr().out
    assert "20250102T0300Z-abc: failed" in out and "failed: bench exited 1" in out
    assert [n["night"] for n in ledger.load(site)] == ["20250102T0300Z-abc"]
    assert (site / "archive" / "20250102T0300Z-abc" / "synth" / "records.parquet").exists()
    assert "## failed night" in (site / "nightly" / "alerts.md").read_text()
    page = (site / "nightly" / "index.html").read_text()
    assert "FAILED" in page  # two figures (throughput, Δ), each drawn wide and for a phone
    assert page.count('class="fig fig-wide"') == 2 and page.count('class="fig fig-narrow"') == 2
    assert nightly_cli.main(args) == 1 and len(ledger.load(site)) == 1  # closing again replaces


def test_close_stops_on_a_file_over_the_limit_with_one_line(site, capsys, monkeypatch):
    from annealbench_report.nightly import archive
    monkeypatch.setattr(archive, "MAX_FILE_BYTES", 100_000)
    assert nightly_cli.main(["close", str(site), "--night", "n", "--started", "2025-01-02T03:00:00+00:00",
                             "--commit", "abc"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "over the 0.1 MB a site file may have" in err[0]
    assert "index.html is " in err[0] and "MB, over the" in err[0]
    assert ledger.load(site)[0]["failures"][-1] == err[0].removeprefix("nightly: ")


def test_bad_arguments_exit_2_with_one_line(tmp_path, capsys):
    assert nightly_cli.main(["close", str(tmp_path), "--night", "n", "--started", "x", "--commit",
                             "c", "--exit", "bench"]) == 2
    assert capsys.readouterr().err.strip() == ("nightly: --exit 'bench': give COMMAND=STATUS, STATUS "
                                               "an integer")


def test_throughput_is_each_run_s_median_after_its_first_epoch_and_a_shared_prefix_counts_once():
    import pandas as pd

    def rows(run, values, status="completed"):
        return [{"metric": "throughput", "status": status, "run_key": run, "epoch": e, "value": v}
                for e, v in enumerate(values, 1)]
    df = pd.DataFrame(rows("a", [10.0, 100.0, 120.0, 110.0]) + rows("copy", [10.0, 100.0, 120.0, 110.0])
                      + rows("fork", [10.0, 200.0, 220.0]) + rows("one", [55.0])
                      + rows("bad", [1.0, 2.0], status="failed"))
    assert night.throughput_samples(df) == [55.0, 110.0, 210.0]
