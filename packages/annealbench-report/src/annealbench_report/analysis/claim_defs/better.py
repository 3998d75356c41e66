"""The article's first claim: the annealed schedule ends better than the fixed LR, judged at the
full length."""

from __future__ import annotations

from annealbench_report.analysis.claim_defs import Claim, register


def _decided(r, u, c, up: bool) -> str:
    size = r["mean"] if up else -r["mean"]
    lo, hi = (r["lo"], r["hi"]) if up else (-r["hi"], -r["lo"])
    amount = f"{u.effect(size)} {u.interval(lo, hi)}"
    return (f"{r['schedule']} beats the fixed LR by {amount}" if up
            else f"{r['schedule']} loses to the fixed LR by {amount}") + f" ({r['verdict']})"


BETTER = register(Claim(
    name="better",
    label="better final result",
    short="better result",
    summary_label="better final result",
    rule=("at the full length E, per seed Δ = sign·(test metric of the schedule − test metric "
          "of the fixed LR), the sign chosen so that Δ > 0 means the schedule is better."),
    title_suffix=" (at {full} epochs)",
    measured="test {primary} at {full} epochs",
    lengths=lambda lengths: list(lengths[-1:]),
    where=lambda full, _: f"at {full} epochs",
    decided=_decided,
    at_full=True,
))
