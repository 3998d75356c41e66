"""Arms: the protocols a study compares. An arm is a [schedules.NAME] table: a schedule (type,
kwargs, interval) the grid crosses with every optimizer setting, base LR, seed and length.

The fixed LR, every other arm's comparison, is one declared arm (:func:`baseline`), so no code
compares a schedule's type with the fixed LR's own elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass

FIXED_TYPE = "constant"  # the registered schedule type of the fixed LR


@dataclass(frozen=True)
class Arm:
    name: str
    type: str
    kwargs: dict
    interval: str

    @property
    def length_independent(self) -> bool:
        """Whether the arm's LR at an epoch does not depend on the run's length: one full-length
        run holds every shorter run's measurements."""
        return self.type == FIXED_TYPE

    def plain(self) -> dict:
        """What makes the arm's runs (study.json, the tuning file's runs_sha256)."""
        return {"type": self.type, "kwargs": self.kwargs, "interval": self.interval}


# The name the rest of spec/ knew the arm by.
ScheduleArm = Arm
