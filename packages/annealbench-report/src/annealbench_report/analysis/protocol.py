"""Which run judges each (arm, length, seed), and how its base LR was chosen.

An arm is (optimizer setting, schedule). At each length B of the budget curve a run contributes
a *selection value* (validation primary metric at epoch B) and a *judged value* (test primary
metric at epoch B). The run for length B is the run annealed to B; for an arm whose LR does not
depend on the length (the declared baseline, an anytime arm: ``frames.length_free_arms``) with no
run of that length, the shortest longer run at its epoch B, which measured exactly that.

Protocols:
- ``tuned`` with a tuning file (study.json ``tuning``, see :mod:`tuning`): every arm at the base
  LR chosen on the tuning seeds, which are never judged, on every judged seed: no selection
  inside the judged data, so the pairs are independent across seeds.
- ``tuned`` in-study (``tuning`` null): for judged seed s the base LR is the one with the best
  mean selection value over the *other* seeds (leave-one-seed-out; :func:`choose_lr`), and seed s
  is judged by the test value of its own run at that LR. Neither the split nor the seed that
  chose an LR judges it, but each seed helps choose the others' LRs, so the claims layer tests
  these with :mod:`selection_test`. With one seed the seed's own validation chooses (the page
  says selection was not held out).
- ``article``: every arm at the optimizer setting's ``article_lr``: what the article claims.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from annealbench_report.analysis import tuning as tuning_file
from annealbench_report.records.frames import direction, epoch_rows, length_free_arms

TUNED, ARTICLE = "tuned", "article"
POINT_COLUMNS = ["optimizer", "schedule", "schedule_type", "base_lr", "seed", "length", "status",
                 "sel", "value", "seconds", "run_key"]
JUDGED_COLUMNS = ["optimizer", "protocol", "schedule", "length", "seed", "base_lr", "status",
                  "sel", "value", "seconds", "run_key", "held_out", "edge"]


@dataclass
class Selection:
    """Everything one study's protocol decided."""

    points: pd.DataFrame  # one row per (arm, base LR, seed, length): the run that length uses
    judged: pd.DataFrame  # one row per (optimizer, protocol, schedule, length, seed)
    choices: pd.DataFrame  # per (optimizer, schedule, length): the all-seeds LR choice, edge flag
    by_lr: pd.DataFrame  # per (optimizer, schedule, length, base LR): selection and test means
    held_out: bool  # leave-one-seed-out possible (at least 2 seeds), or chosen on tuning seeds
    tuning: dict | None = None  # the tuning file's choices (tuning.read); None: in-study
    notes: list | None = None  # what the protocol left out, in words

    @property
    def in_study(self) -> bool:
        """Base LRs chosen inside the judged data (leave-one-seed-out): the selection-aware test."""
        return self.tuning is None and self.held_out


def curve_lengths(study: dict, df: pd.DataFrame) -> list[int]:
    """The budget-curve lengths, ascending, last = the full length E: study.json's
    ``curve_epochs`` (with ``epochs``), else the distinct run lengths of the records."""
    if study.get("curve_epochs"):
        declared = {int(e) for e in study["curve_epochs"]}
        if study.get("epochs"):
            declared.add(int(study["epochs"]))
        return sorted(declared)
    return sorted({int(e) for e in df["epochs"].unique()}) if len(df) else []


def points(df: pd.DataFrame, primary: str, lengths: list[int],
           length_free: set[str] | None = None, judged_on: str = "test") -> pd.DataFrame:
    """Per (optimizer, schedule, base LR, seed, length B): the run that stands for B, its status
    at B, its validation and test ``primary`` at epoch B and its training seconds until B.
    ``length_free``: the arms whose longer run stands for a shorter length
    (:func:`frames.length_free_arms`; by default read off the records). ``judged_on``: the split
    whose value is the judged ``value`` (the study's judged_on; test unless it says val)."""
    if length_free is None:
        length_free = length_free_arms(df)
    ep = epoch_rows(df)
    ep = ep.assign(run_key=ep["run_key"].astype(str))
    ev = ep[ep["split"].isin(["val", "test"]) & (ep["metric"] == primary)]
    vals = {(k, int(e), str(s)): v for k, e, s, v in
            zip(ev["run_key"], ev["epoch"], ev["split"], ev["value"])}
    secs = ep.groupby(["run_key", "epoch"])["wall_time_s"].max().to_dict()
    runs = (df[["optimizer", "schedule", "schedule_type", "base_lr", "seed", "epochs", "run_key",
                "status"]].drop_duplicates("run_key")
            .astype({"optimizer": str, "schedule": str, "schedule_type": str, "run_key": str,
                     "status": str}))
    rows = []
    arm_keys = ["optimizer", "schedule", "base_lr", "seed"]
    for key, g in runs.groupby(arm_keys, sort=True):
        by_len = dict(zip(g["epochs"].astype(int), zip(g["run_key"], g["status"])))
        fixed = key[1] in length_free
        for b in lengths:
            if b in by_len:
                rk, status = by_len[b]
            elif fixed and any(n > b for n in by_len):
                # the fixed LR does not depend on the length: a longer run's epoch b is a run of b
                rk, status = by_len[min(n for n in by_len if n > b)]
                status = "completed" if (rk, b, "val") in vals else status
            else:
                continue
            ok = status == "completed"
            rows.append({**dict(zip(arm_keys, key)), "schedule_type": g["schedule_type"].iloc[0],
                         "length": b, "status": status,
                         "sel": vals.get((rk, b, "val"), np.nan) if ok else np.nan,
                         "value": vals.get((rk, b, judged_on), np.nan) if ok else np.nan,
                         "seconds": secs.get((rk, b), np.nan), "run_key": rk})
    out = pd.DataFrame(rows, columns=POINT_COLUMNS)
    return out.astype({"length": "int64", "seed": "int64", "sel": "float64", "value": "float64",
                       "seconds": "float64", "base_lr": "float64"})


def choose_lr(lrs: np.ndarray, sel: np.ndarray, diverged: np.ndarray, maximize: bool) -> float:
    """The base LR with the best mean selection value. ``lrs``/``sel``/``diverged`` are aligned
    per run (NaN where a run has no value). LRs where some run diverged are passed over while
    another LR had none, so a mean over survivors cannot win; ties go to the smaller LR; with no
    value anywhere, the smallest LR (the arm is shown, not dropped)."""
    cands = []
    for lr in np.unique(lrs):
        m = lrs == lr
        v = sel[m][np.isfinite(sel[m])]
        score = (-v.mean() if maximize else v.mean()) if len(v) else np.inf
        cands.append((not len(v), bool(diverged[m].any()), score, lr))
    return float(min(cands)[3])


def _edge(lr: float, grid: np.ndarray) -> bool:
    return len(grid) >= 2 and (lr == grid.min() or lr == grid.max())


def _tuned(p: pd.DataFrame, maximize: bool) -> tuple[list, dict]:
    """Leave-one-seed-out rows of one (optimizer, schedule, length) and its all-seeds choice."""
    lrs = p["base_lr"].to_numpy(float)
    sel = p["sel"].to_numpy(float)
    div = (p["status"] == "diverged").to_numpy()
    seeds = p["seed"].to_numpy()
    grid = np.unique(lrs)
    overall = choose_lr(lrs, sel, div, maximize)
    judged = []
    held = len(np.unique(seeds)) > 1
    for s in np.unique(seeds):
        others = seeds != s if held else np.ones(len(seeds), bool)
        lr = choose_lr(lrs[others], sel[others], div[others], maximize)
        own = p[(p["seed"] == s) & (p["base_lr"] == lr)]
        if own.empty:
            continue
        judged.append({**own.iloc[0].to_dict(), "held_out": held, "edge": _edge(lr, grid)})
    choice = {"chosen_lr": overall, "n_lrs": len(grid), "edge": _edge(overall, grid),
              "lr_min": float(grid.min()), "lr_max": float(grid.max())}
    return judged, choice


def _from_file(p: pd.DataFrame, c: dict | None, tuning_seeds: set) -> list:
    """Judged rows of one (optimizer, schedule, length): its runs at the tuning file's LR."""
    if c is None:
        return []
    at = p[np.isclose(p["base_lr"].to_numpy(float), c["base_lr"], rtol=1e-9, atol=0.0)
           & ~p["seed"].isin(tuning_seeds)]
    return [{**r.to_dict(), "held_out": True, "edge": c["edge"]} for _, r in at.iterrows()]


def select(pts: pd.DataFrame, study: dict, primary: str, directions: dict | None,
           where: str = "study.json") -> Selection:
    """Both protocols applied to the points of a study (:func:`points`), with the choice per
    (optimizer, schedule, length) for display: the tuning file's, else the all-seeds one."""
    maximize = direction(primary, directions) == "max"
    tuned = tuning_file.read(study, where)
    judged = []
    choices = []
    notes = []
    article = article_lrs(study)
    tseeds = set(tuned["seeds"]) if tuned else set()
    if tuned and pts["seed"].isin(tseeds).any():
        notes.append("Runs of the tuning seeds in these records are not judged (they chose the "
                     "LRs): " + tuning_file.seeds_text(sorted(set(pts["seed"]) & tseeds)) + ".")
    for (opt, sched, b), p in pts.groupby(["optimizer", "schedule", "length"], sort=True):
        if tuned:
            c = tuned["choices"].get((str(opt), str(sched), int(b)))
            rows = _from_file(p, c, tseeds)
            if c is None:
                notes.append(f"{opt} · {sched} at {b} epochs: no choice in {tuned['file']}, so no "
                             "tuned comparison.")
            else:
                choices.append(tuning_file.choice_row(opt, sched, int(b), c))
        else:
            rows, choice = _tuned(p, maximize)
            choices.append({"optimizer": opt, "schedule": sched, "length": b, **choice})
        judged += [{**r, "protocol": TUNED} for r in rows]
        lr = article.get(opt)
        if lr is not None and (p["base_lr"] == float(lr)).any():
            grid = np.unique(p["base_lr"])
            for _, r in p[(p["base_lr"] == float(lr)) & ~p["seed"].isin(tseeds)].iterrows():
                judged.append({**r.to_dict(), "protocol": ARTICLE, "held_out": True,
                               "edge": _edge(float(lr), grid)})
    j = pd.DataFrame(judged, columns=JUDGED_COLUMNS)
    j = j.astype({"length": "int64", "seed": "int64", "held_out": bool, "edge": bool})
    j = j.sort_values(["optimizer", "protocol", "schedule", "length", "seed"],
                      kind="mergesort").reset_index(drop=True)
    ch = pd.DataFrame(choices, columns=["optimizer", "schedule", "length", "chosen_lr", "n_lrs",
                                        "edge", "lr_min", "lr_max"])
    held = bool(tuned) or pts["seed"].nunique() > 1
    return Selection(pts, j, ch, by_lr(pts), held, tuned, notes)


def by_lr(pts: pd.DataFrame) -> pd.DataFrame:
    """Per (optimizer, schedule, length, base LR): mean selection and test values over the runs
    with a value, how many, and how many diverged (the base-LR figure and table)."""
    g = pts.groupby(["optimizer", "schedule", "length", "base_lr"], sort=True)
    out = g.agg(sel_mean=("sel", "mean"), sel_std=("sel", "std"), n=("sel", "count"),
                test_mean=("value", "mean"),
                n_runs=("seed", "size"),
                n_diverged=("status", lambda s: int((s == "diverged").sum())))
    return out.reset_index()


def article_lrs(study: dict) -> dict:
    """{optimizer setting: its article_lr} for the settings that declare one."""
    out = {}
    for k, v in (study.get("optimizers") or {}).items():
        if isinstance(v, dict) and v.get("article_lr") is not None:
            out[str(k)] = float(v["article_lr"])
    return out
