"""What a finished output folder looks like to whoever reads it next: file modes that follow the
umask, and a rerun with nothing left to train that does not need the data set."""

from __future__ import annotations

import os
import stat

from harness import copy_out, report_cli, run_cli


def test_every_output_file_follows_the_umask(fresh):
    study, data, out = fresh
    for r in (run_cli(study, out, data, preexec_fn=lambda: os.umask(0o027)),
              report_cli(out, preexec_fn=lambda: os.umask(0o027))):
        assert r.returncode == 0, r.stderr
    modes = {str(f.relative_to(out)): stat.S_IMODE(f.stat().st_mode)
             for f in out.rglob("*") if f.is_file()}
    assert {"rel/meta.json", "rel/study.json", "rel/index.html", "index.html"} <= set(modes)
    assert {f: oct(m) for f, m in modes.items() if m != 0o640} == {}


def test_rerun_with_nothing_to_train_needs_no_data(baseline, tmp_path):
    out = copy_out(baseline, tmp_path / "out")
    r = run_cli(baseline.study, out, tmp_path / "no-data-here")
    assert r.returncode == 0, r.stderr
    assert "nothing to train" in r.stdout
