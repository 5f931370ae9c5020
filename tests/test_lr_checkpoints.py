"""Step 1 on every checkpoint with a learning-rate correction (step1_form="nd_lr", the -lr variants)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from synthetic import STEP1, TARGET, step1_loss, write_synthetic_ladder
from taskladder.cli import main
from taskladder.errors import DataError
from taskladder.fit.laws import LossToLossLaw, TwoStepLaw
from taskladder.ladder import load_ladder
from taskladder.predict import predict_ladder
from taskladder.tasks import get_task

HELLASWAG = get_task("hellaswag")
C = 0.08  # the learning-rate effect of the synthetic truth


@pytest.fixture(scope="module")
def long_runs_only(tmp_path_factory):
    """One run per size, at 10 × C: its checkpoints are the only information about D."""
    return load_ladder(write_synthetic_ladder(tmp_path_factory.mktemp("lr"), multiples=(10,), lr_effect=C,
                                              n_checkpoints=40))


def test_every_checkpoint_with_the_lr_correction_recovers_the_law_from_long_runs_only(long_runs_only):
    law = TwoStepLaw(task=HELLASWAG, step1_form="nd_lr").fit(long_runs_only)
    assert law.step1_.converged
    fitted = law.step1_.named_params
    assert fitted["alpha"] == pytest.approx(STEP1["alpha"], rel=1e-3)
    assert fitted["beta"] == pytest.approx(STEP1["beta"], rel=1e-3)
    assert fitted["E"] == pytest.approx(STEP1["E"], rel=1e-3)
    assert fitted["c"] == pytest.approx(C, rel=1e-3)
    assert len(law.step1_points_) > len(long_runs_only.train_runs)  # every checkpoint after the first 10 %
    # At the end of a run (u = 0) it is the (N, D) law: the target's loss is the truth's.
    predicted = law.predict_task_loss([TARGET["n_params"]], [TARGET["tokens"]])[0]
    assert predicted == pytest.approx(step1_loss(TARGET["n_params"], TARGET["tokens"]), rel=1e-3)


def test_without_the_correction_the_same_checkpoints_mislead(long_runs_only):
    """Four runs cannot carry the 5-parameter law on their ends alone, and the same law fitted on
    every checkpoint without the correction lands off the truth."""
    with pytest.raises(DataError, match="4 train run"):
        TwoStepLaw(task=HELLASWAG).fit(long_runs_only)
    from taskladder.fit.laws import fit_step1
    from taskladder.fit.selection import Selection, step1_checkpoint_arrays

    points = step1_checkpoint_arrays(long_runs_only, HELLASWAG, "bpb", Selection())
    plain = fit_step1(points, form="nd")
    truth = step1_loss(TARGET["n_params"], TARGET["tokens"])
    predicted = plain.predict(np.array([[TARGET["n_params"], TARGET["tokens"]]]))[0]
    assert abs(predicted / truth - 1) > 0.01


def test_loss_to_loss_lr_predicts_with_intervals(long_runs_only):
    result = predict_ladder(long_runs_only, tasks=["hellaswag"], variant="loss-to-loss-lr", intervals=True,
                            n_bootstrap=50, reliability=True)
    row = result.predictions.iloc[0]
    law = result.laws["hellaswag"]
    assert isinstance(law, LossToLossLaw) and law.step1_.form.name == "power_law_nd_lr"
    assert row["acc_lo"] <= row["acc_pred"] <= row["acc_hi"]
    assert abs(row["acc_pred"] - row["acc_actual"]) < 0.005
    assert row["task_loss_lo"] <= row["task_loss_pred"] <= row["task_loss_hi"]
    assert row["reliability"] in ("reliable", "noisy", "unreliable")


def test_a_ladder_without_learning_rates_says_which_file_and_column(tmp_path, capsys):
    spec = write_synthetic_ladder(tmp_path, multiples=(1, 10))
    first = sorted((tmp_path / "runs").glob("*M-*.csv"))[0]
    frame = pd.read_csv(first)
    frame.drop(columns=["optim/learning_rate_group0"]).to_csv(first, index=False)
    assert main(["predict", str(spec), "--tasks", "hellaswag", "--variant", "two-step-lr", "--no-intervals"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and first.name in err and "optim/learning_rate_group0" in err
    assert "learning rate" in err


def test_figures_and_residuals_see_each_checkpoint_carried_to_its_runs_end(long_runs_only):
    """step1_data_ divides each checkpoint's loss by 1 + c u, so on a noise-free ladder every point
    sits on the law at u = 0 (residual 0), and the measured loss is kept beside it."""
    from taskladder.report.task_figures import step1_residuals

    for law in (TwoStepLaw(task=HELLASWAG, step1_form="nd_lr").fit(long_runs_only),
                LossToLossLaw(task=HELLASWAG, step1_form="nd_lr").fit(long_runs_only)):
        data = law.step1_data_
        assert (data["y_measured"] > data["y"]).mean() > 0.8  # the learning rate was still above its end
        assert np.abs(step1_residuals(law)["rel_residual"]).max() < 1e-3
