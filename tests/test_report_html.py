"""The HTML report: its sections, cards and figures, the numbers it shows, and how it degrades
when the predictions carry no intervals or reliability verdict. (The browser test is
tests/test_report_browser.py.)"""

from __future__ import annotations

import base64
import json
import struct
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from synthetic import write_synthetic_ladder
from taskladder.cli import main
from taskladder.fit.selection import Selection
from taskladder.io.spec import load_spec, parse_target
from taskladder.ladder import load_ladder
from taskladder.predict import predict_ladder
from taskladder.report.html import build_report
from taskladder.report.task_figures import FigureContext, chained_panel, step1_panel, step1_residuals, step2_residuals

REPO = Path(__file__).resolve().parents[1]


class _Page(HTMLParser):
    """Collect what the checks need: section ids, task cards, images, external references, headers."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: list[str] = []
        self.cards: list[str] = []
        self.images: list[dict] = []
        self.urls: list[str] = []
        self.tags: set[str] = set()
        self.headers: list[str] = []
        self._in_th = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.add(tag)
        if tag == "section" and "section" in (attrs.get("class") or "").split():
            self.sections.append(attrs["id"])
        if tag == "section" and "data-task" in attrs:
            self.cards.append(attrs["data-task"])
        if tag == "img":
            self.images.append(attrs)
        for key in ("src", "href"):
            if key in attrs and not attrs[key].startswith(("#", "data:")):
                self.urls.append(attrs[key])
        self._in_th = tag == "th"

    def handle_data(self, data):
        if self._in_th and data.strip():
            self.headers.append(data.strip())

    def handle_endtag(self, tag):
        if tag == "th":
            self._in_th = False


def _parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    spec = write_synthetic_ladder(tmp_path_factory.mktemp("ladder"), noise=0.01, tasks=("hellaswag", "piqa"))
    ladder = load_ladder(spec)
    result = predict_ladder(ladder, tasks=["hellaswag", "piqa"], variant="ensemble", intervals=True, n_bootstrap=40,
                            reliability=True)
    return ladder, result


@pytest.fixture(scope="module")
def synthetic_html(synthetic):
    ladder, result = synthetic
    return build_report(ladder, result=result)


def test_sections_cards_and_embedded_figures(synthetic, synthetic_html):
    ladder, result = synthetic
    page = _parse(synthetic_html)
    assert page.sections == ["summary", "ladder", "tasks", "backtest", "diagnostics", "provenance"]
    assert page.cards == ["hellaswag", "piqa"]
    assert page.urls == [] and not page.tags & {"script", "link", "iframe"}   # nothing from the network
    # per card: chained and targets-up-close of the ensemble, step 1 and step 2 of each of its two
    # members; plus the overview and one residual figure per member and task
    assert len(page.images) == 1 + 2 * 6 + 2 * 2
    for img in page.images:
        assert img["src"].startswith("data:image/png;base64,")
        png = base64.b64decode(img["src"].split(",", 1)[1])
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        assert struct.unpack(">II", png[16:24]) == (int(img["width"]), int(img["height"]))
        assert img["alt"]
    for header in ("Interval", "Reliability", "Actual", "Fit status", "N (params)", "D (tokens)", "Compute (FLOPs)"):
        assert header in page.headers


def test_numbers_shown_are_the_predictions(synthetic, synthetic_html):
    ladder, result = synthetic
    for _, p in result.predictions.iterrows():
        assert f"<b>{100 * p['acc_pred']:.1f}%</b>" in synthetic_html
        assert f"{100 * p['acc_lo']:.1f}% – {100 * p['acc_hi']:.1f}%" in synthetic_html
        assert f"{100 * p['acc_actual']:.1f}%" in synthetic_html
        assert f">{p['reliability']}<" in synthetic_html
    # Ladder cost: no FLOPs per token in this spec, so compute is 6 N D; share of the target's, in %.
    train = sum(6.0 * r.n_params * r.final_tokens for r in ladder.train_runs)
    target = ladder.targets[0]
    assert f"<b>{100 * train / (6.0 * target.n_params * target.final_tokens):.2f}</b>" in synthetic_html
    assert "≈ 6ND" in synthetic_html or "(≈ 6ND)" in synthetic_html
    known = result.predictions["abs_error"]
    assert f"{100 * known.mean():.2f}<span class=kpi-unit> points</span>" in synthetic_html


def test_provenance_holds_version_settings_and_checksums(synthetic, synthetic_html):
    import hashlib

    from taskladder import __version__

    ladder, _ = synthetic
    assert f"taskladder {__version__}" in synthetic_html
    first = next(iter(ladder.runs.values()))
    digest = hashlib.sha256(Path(first.spec.file).read_bytes()).hexdigest()
    assert digest[:16] in synthetic_html and digest in synthetic_html    # table (short) and JSON (full)
    assert "moving_avg = 5, skip_fraction = 0.1" in synthetic_html


def test_without_intervals_or_backtest_the_report_leaves_them_out(synthetic):
    ladder, _ = synthetic
    result = predict_ladder(ladder, tasks=["hellaswag"], variant="two-step", intervals=False, reliability=False)
    assert "acc_lo" not in result.predictions
    html = build_report(ladder, result=result, backtest=False)
    page = _parse(html)
    assert "Interval" not in page.headers and "Reliability" not in page.headers
    assert "backtest" not in page.sections
    assert page.cards == ["hellaswag"]
    assert len(page.images) == 1 + 4 + 1          # overview, four figures, residuals


def test_one_fit_variant_and_a_target_without_data(tmp_path):
    spec = load_spec(write_synthetic_ladder(tmp_path, tasks=("piqa",), target=None))
    ladder = load_ladder(spec.with_targets([parse_target("big:7000000000:4T")]))
    html = build_report(ladder, tasks=["piqa"], variant="single-step", intervals=False, reliability=False,
                        backtest=False)
    page = _parse(html)
    assert page.cards == ["piqa"]
    assert "no actual to compare" in html
    assert "One fit" in html and "Acc(N, D) = " in html and "sigmoid(" in html


def test_residuals_and_figure_data_match_the_fits(tmp_path):
    ladder = load_ladder(write_synthetic_ladder(tmp_path, noise=0.0, tasks=("hellaswag",)))
    # No smoothing (a moving average of a curved sigmoid is not on the sigmoid).
    result = predict_ladder(ladder, tasks=["hellaswag"], variant="ensemble",
                            selection=Selection(moving_avg=1, skip_fraction=0.1))
    law = result.laws["hellaswag"]
    for member in law.members_:
        # Noise-free data from the fitted forms: every residual vanishes.
        assert np.max(np.abs(step1_residuals(member)["rel_residual"])) < 1e-5
        assert np.max(np.abs(step2_residuals(member)["residual"])) < 1e-4
    ctx = FigureContext.build(ladder, result.predictions)
    step1 = step1_panel(law.members_[0], ctx).data
    train = step1[step1["series"] == "train run"]
    np.testing.assert_allclose(train["value"], law.members_[0].step1_data_["y"])
    chained = chained_panel(law, ctx).data
    fit = chained[(chained["series"] == "fit") & (chained["n_params"] == 7e9)].iloc[60]
    by_hand = np.mean([m.predict_accuracy(m.predict_task_loss(7e9, fit["tokens"]))[0] for m in law.members_])
    assert fit["accuracy"] == pytest.approx(by_hand, rel=1e-12)
    predicted = chained[chained["series"] == "target-7B predicted"]["accuracy"].iloc[0]
    assert predicted == pytest.approx(result.predictions["acc_pred"].iloc[0])


@pytest.mark.shared_data
def test_report_on_the_paper_spec(olmo_data):
    from taskladder.sizes import get_size

    ladder = load_ladder(REPO / "specs" / "olmo-paper.toml")
    result = predict_ladder(ladder, tasks=["arc_easy"], mode="paper")
    html = build_report(ladder, result=result, backtest=False)
    page = _parse(html)
    assert page.cards == ["arc_easy"]
    for _, p in result.predictions.iterrows():
        assert f"<b>{100 * p['acc_pred']:.1f}%</b>" in html
    # The paper's ladder costs 3.58 % of 7B-4T's compute and 1.53 % of 13B-5T's (FLOPs per token
    # from the architectures, D from each run's last row).
    train = sum(get_size(r.spec.size).flops_per_token * r.final_tokens for r in ladder.train_runs)
    for target, size in (("7B-4T", "7B"), ("13B-5T", "13B")):
        share = 100 * train / (get_size(size).flops_per_token * ladder.runs[target].final_tokens)
        assert f"<b>{share:.2f}</b>" in html
    assert round(100 * train / (get_size("7B").flops_per_token * 3945065873408), 2) == 3.58


def test_cli_writes_report_and_config_atomically(tmp_path, capsys):
    spec = write_synthetic_ladder(tmp_path, tasks=("piqa",))
    out = tmp_path / "out" / "r.html"
    assert main(["report", str(spec), "--tasks", "piqa", "--bootstrap", "20", "--no-backtest", "-o", str(out)]) == 0
    assert "wrote" in capsys.readouterr().err
    html = out.read_text()
    assert html.startswith("<!DOCTYPE html>") and _parse(html).cards == ["piqa"]
    config = json.loads((tmp_path / "out" / "r.config.json").read_text())
    assert config["variant"] == "loss-to-loss" and config["tasks"] == ["piqa"] and config["bootstrap"] == 20
    assert [p.name for p in (tmp_path / "out").iterdir() if p.name.startswith(".")] == []
    assert main(["report", str(spec), "-o", str(tmp_path / "r.txt")]) == 2
    assert "ending in .html" in capsys.readouterr().err


MICRO = REPO / "src" / "taskladder" / "data" / "micro"


@pytest.mark.skipif(not any(MICRO.glob("*.toml")) if MICRO.is_dir() else True,
                    reason=f"no embedded micro-ladder spec in {MICRO}")
def test_report_on_the_embedded_micro_ladder():

    # The micro-ladder has its own tasks and corpus loss (no C4 column): the two-step bpb law.
    ladder = load_ladder(MICRO / "ladder.toml")
    html = build_report(ladder, tasks=ladder.available_tasks(), variant="two-step", n_bootstrap=20)
    page = _parse(html)
    assert page.cards and len(page.images) > len(page.cards)


def test_each_size_has_one_colour_in_every_figure_and_in_the_legend(synthetic, synthetic_html):
    from matplotlib.colors import to_hex

    ladder, result = synthetic
    ctx = FigureContext.build(ladder, result.predictions)
    sizes = sorted({float(r.n_params) for r in ladder.runs.values()})
    assert sorted(ctx.colors) == sizes and len({to_hex(c) for c in ctx.colors.values()}) == len(sizes)
    for n in sizes:
        assert f"background:{to_hex(ctx.colors[n])}" in synthetic_html
    law = result.laws["hellaswag"]
    for panel in (step1_panel(law.members_[0], ctx), chained_panel(law, ctx)):
        ax = panel.figure.axes[0]
        drawn = {to_hex(line.get_color()) for line in ax.lines if line.get_linestyle() == "-"}
        assert drawn == {to_hex(ctx.colors[n]) for n in sizes}
        assert "tokens D" in ax.get_xlabel() and ("bits per byte" in ax.get_ylabel() or "%" in ax.get_ylabel())


def test_targets_panel_shows_prediction_interval_actual_and_each_member(synthetic):
    from taskladder.report.task_figures import targets_panel

    ladder, result = synthetic
    ctx = FigureContext.build(ladder, result.predictions)
    law = result.laws["piqa"]
    data = targets_panel(law, ctx).data
    p = result.predictions[result.predictions["task"] == "piqa"].iloc[0]
    assert data[data["series"] == "predicted"]["accuracy"].iloc[0] == p["acc_pred"]
    assert data[data["series"] == "actual"]["accuracy"].iloc[0] == p["acc_actual"]
    widest = data[data["series"] == "interval widest"].iloc[0]
    assert (widest["accuracy"], widest["accuracy_high"]) == (p["acc_lo"], p["acc_hi"])
    members = data[data["series"].str.startswith("member")]["accuracy"].to_numpy()
    # The ensemble's prediction is the mean of its members' predictions.
    assert len(members) == 2 and np.mean(members) == pytest.approx(p["acc_pred"], rel=1e-12)


def test_a_spec_without_target_still_reports_the_fits(tmp_path):
    ladder = load_ladder(write_synthetic_ladder(tmp_path, tasks=("piqa",), target=None))
    html = build_report(ladder, tasks=["piqa"], n_bootstrap=20, backtest=False)
    page = _parse(html)
    assert page.cards == ["piqa"] and "the spec has no target" in html.lower()
    assert "No target to predict." in html
    assert len(page.images) == 1 + 2 + 1      # chained; step 1 and 2 of the default law; its residuals


def test_loss_to_loss_card_shows_its_chained_steps_and_its_transfer_fit(synthetic):
    """The default law's card: chained, targets, step 1 (task bpb through C4) and step 2; the
    diagnostics list its C4 law, its transfer map and its step 2."""
    ladder, _ = synthetic
    result = predict_ladder(ladder, tasks=["piqa"], variant="loss-to-loss", intervals=True, n_bootstrap=30,
                            reliability=True)
    law = result.laws["piqa"]
    assert law.uses_c4_
    html = build_report(ladder, result=result, backtest=False)
    page = _parse(html)
    assert page.cards == ["piqa"]
    assert len(page.images) == 1 + 4 + 1          # overview, chained/targets/step 1/step 2, residuals
    assert "transfer<br>(C4 → bpb)" in html and "loss-to-loss map" in html
    ctx = FigureContext.build(ladder, result.predictions)
    train = step1_panel(law, ctx).data
    train = train[train["series"] == "train run"]
    np.testing.assert_allclose(train["value"], law.companion_.step1_data_["y"])   # each run's task bpb
    residuals = step1_residuals(law)
    np.testing.assert_allclose(residuals["fitted"], law.predict_task_loss(residuals["n_params"], residuals["tokens"]))


def test_an_interval_that_leaves_out_the_prediction_is_still_drawn(synthetic):
    """Bootstrap draws can be skewed, so a 50 % interval need not hold the point prediction."""
    from taskladder.report.task_figures import targets_panel

    ladder, result = synthetic
    predictions = result.predictions.copy()
    above = predictions["acc_pred"] + 0.01
    predictions["acc_lo_50"], predictions["acc_hi_50"] = above, above + 0.02
    ctx = FigureContext.build(ladder, predictions)
    data = targets_panel(result.laws["piqa"], ctx).data
    narrow = data[data["series"] == "interval 50"].iloc[0]
    p = predictions[predictions["task"] == "piqa"].iloc[0]
    assert (narrow["accuracy"], narrow["accuracy_high"]) == (p["acc_lo_50"], p["acc_hi_50"])


def test_step2_panel_shows_step_2s_own_interval_at_the_measured_loss(synthetic):
    from taskladder.report.task_figures import step2_panel

    ladder, result = synthetic
    ctx = FigureContext.build(ladder, result.predictions)
    p = result.predictions[result.predictions["task"] == "piqa"].iloc[0]
    bpb_member, c4_member = result.laws["piqa"].members_
    data = step2_panel(bpb_member, ctx).data
    (bar,) = data[data["series"].str.endswith("step-2 interval at measured loss")].itertuples()
    assert (bar.x, bar.accuracy, bar.accuracy_high) == (p["task_loss_actual"], p["acc_from_actual_loss_lo"],
                                                       p["acc_from_actual_loss_hi"])
    # the table's step-2 interval is the first member's: the C4 member's panel leaves it out
    data = step2_panel(c4_member, ctx).data
    assert not data["series"].str.endswith("step-2 interval at measured loss").any()


def test_backtest_section_shows_step2_extrapolated_as_far_as_the_targets_need(synthetic):
    """A law with a step 2 of its own gets the step-2 check (the ensemble above has none: no table)."""
    from taskladder.analysis.step2_extrapolation import step2_extrapolation_by_task, summarize_step2_extrapolation

    ladder, ensemble = synthetic
    assert "Step 2 extrapolated as far" not in build_report(ladder, result=ensemble)
    result = predict_ladder(ladder, tasks=["hellaswag"], variant="two-step", intervals=True, n_bootstrap=20,
                            reliability=True)
    html = build_report(ladder, result=result)
    summary = summarize_step2_extrapolation(step2_extrapolation_by_task(ladder, result=result)).iloc[0]
    assert summary["status"] == "ok" and summary["n_runs"] > 0
    assert "Step 2 extrapolated as far as the targets need" in html
    assert f"{summary['mean_error_points']:+.2f}" in html
    assert f"{round(summary['coverage'] * summary['n_runs'])} of {int(summary['n_runs'])}" in html
