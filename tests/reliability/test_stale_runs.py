"""Runs of an earlier grid (another budget, an edited spec) stay on disk but never enter the table."""

from __future__ import annotations

from harness import STUDY, read_records, report_cli, run_cli, run_dirs, write_toml


def test_edited_spec_rerun_into_the_same_out_reports_only_the_new_grid(baseline, fresh, tmp_path):
    study, data, out = fresh
    assert run_cli(study, out, data).returncode == 0
    old_keys = {d.name for d in run_dirs(out)}

    edited = write_toml(tmp_path / "rel.toml", replace={"lrs = [0.05]": "lrs = [0.02]"})
    r = run_cli(edited, out, data)
    assert r.returncode == 0, r.stderr
    new_keys = {d.name for d in run_dirs(out)} - old_keys
    assert len(new_keys) == len(old_keys)  # every run is new: the base LR is part of the key

    rr = report_cli(out)
    assert rr.returncode == 0, rr.stderr
    assert f"{len(old_keys)} run directories from an earlier grid" in rr.stderr
    df = read_records(out)
    assert set(df["run_key"].astype(str)) == new_keys
    assert set(df["base_lr"]) == {0.02}
    # nothing computed is lost: the earlier runs are still complete on disk
    assert all((out / STUDY / "runs" / k / "status.json").exists() for k in old_keys)
