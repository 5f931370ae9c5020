"""The paper mode reproduces the reference implementation's published numbers on the real data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from taskladder.analysis.paper import VARIANCE_TASKS, paper_spec
from taskladder.analysis.variance import variance_table
from taskladder.ladder import load_ladder
from taskladder.predict import paper_selection, predict_ladder
from taskladder.tasks import get_tasks


@pytest.fixture(scope="module")
def ladder(olmo_data):
    return load_ladder(paper_spec(olmo_data))


@pytest.fixture(scope="module")
def paper_bpb(ladder):
    return predict_ladder(ladder, mode="paper", selection=paper_selection("two-step"))


@pytest.fixture(scope="module")
def reference(olmo_data):
    def read(name):
        return pd.read_csv(olmo_data / "reference-results" / f"{name}.csv").set_index("Task")
    return read


def _ours(predictions, laws, target):
    frame = predictions[predictions["target"] == target].copy()
    frame["Task"] = [laws[t].task.reference_name for t in frame["task"]]
    return frame.set_index("Task")


@pytest.mark.parametrize("target", ["7B-4T", "13B-5T"])
def test_chained_predictions_match_reference(paper_bpb, reference, target):
    ref = reference(f"chained_{target}")
    ours = _ours(paper_bpb.predictions, paper_bpb.laws, target).loc[ref.index]
    # Within 0.1 accuracy points for every task (observed: < 1e-6).
    np.testing.assert_allclose(ours["acc_pred"], ref["Pred"], atol=1e-3, rtol=0)
    np.testing.assert_allclose(ours["acc_actual"], ref["Actual"], atol=1e-9, rtol=0)
    assert 100 * ours["abs_error"].mean() == pytest.approx({"7B-4T": 3.82, "13B-5T": 4.17}[target], abs=0.005)


def test_step1_and_step2_match_reference(paper_bpb, reference):
    ours = _ours(paper_bpb.predictions, paper_bpb.laws, "13B-5T")
    step1, step2 = reference("step1_main"), reference("step2_main")
    ours1 = ours.loc[step1.index]
    np.testing.assert_allclose(ours1["task_loss_pred"], step1["Pred"], rtol=2e-3)
    np.testing.assert_allclose(ours1["task_loss_actual"], step1["Actual"], rtol=1e-9)
    np.testing.assert_allclose(ours.loc[step2.index, "acc_from_actual_loss"], step2["Pred"], rtol=2e-3)


def test_c4_tables_match_reference(ladder, reference):
    res = predict_ladder(ladder, variant="two-step-c4", mode="paper", selection=paper_selection("two-step-c4"),
                         targets=[ladder.runs["13B-5T"]])
    ours = _ours(res.predictions, res.laws, "13B-5T")
    step1, step2 = reference("step1_c4_main"), reference("step2_c4_main")
    np.testing.assert_allclose(ours.loc[step1.index, "task_loss_pred"], step1["Pred"], rtol=2e-3)
    np.testing.assert_allclose(ours.loc[step2.index, "acc_from_actual_loss"], step2["Pred"], rtol=2e-3)


def test_taskce_tables_match_reference(ladder, reference):
    res = predict_ladder(ladder, variant="two-step-taskce", mode="paper",
                         selection=paper_selection("two-step-taskce"), targets=[ladder.runs["13B-5T"]])
    ours = _ours(res.predictions, res.laws, "13B-5T")
    step1, step2 = reference("step1_taskce_main"), reference("step2_taskce_main")
    np.testing.assert_allclose(ours.loc[step1.index, "task_loss_pred"], step1["Pred"], rtol=2e-3)
    # The TaskCE log-sigmoid objective is flat: floating-point details move its optimum by up to 0.8 %.
    np.testing.assert_allclose(ours.loc[step2.index, "acc_from_actual_loss"], step2["Pred"], rtol=1e-2)


def test_paper_mode_reports_line_search_failures(paper_bpb):
    status = paper_bpb.predictions.set_index(["target", "task"])["step1_status"]
    assert status[("7B-4T", "hellaswag")] == "line search failed"
    assert status[("7B-4T", "mmlu")] == "converged"


@pytest.mark.parametrize("variant", ["two-step", "ensemble", "loss-to-loss"])
def test_default_mode_converges_on_every_task(ladder, variant):
    res = predict_ladder(ladder, mode="default", variant=variant)
    assert res.predictions["acc_pred"].notna().all()
    for law in res.laws.values():
        for member in getattr(law, "members_", [law]):
            assert member.step1_.converged and member.step2_.converged
            assert getattr(member, "transfer_", member.step1_).converged
    mae = res.predictions.groupby("target")["abs_error"].mean()
    # two-step: 3.92 / 4.31 points (paper mode: 3.82 / 4.17); ensemble: 2.43 / 2.28; loss-to-loss: 1.73 / 2.38
    # (its C4 law fitted with the Huber loss; 1.72 / 2.11 by least squares). The loss-to-loss bound is
    # the aim of 2.5 points per target.
    bound = {"two-step": 0.045, "ensemble": 0.025, "loss-to-loss": 0.025}[variant]
    assert (mae < bound).all()


def test_variance_matches_reference(ladder, olmo_data):
    table = variance_table(ladder.runs["1.3B-10xC"], get_tasks(list(VARIANCE_TASKS)), last_n=10)
    ref = pd.read_csv(olmo_data / "reference-results" / "variance.csv").set_index("Task")
    ours = table.set_index("name")
    names = {"CommonsenseQA": "CommonsenseQA", "WinoGrande": "Winogrande"}
    ours.index = [names.get(n, n) for n in ours.index]
    ours = ours.loc[ref.index]
    np.testing.assert_allclose(ours["loss_sd"], ref["Loss SD"], rtol=1e-6)
    np.testing.assert_allclose(ours["loss_cv"], ref["Loss Rel SD (CV)"], rtol=1e-6)
    np.testing.assert_allclose(ours["acc_sd"], ref["Accuracy SD"], rtol=1e-6)
    np.testing.assert_allclose(ours["acc_cv"], ref["Accuracy Rel SD (CV)"], rtol=1e-6)


def test_spec_file_matches_paper_spec(olmo_data):
    from pathlib import Path

    from taskladder.io.spec import load_spec

    shipped = load_spec(Path(__file__).resolve().parents[1] / "specs" / "olmo-paper.toml")
    built = paper_spec(olmo_data)
    assert [(r.role, r.n_params, r.tokens) for r in shipped.runs] == [(r.role, r.n_params, r.tokens) for r in built.runs]
    assert [r.file.resolve() for r in shipped.runs] == [r.file.resolve() for r in built.runs]


def test_default_fits_reach_the_same_optimum_from_every_grid_start(ladder):
    """Fit instability (the spread across optimizer starts) is negligible in default mode, so the
    intervals need no term for it: every grid start ends at the same prediction, within 1e-6."""
    from taskladder.fit.forms import power_law_nd, sigmoid
    from taskladder.fit.optimize import fit_least_squares
    from taskladder.fit.selection import Selection, step1_arrays, step2_arrays
    from taskladder.fit.starts import power_law_nd_starts, sigmoid_starts

    target = ladder.runs["7B-4T"]
    inf = np.inf
    for task in get_tasks(None):
        for feature in ("bpb", "c4"):
            s1 = step1_arrays(ladder, task, feature, Selection())
            X, y = s1.matrix("n_params", "tokens"), s1["y"]
            losses = [fit_least_squares(power_law_nd, X, y, [start], ([-inf, -inf, 0, 0, 0], [inf, inf, 5, 5, inf]),
                                        residual="log").predict(np.array([[target.n_params, target.final_tokens]]))[0]
                      for start in power_law_nd_starts(X[:, 0], X[:, 1], y)]
            assert len(losses) == 2 and np.ptp(losses) < 1e-6 * losses[0]
            s2 = step2_arrays(ladder, task, feature, Selection())
            accs = [fit_least_squares(sigmoid, s2["x"].reshape(-1, 1), s2["y"], [start],
                                      ([-1, 0, 0, 0], [0, inf, inf, 1]), fixed={"b": 1.0}).predict(np.array([[losses[0]]]))[0]
                    for start in sigmoid_starts(s2["x"], s2["y"], top=1.0)]
            assert len(accs) == 2 and np.ptp(accs) < 1e-6
