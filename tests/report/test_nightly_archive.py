"""The site's archive stays bounded: 365 nights of archive folders, the retention applied after
each as ci/nightly.sh does, and the size bound the retention declares; the publishing limit on a
file's size."""

from __future__ import annotations

import json

from annealbench_report.nightly import archive

# a night at the full budget as published: two studies' pages and thinned records (docs/results/
# holds the reference budget's: 0.24 MB page, 0.45 and 1.16 MB records)
STUDY = {"index.html": 250_000, "records.parquet": 1_200_000, "verdicts.csv": 2_000,
         "study.json": 6_000, "meta.json": 4_000}
NIGHT_JSON = 8_000


def _night(site, i: int) -> None:
    night = site / archive.FOLDER / f"2027{i // 28 + 1:02d}{i % 28 + 1:02d}T0217Z-c{i:05d}"
    for study in ("cifar10-cnn", "shakespeare-lstm"):
        (night / study).mkdir(parents=True)
        for name, size in STUDY.items():  # sparse: the sizes the bound counts, not a GB of writes
            with open(night / study / name, "wb") as f:
                f.truncate(size)
    (night / "night.json").write_text(json.dumps({"pad": "x" * NIGHT_JSON}))


def test_365_nights_keep_the_last_ones_whole_and_the_site_bounded(tmp_path):
    site = tmp_path / "site"
    for i in range(365):
        _night(site, i)
        archive.apply_retention(site)
    nights = archive.nights(site)
    assert len(nights) == 365
    full = sum(STUDY.values()) * 2 + NIGHT_JSON
    summary = STUDY["verdicts.csv"] * 2 + NIGHT_JSON
    bound = archive.KEEP_FULL * full + (365 - archive.KEEP_FULL) * summary
    total = archive.total_bytes(site)
    assert total <= bound * 1.01, (total, bound)
    assert total < 50_000_000  # about 45 MB of archive after a year, not 1 GB
    whole = [n for n in nights if (n / "cifar10-cnn" / "records.parquet").exists()]
    assert whole == nights[-archive.KEEP_FULL:]
    oldest = nights[0]
    assert sorted(p.relative_to(oldest).as_posix() for p in oldest.rglob("*") if p.is_file()) == [
        "cifar10-cnn/verdicts.csv", "night.json", "shakespeare-lstm/verdicts.csv"]


def test_retention_cuts_only_what_is_older_than_the_kept_nights(tmp_path):
    site = tmp_path / "site"
    for i in range(4):
        _night(site, i)
    cut = archive.apply_retention(site, keep_full=2)
    assert cut == archive.nights(site)[:2]
    assert archive.apply_retention(site, keep_full=2) == []  # idempotent


def test_a_file_over_the_limit_is_found_and_named(tmp_path):
    site = tmp_path / "site"
    (site / "cnn").mkdir(parents=True)
    (site / "cnn" / "records.parquet").write_bytes(b"x" * 2000)
    (site / "cnn" / "index.html").write_bytes(b"x" * 500)
    (site / ".git").write_text("gitdir: elsewhere\n" + "x" * 5000)  # a worktree's pointer: skipped
    assert archive.oversized(site, limit=1000) == [(site / "cnn" / "records.parquet", 2000)]
    assert archive.oversized(site) == []
