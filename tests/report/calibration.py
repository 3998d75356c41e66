"""Simulated null and alternative studies for the calibration test (issue 14), built as the
report's protocol layer sees them (``protocol.points`` rows), so that the report's own decision
path (``protocol.select`` → ``claims.analyse`` → the verdict) judges them.

One study: a fixed LR ("constant") and one schedule ("cosine"), 3 base LRs, n judged seeds, one
length E. The value of a run (arm a, LR l, seed s) is

    quality(l) + seed effect g_s (shared by both arms: same initialisation and data order)
    + run luck u (shared by the run's validation and test values) + own noise per split,

so validation and test correlate ρ = var(u) / (var(u) + var(noise)) within a run. Identical
arms: the null; the schedule shifted by δ on both splits: the alternative.

Protocols: ``tuned`` = base LRs chosen on separate tuning seeds by the tuning file's rule (best
mean validation, ties to the smaller LR) and passed as study.json's ``tuning`` entry, the judged
seeds trained only at the chosen LR (contract item 3); ``in-study`` = every LR on every judged
seed, leave-one-seed-out.

Two ways to judge a study, which must agree (the test checks it on a sample):
- :func:`decide`: the whole page path from ``protocol.points`` rows (``protocol.select`` and
  ``claims.analyse``, with their pandas frames);
- :func:`fast`: the same decision functions that path calls for a one-schedule family
  (``inference.paired_test`` or ``selection_test.test``, ``inference.holm``, ``verdicts.decide``,
  the LR choice of the tuning rule or ``selection_test.choose``), on the arrays directly, so that
  thousands of studies fit in the test's time.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from annealbench_report.analysis import claims, inference, protocol, selection_test, verdicts

LRS = (0.01, 0.03, 0.1)
E = 4
# quality per base LR in run-luck SDs. "curved": the grid's neighbours 3-6 SDs worse, as on the
# real studies' grids (factors of 3-4 apart); "shallow": within 1 SD, where 5 tuning seeds can
# choose LRs of different quality for two identical arms
SHAPES = {"flat": (0.0, 0.0, 0.0), "curved": (-6.0, 0.0, -3.0), "shallow": (-1.0, 0.0, -0.5)}
LUCK = 0.01  # SD of a run's luck (accuracy units)
N_TUNING = 5


def _values(rng, shape: str, rho: float, n: int, delta: float) -> tuple[np.ndarray, np.ndarray]:
    """(validation, test) of shape (2 arms, 3 LRs, n seeds); arm 0 = schedule."""
    q = 0.6 + LUCK * np.asarray(SHAPES[shape])[None, :, None]
    g = rng.normal(0, LUCK, n)[None, None, :]
    u = rng.normal(0, LUCK, (2, len(LRS), n))
    own = LUCK * np.sqrt((1 - rho) / rho)
    base = q + g + u
    val, test = base + rng.normal(0, own, base.shape), base + rng.normal(0, own, base.shape)
    val[0] += delta
    test[0] += delta
    return val, test


def _rows(val, test, seeds, keep=None) -> list[dict]:
    rows = []
    for a, sched in enumerate(("cosine", "constant")):
        for li, lr in enumerate(LRS):
            if keep is not None and keep[a] != li:
                continue
            for si, s in enumerate(seeds):
                rows.append({"optimizer": "sgd", "schedule": sched,
                             "schedule_type": "cosine" if a == 0 else "constant", "base_lr": lr,
                             "seed": s, "length": E, "status": "completed",
                             "sel": val[a, li, si], "value": test[a, li, si], "seconds": 1.0,
                             "run_key": f"{sched}-{lr}-{s}"})
    return rows


def draw(rng, shape: str, rho: float, n: int, tuned: bool, delta: float = 0.0) -> dict:
    """The numbers of one simulated study: judged (validation, test) and, tuned, the tuning
    seeds' mean validation per (arm, LR) and the chosen LR index per arm."""
    out = {"n": n, "tuned": tuned}
    if tuned:
        tv, _ = _values(rng, shape, rho, N_TUNING, delta)
        out["means"] = tv.mean(axis=2)  # (arm, LR) over the tuning seeds
        out["keep"] = [int(np.argmax(out["means"][a])) for a in range(2)]  # ties: smaller LR
    out["val"], out["test"] = _values(rng, shape, rho, n, delta)
    return out


def study(x: dict):
    """(points, study dict) of a drawn study, as the report's protocol layer reads them."""
    seeds = list(range(x["n"]))
    val, test = x["val"], x["test"]
    if not x["tuned"]:
        return pd.DataFrame(_rows(val, test, seeds), columns=protocol.POINT_COLUMNS), {"epochs": E}
    means, keep = x["means"], x["keep"]
    choices = [{"optimizer": "sgd", "schedule": sched, "length": E, "base_lr": LRS[keep[a]],
                "edge": keep[a] in (0, len(LRS) - 1),
                "by_lr": [{"base_lr": lr, "val_mean": float(means[a, i]), "n": N_TUNING}
                          for i, lr in enumerate(LRS)]}
               for a, sched in enumerate(("cosine", "constant"))]
    tuning = {"seeds": list(range(100, 100 + N_TUNING)), "choices": choices, "file": "sim"}
    pts = pd.DataFrame(_rows(val, test, seeds, keep), columns=protocol.POINT_COLUMNS)
    return pts, {"epochs": E, "tuning": tuning}


def decide(pts: pd.DataFrame, spec: dict) -> tuple[str, dict]:
    """The verdict on "better" and the family row, by the report's own path."""
    sel = protocol.select(pts, spec, "accuracy", {"accuracy": "max"})
    c = claims.analyse(sel, spec, "constant", ["constant", "cosine"], ["sgd"], [E], 1.0, None)
    return c.rows.iloc[0]["verdict"], c.families.iloc[0].to_dict()


def fast(x: dict, interval: bool = False) -> tuple[str, float, float]:
    """(verdict, SD of the paired differences, critical |t|) of a drawn study, by the decision
    functions the claims layer calls for a family of one schedule."""
    if x["tuned"]:
        k = x["keep"]
        t = inference.paired_test(x["test"][0, k[0]] - x["test"][1, k[1]])
        crit = inference.t_critical(t["n"], inference.ALPHA)
    else:
        sel, val = x["val"][:, None], x["test"][:, None]
        t = selection_test.test(sel, np.zeros(sel.shape, bool), val, True, 1.0,
                                interval=interval)
        crit = t["crit"][inference.ALPHA]
    p_holm = float(inference.holm([t["p"]])[0])
    v, _ = verdicts.decide(t["n"], t["mean"], p_holm, float("nan"), 0, 0, float("nan"), None)
    return v, t["std"], crit
