"""Locating WikiText-2 (raw or tokens release); there is no download, the user supplies it."""

from __future__ import annotations

from pathlib import Path

from annealbench.errors import DataError

# Searched in order: the raw release, then the pre-tokenised one with <unk> already applied.
LAYOUTS = (("wikitext-2-raw", "raw"), ("wikitext-2", "tokens"))
SPLITS = ("train", "valid", "test")


def wikitext2_paths(data_dir: Path) -> tuple[Path, Path, Path]:
    """(train, valid, test) files of the first complete layout under data_dir."""
    for folder, suffix in LAYOUTS:
        paths = tuple(Path(data_dir) / folder / f"wiki.{split}.{suffix}" for split in SPLITS)
        if all(p.is_file() for p in paths):
            return paths
    root = Path(data_dir)
    raise DataError(
        f"no WikiText-2 under {root}; put wiki.train.raw, wiki.valid.raw, wiki.test.raw in "
        f"{root / 'wikitext-2-raw'} (or wiki.*.tokens in {root / 'wikitext-2'}); "
        f"point --data-dir or ANNEALBENCH_DATA at {root}"
    )
