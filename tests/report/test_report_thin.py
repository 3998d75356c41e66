"""Thinned records (annealbench_report.thin, for publishing a long study): the page and
verdicts.csv rebuilt from them are those of the full records, byte for byte but for the row count
the page states, and only per-step rows the page does not read are gone."""

from __future__ import annotations

import shutil

from annealbench_report import thin
from annealbench_report.pages import study_page as render
from annealbench_report.records import collect
from annealbench_report.records import contract as records
from annealbench_report.records.frames import step_rows


def _page(study_dir):
    render.render_study(study_dir)
    return (study_dir / "index.html").read_bytes(), (study_dir / "verdicts.csv").read_bytes()


def test_the_page_from_thinned_records_is_the_page(make_synth, tmp_path):
    s = make_synth(tmp_path / "full", seeds=(0, 1, 2, 3))
    full = collect.write_records(s.dir)
    kept = tmp_path / "kept" / s.dir.name
    kept.mkdir(parents=True)
    for name in ("records.parquet", "study.json", "meta.json"):
        if (s.dir / name).exists():
            shutil.copy(s.dir / name, kept / name)
    shutil.rmtree(s.dir / "runs")  # both pages from records alone, as docs/results/ is built
    before = _page(s.dir)
    assert thin.main([str(kept)]) == 0
    small = records.read_records(kept / "records.parquet")
    assert not (kept / "records.csv").exists()
    assert len(step_rows(small)) < len(step_rows(full)) / 2
    other = full[~full.index.isin(step_rows(full).index)]
    assert len(small) - len(step_rows(small)) == len(other)  # every non-step row kept
    diverged = full[full["status"].astype(str) == "diverged"]
    assert len(step_rows(diverged)) and step_rows(diverged)["run_key"].isin(small["run_key"]).all()
    after = _page(kept)
    assert after[1] == before[1]
    # the one difference: the page counts the rows its records file holds
    assert f"Records: {len(full)} rows.".encode() in before[0]
    assert after[0] == before[0].replace(f"Records: {len(full)} rows.".encode(),
                                         f"Records: {len(small)} rows.".encode())


def test_nothing_to_thin_is_left_as_is(make_synth, tmp_path):
    s = make_synth(tmp_path / "out")
    df = collect.write_records(s.dir)
    no_steps = df[~df.index.isin(step_rows(df).index)]
    assert thin.thin(no_steps).equals(no_steps)

