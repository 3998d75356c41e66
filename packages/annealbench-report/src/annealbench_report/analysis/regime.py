"""The training regime of a study, stated where its answer is: had the fixed LR stopped improving
at the end of the full-length run (a plateau), or was the comparison made on models still
climbing (a short-budget comparison)? And how far is the model from what a converged model of
that data set reaches (the ``reference`` the study declares, with its source)?

Definitions (per optimizer setting):

- The runs: the fixed LR (the schedule of type ``constant``) at its judged base LR: for each
  seed, the run the tuned protocol judges at the full length E (its leave-one-seed-out LR;
  ``protocol.select``). Only completed runs count.
- The last quarter: the validation evaluations after epochs E − q, …, E with q = max(1, ⌈E/4⌉),
  i.e. the evaluation that opens the last quarter of training and every one inside it (epochs
  6–8 of 8, 22–30 of 30). Epochs without a finite value are left out.
- A seed's gain per epoch: sign · b, with b the least-squares slope of the validation primary
  metric on the epoch over those points (b = Σ(e − ē)(v − v̄) / Σ(e − ē)², at least 2 distinct
  epochs, else undefined), sign = +1 where higher is better and −1 where lower is: a gain > 0 is
  an improvement whatever the metric's direction; a metric turning worse (overfitting) gains < 0.
- ``slope``: the mean gain over seeds; ``slope_lo``/``slope_hi``: its 95% t-interval.
- ``at_plateau``: the interval's upper end is at most the study's ``plateau`` threshold. The
  upper end, not the mean: "at a plateau" is a claim the page makes, so it needs evidence that
  the gain is small; with the mean, a run still gaining exactly the threshold would be called at
  a plateau half the time. So fewer than 2 seeds (no interval) is not shown to be at a plateau,
  and a metric turning worse (upper end below 0) is at one. No threshold declared: undecided.
- ``level``: the mean over the same runs of the test primary metric at epoch E.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from annealbench_report.analysis import inference, protocol
from annealbench_report.analysis.units import Units
from annealbench_report.errors import ReportError
from annealbench_report.records.frames import epoch_rows, sign

COLUMNS = ["optimizer", "slope", "slope_lo", "slope_hi", "n", "plateau", "at_plateau", "level",
           "sentence"]
VERDICT_COLUMNS = ["optimizer", "slope", "slope_lo", "slope_hi", "plateau", "at_plateau"]
RULE = ("For each optimizer setting, the fixed LR at the base LR the tuned protocol judges at the "
        "full length E: per seed, the least-squares slope of its validation {primary} on the "
        "epoch over the evaluations after epochs E − ⌈E/4⌉ … E (the last quarter), counted as a "
        "gain when it is an improvement; then the mean gain over seeds with its 95% t-interval. "
        "At a plateau: the interval's upper end is at most the study's plateau threshold "
        "({plateau} per epoch), so a metric turning worse counts as at a plateau and fewer than 2 "
        "seeds do not show one. Otherwise the comparison is one of models still improving: a "
        "short-budget comparison.")


def last_quarter(full: int) -> tuple[int, int]:
    """First and last epoch of the last quarter's evaluations of a run of ``full`` epochs."""
    return full - max(1, math.ceil(full / 4)), full


def ls_slope(epochs, values) -> float:
    """Least-squares slope of ``values`` on ``epochs`` over the finite pairs; NaN with fewer than
    2 distinct epochs."""
    x, y = np.asarray(epochs, dtype=float), np.asarray(values, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if len(np.unique(x)) < 2:
        return float("nan")
    dx = x - x.mean()
    return float((dx * (y - y.mean())).sum() / (dx * dx).sum())


@dataclass(frozen=True)
class Declared:
    """What study.json declares about the regime: the plateau (gain per epoch, primary-metric
    units; None: not declared) and the reference level the fixed LR is compared with."""

    plateau: float | None
    reference: dict | None


@dataclass(frozen=True)
class Metric:
    """The primary metric, the study's metric directions and the page's units for it."""

    primary: str
    directions: dict | None
    units: Units


def declared(study: dict, where: str) -> Declared:
    """The regime facts of study.json, checked (a hand-edited file gets one clear line)."""
    plateau = study.get("plateau")
    ref = study.get("reference")
    if plateau is not None and (isinstance(plateau, bool) or not isinstance(plateau, (int, float))
                                or not math.isfinite(plateau) or plateau <= 0):
        raise ReportError(f"{where}: plateau must be a positive number (gain per epoch, in "
                          f"primary-metric units) or absent, not {plateau!r}")
    if ref is not None:
        ok = (isinstance(ref, dict) and isinstance(ref.get("level"), (int, float))
              and not isinstance(ref.get("level"), bool) and math.isfinite(ref["level"])
              and all(isinstance(ref.get(k), str) and ref[k].strip() for k in ("text", "source")))
        if not ok:
            raise ReportError(f"{where}: reference must be {{\"level\": NUMBER, \"text\": TEXT, "
                              f"\"source\": TEXT}} or absent, not {ref!r}")
    return Declared(None if plateau is None else float(plateau), ref)


def seed_gains(df: pd.DataFrame, judged: pd.DataFrame, primary: str, directions: dict | None,
               full: int) -> pd.DataFrame:
    """Per judged run of ``judged`` (rows of ``protocol.Selection.judged``): its gain per epoch
    over the last quarter (see the module docstring) and its test value at ``full``."""
    runs = judged[judged["status"].astype(str) == "completed"]
    first, last = last_quarter(full)
    ep = epoch_rows(df)
    val = ep[(ep["split"] == "val") & (ep["metric"] == primary) & (ep["epoch"] >= first)
             & (ep["epoch"] <= last)]
    val = val.assign(run_key=val["run_key"].astype(str))
    by_run = {k: g for k, g in val.groupby("run_key")}
    sgn = sign(primary, directions)
    rows = []
    for _, r in runs.iterrows():
        g = by_run.get(str(r["run_key"]))
        b = float("nan") if g is None else ls_slope(g["epoch"], g["value"])
        rows.append({"optimizer": str(r["optimizer"]), "seed": int(r["seed"]),
                     "base_lr": float(r["base_lr"]), "run_key": str(r["run_key"]),
                     "gain": sgn * b, "level": float(r["value"])})
    return pd.DataFrame(rows, columns=["optimizer", "seed", "base_lr", "run_key", "gain", "level"])


def analyse(df: pd.DataFrame, sel: protocol.Selection, fixed: str | None, opts: list, full: int,
            metric: Metric, decl: Declared) -> pd.DataFrame:
    """One row per optimizer setting with a judged full-length fixed-LR run (:data:`COLUMNS`)."""
    primary, directions, units = metric.primary, metric.directions, metric.units
    plateau, reference = decl.plateau, decl.reference
    j = sel.judged
    j = j[(j["protocol"] == protocol.TUNED) & (j["length"] == full) & (j["schedule"] == fixed)]
    gains = seed_gains(df, j, primary, directions, full)
    rows = []
    for opt in opts:
        g = gains[gains["optimizer"] == opt]
        if g.empty:
            continue
        t = inference.t_interval(g["gain"])
        hi = t["hi"]
        at = None if plateau is None or not math.isfinite(t["mean"]) else \
            bool(math.isfinite(hi) and hi <= plateau)
        level = float(np.nanmean(g["level"])) if np.isfinite(g["level"]).any() else float("nan")
        row = {"optimizer": opt, "slope": t["mean"], "slope_lo": t["lo"], "slope_hi": hi,
               "n": t["n"], "plateau": plateau if plateau is not None else float("nan"),
               "at_plateau": at, "level": level}
        row["sentence"] = f"{sentence(row, units)}. {level_text(level, units, reference)}."
        rows.append(row)
    out = pd.DataFrame(rows, columns=COLUMNS)
    out["at_plateau"] = out["at_plateau"].astype("boolean")
    return out


def sentence(r: dict, u: Units) -> str:
    """The regime clause of one optimizer setting: "at a plateau (fixed LR gaining X per epoch
    ...)" or "still improving by X per epoch ...: a short-budget comparison"."""
    mean = r["slope"]
    lo = r["slope_lo"]
    hi = r["slope_hi"]
    plateau = r["plateau"]
    u = u.finer()
    if not math.isfinite(mean):
        return ("Regime not measured: the fixed LR has no completed full-length run with 2 "
                "validation points in its last quarter")
    gain = f"{u.effect(mean, True)} {u.interval(lo, hi, True)} per epoch over the last quarter"
    if r["n"] < 2:
        gain += " (one seed: no interval)"
    if not math.isfinite(plateau):
        return f"Fixed LR gaining {gain}; the study declares no plateau threshold"
    limit = f"plateau: at most {u.effect(plateau)} per epoch"
    if r["at_plateau"]:
        worse = ", turning worse" if hi < 0 else ""
        return f"At a plateau (fixed LR gaining {gain}{worse}; {limit})"
    if math.isfinite(lo) and lo > plateau:
        return (f"Still improving by {u.effect(mean)} per epoch ({u.interval(lo, hi)} over the "
                f"last quarter; {limit}): a short-budget comparison")
    return f"Not shown to be at a plateau (fixed LR gaining {gain}; {limit}): a short-budget comparison"


def level_text(level: float, u: Units, reference: dict | None) -> str:
    """"57.3% test accuracy; CNNs trained to convergence on CIFAR-10 reach 94% and more (source)"."""
    if u.scale == 100:
        own = f"{u.num(level)}% test {u.metric}"
    elif u.unit == u.metric:
        own = f"{u.num(level)} test {u.metric}"
    else:
        own = f"{u.num(level)} {u.unit} test {u.metric}"
    own = f"The fixed LR ends at {own}"
    if reference is None:
        return own + " (the study declares no reference level)"
    return f"{own}; {reference['text']} ({reference['source']})"


def rule(frame: pd.DataFrame | None, primary: str, u: Units) -> str | None:
    """How the regime sentence is decided, for the page; None where no sentence is shown."""
    if frame is None or frame.empty:
        return None
    p = frame["plateau"].iloc[0]
    return RULE.format(primary=primary, plateau=u.effect(p) if math.isfinite(p) else "none declared")


def verdict_columns(frame: pd.DataFrame | None) -> pd.DataFrame:
    """Exactly optimizer, slope, slope_lo, slope_hi, plateau, at_plateau: one row per optimizer
    setting, to join onto verdicts.csv by ``optimizer``."""
    if frame is None or frame.empty:
        return pd.DataFrame({c: pd.Series(dtype="boolean" if c == "at_plateau" else
                                          "object" if c == "optimizer" else "float64")
                             for c in VERDICT_COLUMNS})
    return frame[VERDICT_COLUMNS].reset_index(drop=True)
