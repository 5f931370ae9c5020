"""Are the default's intervals honest off the ladder? Nested backtests pooled over the real suites.

Suites: the OLMo ladder (``specs/olmo-paper.toml``, its tasks), the open_lm testbed's three
pretraining datasets (each dataset's runs below 1B, :mod:`taskladder.io.open_lm` split ``small``;
10 tasks and the 17-task average) and the micro-ladder shipped with the package. For each suite
and each holdout (the largest size, the largest token multiple, the top compute budget, and every run
above a twentieth of the top compute: as far out as targets lie), the default law of each task is
fitted on the remaining runs with ``predict_ladder(..., intervals=True, reliability=True)``,
exactly as ``taskladder predict`` does, and predicts the held-out runs. Everything a prediction
uses -- the law's choice, its interval terms (measured by nested backtests inside the fold's own
runs) and its verdict -- comes from the fold's runs alone; no target of any suite is read.

Printed per suite and pooled: predictions, MAE (points), the share of actuals inside the 50 % and
90 % intervals, with the interval terms and with the bootstrap alone, misses above 5 points and
how many of them were inside their interval or flagged unreliable; the same by distance beyond
the fold's runs, with step 1's and step 2's own intervals beside (:func:`by_distance`); the extrapolation model's
observed ``τ`` per suite (median over tasks) and its upper quartile over all tasks (the rule that
fixes ``PRIOR_TAU``); with
``--recipe`` the step-2 recipe-shift evidence (``RECIPE_SHIFT_SD``).

Usage: OPENBLAS_NUM_THREADS=1 python benchmarks/honesty.py [--bootstrap 200] [--suites olmo,rpj,...] [--recipe]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
OPEN_LM = ROOT.parent / "shared" / "data" / "mlfoundations-scaling" / "exp_data"
OLMO_SPEC = ROOT / "specs" / "olmo-paper.toml"
OPEN_LM_DATASETS = ("rpj", "c4_original", "rw_original")
OPEN_LM_TASKS = "mmlu,hellaswag,arc_challenge,arc_easy,piqa,csqa,socialiqa,openbookqa,boolq,winogrande,avg17"
SUITES = ("olmo", *OPEN_LM_DATASETS, "micro")
FOLDS = ("largest_size", "largest_multiple", "largest_compute", "far_compute")


def suite_ladder(name: str, tmp: Path):
    """The suite's ladder and its task names."""
    from taskladder.ladder import load_ladder

    if name == "olmo":
        ladder = load_ladder(OLMO_SPEC)
        return ladder, [t.name for t in ladder.available_tasks()]
    if name == "micro":
        from taskladder.commands.demo import embedded_spec

        ladder = load_ladder(embedded_spec())
        return ladder, [t.name for t in ladder.available_tasks()]
    from taskladder.io.open_lm import write_open_lm_ladder

    spec = write_open_lm_ladder(OPEN_LM, tmp / name, dataset=name, split="small")
    return load_ladder(spec), OPEN_LM_TASKS.split(",")


def fold_predictions(ladder, tasks, bootstrap: int) -> pd.DataFrame:
    """Each fold's default predictions of its held-out runs, with and without the interval terms."""
    from taskladder.fit.backtest import holdout_split
    from taskladder.predict import predict_ladder

    frames = []
    for fold in FOLDS:
        kept, held = holdout_split(ladder, fold)
        sub = ladder.subset(kept)
        options = dict(tasks=tasks, targets=held, intervals=True, n_bootstrap=bootstrap, levels=(0.5, 0.9))
        full = predict_ladder(sub, reliability=True, **options).predictions
        alone = predict_ladder(sub, interval_terms=False, **options).predictions
        full["bootstrap_lo"], full["bootstrap_hi"] = alone["acc_lo"].to_numpy(), alone["acc_hi"].to_numpy()
        full["bootstrap_lo_50"], full["bootstrap_hi_50"] = alone["acc_lo_50"].to_numpy(), alone["acc_hi_50"].to_numpy()
        frames.append(full.assign(fold=fold))
    return pd.concat(frames, ignore_index=True)


#: Laws compared per suite (each where the suite's data support it).
LAWS = ("loss-to-loss", "two-step", "two-step-c4", "direct", "direct-compute")


def law_coverage(ladder, tasks, bootstrap: int) -> pd.DataFrame:
    """Each law's fold predictions (no verdicts): nominal 50 % and 90 % against actual coverage."""
    from taskladder.errors import TaskLadderError
    from taskladder.fit.backtest import holdout_split
    from taskladder.predict import predict_ladder

    rows = []
    for law in LAWS:
        frames = []
        for fold in FOLDS:
            kept, held = holdout_split(ladder, fold)
            try:
                frames.append(predict_ladder(ladder.subset(kept), tasks=tasks, targets=held, variant=law,
                                             intervals=True, n_bootstrap=bootstrap, levels=(0.5, 0.9)).predictions)
            except TaskLadderError:
                continue
        if not frames:
            continue
        known = pd.concat(frames, ignore_index=True).dropna(subset=["acc_pred", "acc_actual"])
        rows.append({"law": law, "predictions": len(known), "MAE pts": 100 * known["abs_error"].mean(),
                     "inside 50 %": 100 * _inside(known, "acc_lo_50", "acc_hi_50").mean(),
                     "inside 90 %": 100 * _inside(known, "acc_lo", "acc_hi").mean()})
    return pd.DataFrame(rows)


def _inside(frame: pd.DataFrame, lo: str, hi: str) -> pd.Series:
    return (frame["acc_actual"] >= frame[lo]) & (frame["acc_actual"] <= frame[hi])


def summarize(frame: pd.DataFrame) -> dict:
    known = frame[frame["acc_pred"].notna() & frame["acc_actual"].notna()]
    err = 100 * known["abs_error"]
    big = err > 5
    inside = _inside(known, "acc_lo", "acc_hi")
    flagged = known["reliability"] == "unreliable"
    return {"predictions": len(known), "no number": int(frame["acc_pred"].isna().sum()), "MAE pts": err.mean(),
            "inside 50 %": 100 * _inside(known, "acc_lo_50", "acc_hi_50").mean(),
            "inside 90 %": 100 * inside.mean(),
            "bootstrap alone: 50 %": 100 * _inside(known, "bootstrap_lo_50", "bootstrap_hi_50").mean(),
            "bootstrap alone: 90 %": 100 * _inside(known, "bootstrap_lo", "bootstrap_hi").mean(),
            "90 % width pts": 100 * (known["acc_hi"] - known["acc_lo"]).mean(),
            "bootstrap alone: width": 100 * (known["bootstrap_hi"] - known["bootstrap_lo"]).mean(),
            "set by extrapolation %": 100 * (known["interval_term"] == "extrapolation").mean(),
            "misses > 5 pts": int(big.sum()), "of them inside or flagged": int((big & (inside | flagged)).sum()),
            "flagged": int(flagged.sum()),
            # Of the flagged, how many missed by > 5 points; of the > 5-point misses, how many were flagged.
            "flag precision %": 100 * (big & flagged).sum() / max(int(flagged.sum()), 1),
            "flag recall %": 100 * (big & flagged).sum() / max(int(big.sum()), 1)}


#: Edges (decades) of the distance bands of :func:`by_distance`.
DISTANCE_BANDS = (0.0, 0.4, 0.6, np.inf)


def by_distance(frame: pd.DataFrame) -> pd.DataFrame:
    """Coverage by the held-out run's distance beyond its fold's runs: the 90 % interval, step 1's
    interval of the task loss, and step 2's interval at the measured task loss (laws through a loss)."""
    known = frame[frame["acc_pred"].notna() & frame["acc_actual"].notna()]
    band = pd.cut(known["extrapolation_distance"], DISTANCE_BANDS, right=False)
    rows = []
    for interval, group in known.groupby(band, observed=True):
        loss = group.dropna(subset=["task_loss_actual", "task_loss_lo"])
        step1 = (loss["task_loss_actual"] >= loss["task_loss_lo"]) & (loss["task_loss_actual"] <= loss["task_loss_hi"])
        step2 = _inside(loss, "acc_from_actual_loss_lo", "acc_from_actual_loss_hi")
        hi = "" if np.isinf(interval.right) else f"{interval.right:g}"
        rows.append({"decades": f"{interval.left:g}–{hi}" if hi else f"{interval.left:g} and beyond",
                     "predictions": len(group), "MAE pts": 100 * group["abs_error"].mean(),
                     "inside 90 %": 100 * _inside(group, "acc_lo", "acc_hi").mean(),
                     "step 1: inside 90 %": 100 * step1.mean(), "step 2 alone: inside 90 %": 100 * step2.mean(),
                     "flagged %": 100 * (group["reliability"] == "unreliable").mean()})
    return pd.DataFrame(rows).round(1)


#: Laws fitted straight to accuracy, whose extrapolated quantity is accuracy or −ln accuracy.
ACCURACY_LAWS = ("direct", "direct-compute")


def observed_tau(ladder, tasks) -> pd.DataFrame:
    """Each task's nested-backtest ``τ`` on the whole suite (no prior), for the rule behind
    ``PRIOR_TAU``: the default law's (and its step 2's, for a law through a loss), and the laws
    straight to accuracy where the data allow."""
    from taskladder.errors import TaskLadderError
    from taskladder.fit.choice import check_variant
    from taskladder.fit.extrapolation import calibrate_extrapolation
    from taskladder.predict import fit_law, paper_selection, resolve_laws

    resolved = ladder.resolve_tasks(tasks)
    chosen, _ = resolve_laws(ladder, resolved, variant=None, mode="default", selection=None)
    rows = []
    for task in resolved:
        for variant in (chosen[task.name][0], *ACCURACY_LAWS):
            try:
                check_variant(ladder, task, variant)
            except TaskLadderError:
                continue
            law = fit_law(variant, task, ladder, selection=paper_selection(variant))
            models = [calibrate_extrapolation(law, ladder)]
            if models[0].quantity == "log_loss":  # step 2's own form error too
                models.append(calibrate_extrapolation(law, ladder, step=2))
            for model in models:
                rows.append({"task": task.name, "law": variant, "quantity": model.quantity, "misses": model.n_misses,
                             "tau observed": model.tau_observed, "tau raw": model.tau_raw, "tau": model.tau})
    return pd.DataFrame(rows)


def recipe_evidence(tmp: Path) -> pd.DataFrame:
    """RMS gap (points) between the open_lm datasets' step-2 curves: the C4-loss sigmoid of one
    dataset read at another dataset's runs, and the direct (N, D) -> accuracy law likewise."""
    from taskladder.io.open_lm import write_open_lm_ladder
    from taskladder.ladder import load_ladder
    from taskladder.predict import fit_law
    from taskladder.fit.selection import target_actual

    ladders = {d: load_ladder(write_open_lm_ladder(OPEN_LM, tmp / f"recipe-{d}", dataset=d, split="small"))
               for d in OPEN_LM_DATASETS}
    rows = []
    for task_name in OPEN_LM_TASKS.split(","):
        for source, ladder in ladders.items():
            task = ladder.resolve_tasks([task_name])[0]
            for kind, variant in (("c4", "two-step-c4"), ("accuracy", "direct")):
                law = fit_law(variant, task, ladder)
                def gaps(runs):
                    acc = np.array([target_actual(r, task, "accuracy", 1) for r in runs], float)
                    if kind == "c4":
                        loss = np.array([target_actual(r, task, "c4", 1) for r in runs], float)
                        return law.predict_accuracy(loss) - acc
                    return law.predict(runs)["acc_pred"].to_numpy(float) - acc

                own = float(np.nanmean(gaps(ladder.train_runs) ** 2))
                for other, other_ladder in ladders.items():
                    if other == source:
                        continue
                    gap = gaps(other_ladder.train_runs)
                    # The map's own run scatter (its residuals on its own runs) is already in every
                    # interval: only the excess over it is a shift.
                    shift = np.sqrt(max(float(np.nanmean(gap**2)) - own, 0.0))
                    rows.append({"task": task_name, "from": source, "to": other, "kind": kind,
                                 "shift pts": 100 * shift, "mean gap pts": 100 * float(np.nanmean(gap))})
    return pd.DataFrame(rows)


#: Lowest 90 % coverage a default may have on any suite (the issue's per-suite floor).
MIN_SUITE_COVERAGE = 80.0


def print_default_against_laws(default: pd.DataFrame, laws: pd.DataFrame, suites: list[str]) -> None:
    """One default for every suite: the default (per task, the first law of ``DEFAULT_ORDER`` the
    data supports) against each law that runs on every suite, on the same folds. The rule, fixed
    in advance: among the candidates that give a number wherever the default does and hold at
    least :data:`MIN_SUITE_COVERAGE` % at 90 % on every suite, the lowest MAE averaged over the
    suites (each weighted equally)."""
    from taskladder.report.tables import render_table

    rows = [{"candidate": "default", "MAE pts, mean over suites": default["MAE pts"].mean(),
             "lowest suite: inside 90 %": default["inside 90 %"].min(), "predictions": int(default["predictions"].sum())}]
    for law, group in laws.groupby("law", sort=False):
        if set(group["suite"]) != set(suites):
            continue
        rows.append({"candidate": law, "MAE pts, mean over suites": group["MAE pts"].mean(),
                     "lowest suite: inside 90 %": group["inside 90 %"].min(), "predictions": int(group["predictions"].sum())})
    table = pd.DataFrame(rows)
    print("\nOne default for every suite: the default against each law that runs on every suite (same folds)\n")
    print(render_table(table.round(2), "markdown", digits=2))
    full = table["predictions"] >= rows[0]["predictions"]
    eligible = table[full & (table["lowest suite: inside 90 %"] >= MIN_SUITE_COVERAGE)]
    best = eligible.loc[eligible["MAE pts, mean over suites"].idxmin(), "candidate"] if len(eligible) else "none"
    print(f"\nthe rule (a number wherever the default gives one, every suite at least {MIN_SUITE_COVERAGE:g} % inside "
          f"the 90 % intervals, then the lowest MAE over suites): {best}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", type=int, default=200)
    parser.add_argument("--suites", default=",".join(SUITES))
    parser.add_argument("--recipe", action="store_true", help="also print the recipe-shift evidence")
    parser.add_argument("--laws", action="store_true", help="also print every law's coverage per suite")
    parser.add_argument("--csv", type=Path, default=None, help="write every fold prediction to this CSV")
    args = parser.parse_args()
    from taskladder.report.tables import render_table

    suites = [s for s in args.suites.split(",") if s]
    frames, taus, per_law = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for suite in suites:
            ladder, tasks = suite_ladder(suite, Path(tmp))
            frames.append(fold_predictions(ladder, tasks, args.bootstrap).assign(suite=suite))
            taus.append(observed_tau(ladder, tasks).assign(suite=suite))
            if args.laws:
                per_law.append(law_coverage(ladder, tasks, args.bootstrap).assign(suite=suite))
            print(f"  {suite}: done", file=sys.stderr)
        recipe = recipe_evidence(Path(tmp)) if args.recipe else None
    table = pd.concat(frames, ignore_index=True)
    if args.csv:
        table.to_csv(args.csv, index=False)
    rows = [{"suite": s, **summarize(table[table["suite"] == s])} for s in suites]
    rows.append({"suite": "pooled", **summarize(table)})
    rows.append({"suite": "each suite equally", **{k: np.mean([r[k] for r in rows[:-1]]) for k in rows[0]
                                                    if k != "suite"}})
    summary = pd.DataFrame(rows).round(1)
    print("Nested backtests of the default law: each fold holds out the largest size, the largest multiple, the top compute "
          "budget or every run above a twentieth of the top compute\n")
    print(render_table(summary[["suite", "predictions", "no number", "MAE pts", "inside 50 %", "inside 90 %",
                                "misses > 5 pts", "of them inside or flagged", "flagged", "flag precision %",
                                "flag recall %"]], "markdown", digits=1))
    print("\nWhat the interval terms add: the same folds with the bootstrap alone\n")
    print(render_table(summary[["suite", "bootstrap alone: 50 %", "bootstrap alone: 90 %", "bootstrap alone: width",
                                "90 % width pts", "set by extrapolation %"]], "markdown", digits=1))
    print("\nBy distance beyond each fold's runs (decades along the worst axis, as the extrapolation term "
          "measures it), pooled: the 90 % intervals, and step 1 and step 2 alone\n")
    print(render_table(by_distance(table), "markdown", digits=1))
    far = by_distance(table).iloc[-1]
    print(f"\nfarthest band ({far['decades']}): {far['inside 90 %']:.1f} % inside the 90 % intervals, step 2 alone "
          f"{far['step 2 alone: inside 90 %']:.1f} %, {far['flagged %']:.1f} % flagged")
    known = table.dropna(subset=["acc_pred", "acc_actual"])
    far_fold = summarize(known[known["fold"] == "far_compute"])
    print(f"\nas far as targets lie (every run above a twentieth of the top compute held out, up to "
          f"{known.loc[known['fold'] == 'far_compute', 'extrapolation_distance'].max():.1f} decades): "
          f"{far_fold['predictions']} predictions, MAE {far_fold['MAE pts']:.1f} points, "
          f"{far_fold['inside 90 %']:.1f} % inside the 90 % intervals")
    missed = known[(100 * known["abs_error"] > 5) & ~_inside(known, "acc_lo", "acc_hi")
                   & (known["reliability"] != "unreliable")]
    print("misses above 5 points neither inside their interval nor flagged: " + ("; ".join(
        f"{r.suite} {r.fold} {r.target} {r.task} ({100 * r.acc_pred:.1f} predicted, {100 * r.acc_actual:.1f} "
        f"actual, interval {100 * r.acc_lo:.1f}–{100 * r.acc_hi:.1f})" for r in missed.itertuples()) or "none"))
    if per_law:
        laws = pd.concat(per_law, ignore_index=True)
        print("\nEvery law on the same folds (with the interval terms; no verdicts): nominal against actual coverage\n")
        print(render_table(laws[["suite", "law", "predictions", "MAE pts", "inside 50 %", "inside 90 %"]].round(1),
                           "markdown", digits=1))
        print_default_against_laws(pd.DataFrame(rows[:len(suites)]), laws, suites)  # unrounded
    tau = pd.concat(taus, ignore_index=True)
    per = tau.groupby(["suite", "quantity"])[["tau observed", "tau raw"]].median().reset_index().round(3)
    print("\nExtrapolation error per decade, observed in each suite's nested backtests (median over tasks)\n")
    print(render_table(per, "markdown", digits=3))
    quartile = tau.dropna(subset=["tau raw"]).groupby("quantity")["tau raw"].quantile(0.75)
    print("\nraw miss rate, upper quartile over every suite's tasks, per quantity (the rule behind PRIOR_TAU): "
          + ", ".join(f"{q} {v:.3f}" for q, v in quartile.items()))
    if recipe is not None:
        rms = lambda v: float(np.sqrt(np.mean(np.square(v))))  # noqa: E731 - the pooled SD of the shifts
        summary = recipe.groupby(["kind", "task"])["shift pts"].apply(rms).reset_index()
        wide = summary.pivot(index="task", columns="kind", values="shift pts").reset_index().round(2)
        print("\nStep-2 recipe shift, points: one dataset's curve read at another's runs, its excess over the curve's "
              "own scatter (RMS over the 6 pairs)\n")
        print(render_table(wide, "markdown", digits=2))
        print("RMS over every task and pair: " + ", ".join(f"{k} {v:.2f} pts" for k, v in
                                                          recipe.groupby("kind")["shift pts"].apply(rms).items()))

if __name__ == "__main__":
    main()
