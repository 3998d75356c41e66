"""The alerts a night raises against the nights before it, and ``alerts.md``.

Three rules (declared for users in ci/README.md):

- **verdict change**: a verdict row (study, optimizer, protocol, claim, schedule) whose verdict
  differs from the same row on the latest earlier night that has it at the same budget; both
  nights' Δ and 95% intervals are given.
- **throughput drop**: a throughput series (a study's per-run throughput, a bench measure's
  repetitions) judged slower than its rolling window of earlier nights on the same GPU by
  annealbench_report.nightly.slowdown (asv's rule: a factor of 1.1 and a one-sided Mann-Whitney
  U test at p < 0.002).
- **failed night**: a night whose status is failed, with each failure.
"""

from __future__ import annotations

from dataclasses import dataclass

from annealbench_report.nightly import slowdown
from annealbench_report.nightly.night import VERDICT_KEYS

VERDICT_CHANGE, THROUGHPUT_DROP, FAILED_NIGHT = "verdict change", "throughput drop", "failed night"


@dataclass(frozen=True)
class Alert:
    rule: str
    text: str


def verdict_index(night: dict) -> dict[tuple, dict]:
    """{(study, optimizer, protocol, claim, schedule): verdict row} of a night."""
    return {(s, *(v[k] for k in VERDICT_KEYS)): v
            for s, part in (night.get("studies") or {}).items() for v in part.get("verdicts") or []}


def _effect(v: dict) -> str:
    d, lo, hi = v.get("delta"), v.get("lo"), v.get("hi")
    if d is None:
        return "Δ –"
    ci = f" [{lo:+.4g}, {hi:+.4g}]" if lo is not None and hi is not None else " (no interval)"
    return f"Δ {d:+.4g}{ci}, n = {v.get('n')}"


def verdict_changes(night: dict, earlier: list[dict]) -> list[tuple[tuple, str, dict, dict]]:
    """(key, earlier night's id, its row, tonight's row) for each row whose verdict changed since
    the latest earlier night that has that row."""
    budgets = {s: part.get("budget") for s, part in (night.get("studies") or {}).items()}
    last: dict[tuple, tuple[str, dict]] = {}
    for n in earlier:  # a study at another budget is another experiment, not an earlier night
        same = {s for s, part in (n.get("studies") or {}).items() if part.get("budget") == budgets.get(s)}
        for k, v in verdict_index(n).items():
            if k[0] in same:
                last[k] = (n["night"], v)
    out = []
    for k, v in verdict_index(night).items():
        if k in last and last[k][1]["verdict"] != v["verdict"]:
            out.append((k, last[k][0], last[k][1], v))
    return out


def throughput_series(night: dict) -> dict[str, list[float]]:
    """{series name: samples} of a night: each study's runs, each bench measure in items/s."""
    out = {f"{s} (per-run throughput)": part.get("throughput") or []
           for s, part in (night.get("studies") or {}).items()}
    for name, m in ((night.get("bench") or {}).get("measures") or {}).items():
        if str(m.get("unit") or "").endswith("/s"):
            out[f"bench {name} (candidate)"] = m.get("samples") or (
                [m["candidate"]] if m.get("candidate") is not None else [])
    return out


def gpu(night: dict) -> str:
    v = night.get("versions") or {}
    return str(v.get("gpu") or v.get("device_name") or (night.get("bench") or {}).get("device_name") or "")


def throughput_drops(night: dict, earlier: list[dict]) -> list[tuple[str, slowdown.Judgement]]:
    same_gpu = [n for n in earlier if gpu(n) == gpu(night)]
    out = []
    for name, samples in throughput_series(night).items():
        j = slowdown.judge(samples, [throughput_series(n).get(name) or [] for n in same_gpu])
        if j is not None and j.slower:
            out.append((name, j))
    return out


def alerts(night: dict, earlier: list[dict]) -> list[Alert]:
    """Every alert of ``night`` against ``earlier`` (oldest first)."""
    out = []
    if night.get("status") == "failed":
        out.append(Alert(FAILED_NIGHT, f"night {night['night']} failed: "
                         + "; ".join(night.get("failures") or ["(no reason recorded)"])))
    for k, was_night, was, now in verdict_changes(night, earlier):
        out.append(Alert(VERDICT_CHANGE, f"{' / '.join(k)}: {was['verdict']} → {now['verdict']} "
                         f"(night {was_night}: {_effect(was)}; tonight: {_effect(now)})"))
    for name, j in throughput_drops(night, earlier):
        out.append(Alert(THROUGHPUT_DROP, f"{name}: median {1 / j.ratio:.2f}× the window's "
                         f"({j.nights} earlier nights, {j.n_window} samples against {j.n_tonight}); "
                         f"one-sided Mann-Whitney U = {j.u:g}, p = {j.p:.2g} (alert when the window's "
                         f"median is over {slowdown.FACTOR}× tonight's and p < {slowdown.ALPHA})"))
    return out


def markdown(night: dict, found: list[Alert]) -> str:
    """``alerts.md``: a heading naming the night and its status, then the alerts by rule."""
    lines = [f"# annealbench nightly {night['night']}: {night['status']}", "",
             f"Commit {str(night.get('git_commit') or '')[:12]}; {len(found)} alert"
             f"{'s' * (len(found) != 1)}.", ""]
    for rule in (FAILED_NIGHT, VERDICT_CHANGE, THROUGHPUT_DROP):
        mine = [a for a in found if a.rule == rule]
        if mine:
            lines += [f"## {rule}", "", *[f"- {a.text}" for a in mine], ""]
    return "\n".join(lines)
