"""cli: exit 0 on good output, exit 2 and one line on stderr for a broken file."""

from __future__ import annotations

import subprocess
import sys

from annealbench_report.cli import main


def test_build_all_studies(synth, capsys):
    out = synth.dir.parent
    assert main(["build", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    for f in ("records.parquet", "records.csv", "index.html"):
        assert (synth.dir / f).is_file()
    assert (out / "index.html").is_file()
    assert str(synth.dir / "index.html") in captured.out


def test_build_named_study_and_unknown(synth, capsys):
    out = synth.dir.parent
    assert main(["build", "--out", str(out), "--study", synth.dir.name]) == 0
    capsys.readouterr()
    assert main(["build", "--out", str(out), "--study", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("annealbench-report: ") and err.count("\n") == 1 and "nope" in err


def test_truncated_epoch_csv_exits_2_naming_the_file(synth, capsys):
    key = next(k for k, r in synth.runs.items() if r["last_epoch"] >= 3)
    f = synth.dir / "runs" / key / "epochs" / "00003.csv"
    f.write_bytes(f.read_bytes()[:-7])
    assert main(["build", "--out", str(synth.dir.parent)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("annealbench-report: ") and err.count("\n") == 1
    assert str(f) in err


def test_missing_out_dir_and_bad_usage(tmp_path, capsys):
    assert main(["build", "--out", str(tmp_path / "missing")]) == 2
    assert capsys.readouterr().err.startswith("annealbench-report: ")
    assert main(["frobnicate"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_python_dash_m(tmp_path, make_synth):
    s = make_synth(tmp_path / "out", seeds=(0,), epochs=2, special=False)
    r = subprocess.run([sys.executable, "-m", "annealbench_report", "build", "--out",
                        str(s.dir.parent)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert (s.dir / "index.html").is_file() and (s.dir.parent / "index.html").is_file()


def test_rebuild_from_records_alone(synth, capsys):
    """A study kept as records.parquet without runs/ still renders, with the same summary."""
    import shutil

    out = synth.dir.parent
    assert main(["build", "--out", str(out)]) == 0
    before = (synth.dir / "index.html").read_text()
    shutil.rmtree(synth.dir / "runs")
    (synth.dir / "index.html").unlink()
    assert main(["build", "--out", str(out), "--study", synth.dir.name]) == 0, capsys.readouterr().err
    after = (synth.dir / "index.html").read_text()

    def summary(html):  # the answer, forest plot, budget curves and verdicts
        return html[html.index('id="answer"'):html.index('<dl class="meta">')]

    assert summary(after) == summary(before)
    assert "diverged at step" in after or "Diverged runs" in after
    assert 'href="synth/index.html"' in (out / "index.html").read_text()
