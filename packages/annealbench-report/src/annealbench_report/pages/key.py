"""The key to every table of verdicts: what Δ's sign means in each unit, Holm p, MDE, the regime,
"at a plateau" and the verdict words. One source, three renderings: the study page and the index
(``context``, through the ``render_key`` macro) and ``summary.md`` (``markdown``), which the
project README quotes, so a reader meets the same words under every table."""

from __future__ import annotations

from dataclasses import dataclass

from annealbench_report.analysis import verdicts as V
from annealbench_report.analysis.study import Analysis
from annealbench_report.pages.labels import VERDICT_CLASS, VERDICT_MARK
from annealbench_report.records.frames import direction


@dataclass(frozen=True)
class Scale:
    """How one study's Δ is written: its unit, the metric it measures and which way is better."""

    unit: str
    metric: str
    higher_is_better: bool

    def sign_text(self) -> str:
        better = "higher" if self.higher_is_better else "lower"
        what = self.metric if self.unit == self.metric else f"{self.metric}, in {self.unit}"
        return f"{what}: {better} is better, so Δ > 0 means the schedule's {self.metric} is {better}"


def scale_of(a: Analysis) -> Scale:
    return Scale(a.units.unit, a.primary, direction(a.primary, a.directions) == "max")


def scales(analyses) -> list[Scale]:
    """The distinct scales of some analyses, in their order."""
    return list(dict.fromkeys(scale_of(a) for a in analyses))


# a short reading of each verdict word; the full rule is under each study's verdict table
VERDICT_TEXT = {
    V.REPRODUCED: "the schedule is better: Holm p < 0.05, by at least the smallest effect of interest "
                  "(where the study declares one)",
    V.REPRODUCED_SMALL: "better, Holm p < 0.05, but by less than the smallest effect of interest",
    V.REVERSED: "the fixed LR is better: Holm p < 0.05, by at least the smallest effect of interest",
    V.REVERSED_SMALL: "the fixed LR is better, Holm p < 0.05, by less than the smallest effect of interest",
    V.NO_DIFFERENCE: "the 90% interval of Δ lies inside ± the smallest effect of interest",
    V.INCONCLUSIVE: "none of these: the seeds cannot tell",
    V.UNSTABLE: "the schedule diverged in some seed where the fixed LR did not",
}


def terms(scale_list: list[Scale]) -> list[tuple[str, str]]:
    """(term, meaning) pairs, in reading order."""
    signs = "; ".join(s.sign_text() for s in scale_list)
    return [
        ("Δ", "the schedule against the fixed LR, mean over paired seeds (same initial weights, same "
              "data order), signed so that Δ > 0 always means the schedule is better"
              + (f" ({signs})" if signs else "") + "; in brackets its 95% t-interval"),
        ("Holm p", "the paired test's p-value, adjusted (Holm) for the schedules compared in the same "
                   "claim, so that all of them together keep a 5% chance of a false verdict"),
        ("MDE", "minimum detectable effect: the smallest true Δ these seeds detect 80% of the time; "
                "an inconclusive row cannot rule out an effect smaller than it"),
        ("regime", "how fast the fixed LR was still gaining in the last quarter of the full-length "
                   "run (per epoch, validation metric, 95% interval over seeds), then its test "
                   "level"),
        ("at a plateau", "that interval's upper end is at most the threshold the study declared "
                         "before its runs; otherwise the models were still improving and the "
                         "comparison is a short-budget one"),
    ]


def verdicts() -> list[dict]:
    """One entry per verdict word, in verdict order: CSS class, mark, word, meaning."""
    return [{"cls": VERDICT_CLASS[v], "mark": VERDICT_MARK[v], "word": v, "text": VERDICT_TEXT[v]}
            for v in V.VERDICTS]


def context(scale_list: list[Scale]) -> dict:
    """What the ``render_key`` macro needs."""
    return {"terms": terms(scale_list), "verdicts": verdicts()}


def markdown(scale_list: list[Scale]) -> str:
    """The key as Markdown, for under ``summary.md``'s table."""
    lines = [f"- **{t}**: {text}." for t, text in terms(scale_list)]
    lines += ["- **verdicts**: " + "; ".join(f"**{v['word']}**: {v['text']}" for v in verdicts()) + "."]
    return "\nKey:\n\n" + "\n".join(lines) + "\n"
