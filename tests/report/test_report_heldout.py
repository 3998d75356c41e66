"""Per-example held-out outcomes in the report: gathered beside the records, kept by the
thinning, read into the exact sign-flip and two-way columns of every verdict row."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from annealbench_report import thin
from annealbench_report.analysis import inference, study
from annealbench_report.pages import verdicts_csv
from annealbench_report.records import collect, contract
from annealbench_report.records import heldout as records_heldout

N_TEST, N_VAL = 300, 200


def _write_outcomes(synth, with_outcomes=lambda key: True):
    """Each completed run's outcomes at its test epochs, the format annealbench.store writes:
    ``SPLIT.NAME.EPOCH``, correct as bits with its count."""
    rng = np.random.default_rng(0)
    hard = {"test": rng.random(N_TEST), "val": rng.random(N_VAL)}  # shared by every run
    for key, run in synth.runs.items():
        cfg = run["config"]
        if run["status"] != "completed" or not with_outcomes(key):
            continue
        arrays = {}
        for e in cfg["test_epochs"]:
            rows = pd.read_csv(synth.dir / "runs" / key / "epochs" / f"{e:05d}.csv")
            for split in ("test", "val"):
                acc = float(rows.loc[(rows["split"] == split) & (rows["metric"] == "accuracy"),
                                     "value"].iloc[0])
                correct = hard[split] < acc
                arrays[f"{split}.correct.{e:05d}"] = np.packbits(correct)
                arrays[f"{split}.n.{e:05d}"] = np.array([len(correct)])
                arrays[f"{split}.loss.{e:05d}"] = (1 - correct + rng.random(len(correct))).astype(
                    np.float16)
        np.savez_compressed(synth.dir / "runs" / key / "heldout.npz", **arrays)


def test_outcomes_are_gathered_thinned_to_the_primary_metric_and_read(synth):
    _write_outcomes(synth)
    df = collect.write_records(synth.dir)
    path = synth.dir / records_heldout.NAME
    got = records_heldout.Outcomes.read(synth.dir)
    key = next(k for k, r in synth.runs.items() if r["status"] == "completed")
    e = synth.runs[key]["config"]["epochs"]
    assert got.metric(key, "test", "accuracy", e).shape == (N_TEST,)
    assert got.metric(key, "val", "loss", e).shape == (N_VAL,)
    assert got.metric(key, "test", "ppl", e) is None
    assert got.metric("nope", "test", "accuracy", e) is None
    full = study.analyse(synth.dir, df).claims.rows
    before = path.stat().st_size
    assert thin.main([str(synth.dir)]) == 0
    # an accuracy study keeps the bits, drops the float16 losses, and reads the same
    thinned = records_heldout.Outcomes.read(synth.dir)
    assert {k.rsplit(".", 2)[1] for k in thinned.arrays} == {"correct", "n"}
    assert path.stat().st_size < before / 2
    assert thinned.metric(key, "val", "loss", e) is None
    a = study.analyse(synth.dir, contract.read_records(synth.dir / "records.parquet"))
    rows = a.claims.rows
    pd.testing.assert_frame_equal(rows, full)
    decided = rows[rows["n_examples"] > 0]
    assert len(decided) and (decided["n_examples"] == N_TEST).all()
    assert (decided["lo_2way"] <= decided["delta_2way"]).all()
    assert (decided["delta_2way"] <= decided["hi_2way"]).all()
    assert decided["delta_other"].notna().all()
    for _, fam in rows.groupby(["optimizer", "protocol", "claim"]):
        assert np.allclose(inference.holm(fam["p_2way"]), fam["p_2way_holm"], equal_nan=True)
        assert np.allclose(inference.holm(fam["p_exact"]), fam["p_exact_holm"], equal_nan=True)
    csv = verdicts_csv.frame(a)
    assert list(csv.columns) == verdicts_csv.COLUMNS
    assert (csv["judged_on"] == "test").all()


def test_a_study_without_outcomes_has_no_two_way_interval(synth):
    df = collect.write_records(synth.dir)
    assert not (synth.dir / records_heldout.NAME).exists()
    rows = study.analyse(synth.dir, df).claims.rows
    assert (rows["n_examples"] == 0).all() and rows["lo_2way"].isna().all()
    assert (rows["verdict_2way"] == "").all() and not rows["verdicts_differ"].any()
    assert rows["p_exact"].notna().any()


def test_judged_on_is_validated(synth):
    df = collect.write_records(synth.dir)
    s = json.loads((synth.dir / "study.json").read_text())
    (synth.dir / "study.json").write_text(json.dumps({**s, "judged_on": "train"}))
    with pytest.raises(Exception, match="judged_on must be one of test, val, not 'train'"):
        study.analyse(synth.dir, df)


def test_six_positive_seeds_give_the_exact_p_of_the_audit():
    d = np.array([0.01, 0.03, 0.02, 0.015, 0.04, 0.005])
    assert inference.sign_flip_p(d) == pytest.approx(2 / 64)
    assert inference.holm([2 / 64, 2 / 64]) == pytest.approx([0.0625, 0.0625])
    rng = np.random.default_rng(4)
    for n in (5, 9, 12):
        x = rng.normal(0.3, 1, n)
        ref = sps.permutation_test((x,), lambda v, axis=-1: np.abs(np.mean(v, axis=axis)),
                                   permutation_type="samples", alternative="greater",
                                   n_resamples=np.inf, vectorized=True)
        assert inference.sign_flip_p(x) == pytest.approx(ref.pvalue, rel=1e-12)


def test_an_averaging_arms_outcomes_are_read_under_its_own_run_key(tmp_path):
    """The host run's file keeps an averaging arm's outcomes as ``ARM+SPLIT.NAME.EPOCH``; the
    records name that arm's run ``HOST+ARM``, and the study file keys it so."""
    run = tmp_path / "runs" / "abc"
    run.mkdir(parents=True)
    own, ema = np.full(4, 1.0, np.float16), np.full(4, 2.0, np.float16)
    np.savez_compressed(run / "heldout.npz", **{"test.loss.00003": own,
                                                "constant-ema+test.loss.00003": ema})
    assert records_heldout.write(tmp_path, ["abc"]) is not None
    got = records_heldout.Outcomes.read(tmp_path)
    assert set(got.arrays) == {"abc/test.loss.00003", "abc+constant-ema/test.loss.00003"}
    assert got.metric("abc", "test", "loss", 3).tolist() == [1.0] * 4
    assert got.metric("abc+constant-ema", "test", "loss", 3).tolist() == [2.0] * 4
