"""Analysis: the statistics on the records. One study's analysis (study) assembles the protocols
and base-LR selection (protocol, tuning, selection_test), the paired tests and verdicts
(inference, pairs, claims, verdicts), budget curves (curve), time to target (targets), the
training regime (regime), descriptive statistics (descriptive), display units (units), and a
study against its published answer (reproduction, claim_agreement).
Imports only records/."""
