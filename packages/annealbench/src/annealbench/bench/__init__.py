"""``annealbench bench``: speed and memory ratios against baselines measured in the same run
(main), the engine's and whole-study measures (engine, study), the history file (output)."""
