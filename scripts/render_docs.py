"""Write every transcript and quoted figure of README.md and docs/ from real output.

The documents mark what is generated; everything between the marks is rewritten:

``<!-- render: ID -->`` … ``<!-- /render -->``
    The output of source ``ID``: a ```` ```text ```` block that starts with ``$ COMMAND`` for
    a command's transcript, or the output itself where the source prints Markdown (a table).
``<!--fig:ID.KEY-->VALUE<!--/fig-->``
    A figure quoted in prose: ``VALUE`` is what the pattern ``KEY`` of source ``ID`` captures
    from its output. The prose names the source beside it.

:data:`SOURCES` lists the sources: the command shown, the command run, where it runs, and
whether it is *fast* (deterministic and under a minute: ``tests/test_docs.py`` reruns it and
compares) or *recorded* (a benchmark that times something, or takes minutes: it reruns only
when asked). Each source's last output is kept in ``docs/generated/ID.txt``, so rendering never
needs a slow source to run again, and the tests can check every figure against it.

Usage::

    python scripts/render_docs.py               # rerun the fast sources, rewrite the documents
    python scripts/render_docs.py --all         # also rerun the recorded ones (minutes)
    python scripts/render_docs.py --only demo   # rerun some sources (comma-separated ids)
    python scripts/render_docs.py --offline     # rerun nothing: rewrite from docs/generated/
    python scripts/render_docs.py --check       # exit 1 if a document differs from docs/generated/
    python scripts/render_docs.py --images      # also redraw docs/images/ (needs Chromium and Playwright)
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GENERATED = ROOT / "docs" / "generated"
#: Documents that may hold marks.
DOCUMENTS = ("README.md", "docs/micro-ladder.md", "docs/backtests.md", "docs/evaluation.md", "docs/fitting.md",
             "docs/training.md", "docs/user-guide.md")

REGION = re.compile(r"(<!-- render: (?P<id>[\w-]+) -->\n)(?P<body>.*?)(<!-- /render -->)", re.DOTALL)
FIGURE = re.compile(r"<!--fig:(?P<id>[\w-]+)\.(?P<key>[\w-]+)-->(?P<value>.*?)<!--/fig-->")


@dataclass(frozen=True)
class Source:
    """A command whose output the documents show or quote.

    Attributes
    ----------
    id
        Name used by the marks and by ``docs/generated/ID.txt``.
    shown
        The command as a reader types it (the ``$`` line of a transcript).
    run
        The bash command actually run, when it differs from ``shown`` (an output folder in the
        scratch directory, say); ``{scratch}`` is replaced by a temporary folder.
    cwd
        ``"repo"`` (the repository root) or ``"scratch"`` (an empty temporary folder).
    fast
        Deterministic and under a minute: rerun by default and by the tests. Otherwise the
        output is recorded and rerun only with ``--all`` or ``--only``.
    markdown
        The output is Markdown to insert as it is, not a transcript.
    needs_data
        Reads the OLMo ladder data in ``../shared`` (the tests then need it too).
    figures
        Figure key → regular expression with one group, searched in the output.
    """

    id: str
    shown: str
    run: str | None = None
    cwd: str = "repo"
    fast: bool = True
    markdown: bool = False
    needs_data: bool = False
    figures: dict[str, str] = field(default_factory=dict)


_NUM = r"([0-9][0-9.,]*(?:e[+-]?[0-9]+)?)"
_MICRO = "python benchmarks/micro_ladder.py"
_PAPER_PLAN = "taskladder ladder plan --sizes 190M,370M,760M,1.3B --multiples 1,2,5,10 --target 7B --target-tokens 4T"
_MICRO_BACKTEST = ('taskladder backtest "$(taskladder demo --where)" --variants two-step '
                   "--tasks docs_order,docs_cloze,hellaswag --per-task")
#: Cells of ``benchmarks/backtest_olmo.py``'s law tables: column after the method, pattern.
_CELLS = {"mae": (0, r"([0-9.]+)"), "made": (0, r"[0-9.]+ \((\d+ of \d+)\)"), "cov": (3, r"([0-9]+) %")}


def _law_row(variant: str, method: str, what: str, section: str = "") -> str:
    """A figure of ``benchmarks/backtest_olmo.py``'s table: the cell ``what`` (:data:`_CELLS`: the
    error, the predictions made when not all, the coverage) of the row of ``variant`` in ``method``
    mode, in the table after the bold heading ``section`` (default: the first table)."""
    column, pattern = _CELLS[what]
    before = rf"\*\*{section}[\s\S]*?" if section else ""
    return (before + rf"^\| \**{re.escape(variant)}(?: \([^|]*\))?\** \| \**{method}(?: = paper)?\** \|"
            + r"(?:[^|]*\|)" * column + r" \**" + pattern)


def _quality_figures() -> dict[str, str]:
    """Figures of ``benchmarks/quality_olmo.py`` per target, and over both targets."""
    figures = {f"{key}_{short}": rf"\*\*{target}\*\*[\s\S]*?" + pattern
               for short, target in (("7b", "7B-4T"), ("13b", "13B-5T"))
               for key, pattern in (("mae", r"mean absolute error (\S+) points"),
                                    ("paper", r"\(paper method (\S+)\)"),
                                    ("inside", r"; (\d+) of \d+ actuals inside"),
                                    ("misses", r"; (\d+) task\(s\) missed by more than 5 points"),
                                    ("flagged", r"missed by more than 5 points, (\d+) of them marked"),
                                    ("step1", r"step by step: (\d+) of \d+ measured task losses"),
                                    ("step2", r"; (\d+) of \d+ accuracies inside the step-2"),
                                    ("outside", r"^outside the 90 % intervals: (.+)$"),
                                    ("step2_outside", r"^outside step 2's interval at the measured loss: (.+)$"),
                                    ("mmlu_pred", r"^\| MMLU \| (\S+) \|"),
                                    ("mmlu_lo", r"^\| MMLU \| \S+ \| (\S+)–"),
                                    ("mmlu_hi", r"^\| MMLU \| \S+ \| \S+–(\S+) \|"))}
    figures.update({"inside": r"^both targets: (\d+ of \d+) actuals inside",
                    "n_misses": r"^both targets: .*?; (\d+) missed by more than 5 points",
                    "misses": r"^both targets: .*? missed by more than 5 points \((.+?)\); step 1",
                    "step1": r"^both targets: .*; step 1: (\d+ of \d+) measured",
                    "step2": r"^both targets: .*; step 2 alone: (\d+ of \d+) accuracies"})
    return figures


SOURCES: dict[str, Source] = {s.id: s for s in (
    Source(id="demo", shown="taskladder demo", cwd="scratch"),
    Source(id="predict-paper", shown="taskladder predict specs/olmo-paper.toml", needs_data=True),
    Source(id="micro-backtest", shown=_MICRO_BACKTEST, figures={
        "size_order_mae": r"largest_size\s+two-step\s+default\s+docs_order\s+" + _NUM,
        "size_order_max": r"largest_size\s+two-step\s+default\s+docs_order\s+\S+\s+" + _NUM,
        "size_cloze_mae": r"largest_size\s+two-step\s+default\s+docs_cloze\s+" + _NUM,
        "size_cloze_max": r"largest_size\s+two-step\s+default\s+docs_cloze\s+\S+\s+" + _NUM,
        "multiple_order_mae": r"largest_multiple\s+two-step\s+default\s+docs_order\s+" + _NUM,
        "multiple_cloze_mae": r"largest_multiple\s+two-step\s+default\s+docs_cloze\s+" + _NUM,
    }),
    Source(id="micro-facts", shown=_MICRO, figures={
        "runs": r"^runs: (\d+)", "n_sizes": r"^sizes: (\d+)", "n_min": r"^N: (\S+) to",
        "n_max": r"^N: \S+ to (\S+)", "n_ratio": r"^N: .* \((\S+)× from", "multiples": r"^multiples: (.+)$",
        "tokens_min": r"^tokens: (\S+) to", "tokens_max": r"^tokens: \S+ to (\S+)",
        "compute_percent": r"^compute: (\S+) % of", "epochs": r"^passes over the corpus, largest run: (\S+)",
        "minutes": r"^regeneration: (\S+) minutes", "seconds": r"^regeneration: \S+ minutes \((\S+) s",
        "order_acc_min": r"^accuracy docs_order: (\S+) %", "order_acc_max": r"^accuracy docs_order: \S+ % .* to (\S+) %",
        "cloze_acc_min": r"^accuracy docs_cloze: (\S+) %", "cloze_acc_max": r"^accuracy docs_cloze: \S+ % .* to (\S+) %",
        "hellaswag_acc_min": r"^accuracy hellaswag: (\S+) %",
        "hellaswag_acc_max": r"^accuracy hellaswag: \S+ % .* to (\S+) %",
        "train_tokens": r"^corpus tokens: (\S+) train", "val_tokens": r"^corpus tokens: \S+ train, (\S+) validation",
        "kilobytes": r"^shipped files: (\S+) KB", "pages": r"^corpus pages: (\S+) \(",
        "held_out_pages": r"^corpus pages: \S+ \((\d+) held out",
    }),
    Source(id="micro-design", shown=f"{_MICRO} --table design", markdown=True),
    Source(id="micro-losses", shown=f"{_MICRO} --table losses", markdown=True),
    Source(id="micro-timings", shown=f"{_MICRO} --table timings", markdown=True),
    Source(id="micro-corpus", shown=f"{_MICRO} --table corpus", markdown=True),
    Source(id="paper-plan", shown=_PAPER_PLAN, cwd="scratch", figures={
        "compute_percent": r"FLOPs = (\S+) % of the target"}),
    Source(id="quality-olmo", shown="python benchmarks/quality_olmo.py", markdown=True, needs_data=True,
           figures=_quality_figures()),
    Source(id="quality-olmo-ensemble", shown="python benchmarks/quality_olmo.py --variant ensemble", markdown=True,
           needs_data=True, figures=_quality_figures()),
    Source(id="step2-shift", shown="python benchmarks/step2_shift.py", markdown=True, needs_data=True, figures={
        "inside": r"as far as to the targets: (\d+ of \d+) held-out runs",
        "ladder_rms": r"as far as to the targets: .* RMS error (\S+) points",
        "targets_rms": r"off the ladder's curve at their measured loss: RMS (\S+) points",
        "targets_2sd": r"off the ladder's curve at their measured loss: .*; (\d+ of \d+) more than 2 σ away"}),
    Source(id="backtest-olmo", shown="OPENBLAS_NUM_THREADS=1 python benchmarks/backtest_olmo.py", fast=False,
           markdown=True, needs_data=True, figures={
               **{f"{short}_{what}": _law_row(variant, method, what)
                  for short, variant, method in (("l2l", "loss-to-loss", "default"), ("ens", "ensemble", "default"),
                                                 ("c4", "two-step-c4", "default"), ("ss", "single-step", "default"),
                                                 ("ss_paper", "single-step", "paper"), ("direct", "direct", "default"),
                                                 ("direct_paper", "direct", "paper"),
                                                 ("dc", "direct-compute", "default"),
                                                 ("l2l_lr", "loss-to-loss-lr", "default"),
                                                 ("ts_lr", "two-step-lr", "default"),
                                                 ("taskce", "two-step-taskce", "default"))
                  for what in ("mae", "cov")},
               **{f"{short}_made": _law_row(variant, method, "made")
                  for short, variant, method in (("ss", "single-step", "default"), ("direct_paper", "direct", "paper"),
                                                 ("taskce", "two-step-taskce", "default"))},
               "all_ss_made": _law_row("single-step", "default", "made", "All"),
               **{f"all_{short}_{what}": _law_row(variant, method, what, "All")
                  for short, variant, method in (("l2l", "loss-to-loss", "default"), ("ens", "ensemble", "default"),
                                                 ("ens_paper", "ensemble", "paper"),
                                                 ("c4_paper", "two-step-c4", "paper"), ("ss", "single-step", "default"))
                  for what in ("mae", "cov")},
               **{f"{prefix}rule_{key}": (r"\*\*All[\s\S]*?" if prefix else "") + r"^the rule, .*" + pattern
                  for prefix in ("", "all_")
                  for key, pattern in (("best", r"lowest error (\S+)"),
                                       ("best_mae", r"lowest error \S+ \((\S+) points"),
                                       ("best_cov", r"lowest error \S+ \(\S+ points, (\S+) % coverage"),
                                       ("next", r"; next (\S+)"), ("next_mae", r"; next \S+ \((\S+) points"),
                                       ("next_cov", r"; next \S+ \(\S+ points, (\S+) % coverage"),
                                       ("tied", r"of the lowest: (.+);"), ("chosen", r"; chosen: (\S+)$"))}}),
    Source(id="paper-vs-default", shown="OPENBLAS_NUM_THREADS=1 python benchmarks/paper_vs_default.py", markdown=True,
           needs_data=True, figures={
               "fits": r"^- paper's law, paper mode, step 1: (\d+) fits",
               "line_search": r"^- paper's law, paper mode, step 1: .*?(\d+) line search failed",
               "relative": r"^- paper's law, paper mode, step 1: .*?(\d+) converged \(relative reduction\)",
               "default_converged": r"^- paper's law, default mode, step 1: .*?(\d+) converged(?:;|$)",
               "arc_miss_min": r"accuracy missed by (\S+) to",
               "arc_miss_max": r"accuracy missed by \S+ to (\S+) points",
               "arc_loss_min": r"measured task loss (\S+) to", "arc_loss_max": r"measured task loss \S+ to (\S+) %"}),
    Source(id="paper", shown="taskladder paper --data ../shared/data/olmo-ladder -o paper-out",
           run="taskladder paper --data ../shared/data/olmo-ladder -o {scratch}/paper-out", fast=False,
           needs_data=True, figures={
               "chained_7b": r"^chained_7B-4T: max \|relative difference\| from the reference (\S+)",
               "chained_13b": r"^chained_13B-5T: max \|relative difference\| from the reference (\S+)",
               "step1": r"^step1_main: max \|relative difference\| from the reference (\S+)",
               "step2": r"^step2_main: max \|relative difference\| from the reference (\S+)",
               "step1_c4": r"^step1_c4_main: max \|relative difference\| from the reference (\S+)",
               "step2_c4": r"^step2_c4_main: max \|relative difference\| from the reference (\S+)",
               "step2_taskce": r"^step2_taskce_main: max \|relative difference\| from the reference (\S+)",
               "mae_7b": r"^two-step\s+paper\s+7B-4T\s+(\S+)", "mae_13b": r"^two-step\s+paper\s+13B-5T\s+(\S+)"}),
    Source(id="noise", shown="taskladder noise specs/olmo-paper.toml --tasks all", needs_data=True, figures={
        **{f"snr_{t}": rf"^{t}\s.*\s(\S+)$" for t in ("mmlu", "hellaswag", "arc_challenge", "arc_easy", "piqa",
                                                        "csqa", "socialiqa", "openbookqa", "boolq", "winogrande")},
        "boolq_acc_seed_sd": r"^boolq\s+BoolQ\s+\d+\s+\S+\s+\S+\s+\S+\s+\S+\s+\S+\s+(\S+)",
        "boolq_acc_ckpt_sd": r"^boolq\s+BoolQ\s+\d+\s+\S+\s+\S+\s+\S+\s+\S+\s+(\S+)"}),
    Source(id="cheaper-ladder", shown="OPENBLAS_NUM_THREADS=1 python benchmarks/cheaper_ladder.py", markdown=True,
           needs_data=True, figures={
               "share_10x": r"^\| 10 × C runs only \(3\) \| (\d+) %",
               "lr_10x": r"^\| 10 × C runs only \(3\) \| \d+ % \| [^|]+ \| (\S+) ",
               "l2l_all": r"^\| all 12 runs [^|]+ \| \d+ % \| (\S+) ",
               "two_step_all": r"^\| all 12 runs [^|]+ \| \d+ % \| [^|]+ \| [^|]+ \| (\S+) "}),
    Source(id="gadre", shown="OPENBLAS_NUM_THREADS=1 python benchmarks/gadre.py", fast=False, markdown=True,
           needs_data=True, figures={
               "avg17_mean": r"^mean over the 6 targets: (\S+) %",
               "paper_avg17": r"\(the paper's: (\S+) %\)",
               "coverage": r"^paper split, default law, per task: (\d+) % of actuals",
               "misses": r"intervals; (\d+) misses above 5 points",
               "flagged": r"misses above 5 points, (\d+) flagged unreliable",
               "avg17_inside": r"\(the paper's: \S+ %\); (\d+) of 6 actuals inside",
               "avg17_unreliable": r"actuals inside the 90 % intervals, (\d+) marked unreliable",
               "paper_chain": r"^step by step, mean over the 6 targets: the paper's chain (\S+) %",
               "paper_at_loss": r"its error law at the measured loss (\S+) %",
               "ours_at_loss": r"% chained, (\S+) % at the measured loss",
               "paper_loss_low": r"^C4 loss predicted minus measured: the paper's loss law (\S+) to",
               "paper_loss_mae": r"the paper's loss law \S+ to \S+ nats \(mean absolute (\S+)\)",
               "ours_loss_mae": r"ours \S+ to \S+ \(mean absolute (\S+)\)"}),
    Source(id="gadre-speed", shown="OPENBLAS_NUM_THREADS=1 python benchmarks/gadre.py --speed-only", fast=False,
           markdown=True, needs_data=True, figures={
               "default_slowest": r"^default mode: slowest law (\S+)",
               "default_slowest_s": r"^default mode: slowest law \S+ (\S+) s",
               "paper_slowest": r"^paper mode: slowest law (\S+)",
               "paper_slowest_s": r"^paper mode: slowest law \S+ (\S+) s",
               "single_step": r"^\| default \| single-step \| \d+ \| (\S+) \|",
               "load": r"load average (\S+) at start"}),
    Source(id="honesty", shown="OPENBLAS_NUM_THREADS=1 python benchmarks/honesty.py --recipe --laws", fast=False,
           markdown=True, needs_data=True, figures={
               "pooled_90": r"^\| pooled \| [^|]+ \| [^|]+ \| [^|]+ \| [^|]+ \| (\S+) \|",
               "pooled_50": r"^\| pooled \| [^|]+ \| [^|]+ \| [^|]+ \| (\S+) \|",
               "pooled_n": r"^\| pooled \| (\S+) \|",
               "pooled_big": r"^\| pooled \| [^|]+ \| [^|]+ \| [^|]+ \| [^|]+ \| [^|]+ \| (\S+) \|",
               "pooled_ok": r"^\| pooled \| [^|]+ \| [^|]+ \| [^|]+ \| [^|]+ \| [^|]+ \| [^|]+ \| (\S+) \|",
               "pooled_boot_90": r"^\| pooled \| [^|]+ \| (\S+) \| [^|]+ \| [^|]+ \| [^|]+ \|$",
               "pooled_precision": r"^\| pooled \|(?: [^|]+ \|){8} (\S+) \|",
               "pooled_recall": r"^\| pooled \|(?: [^|]+ \|){9} (\S+) \|$",
               "far_band": r"^farthest band \((\S+) and beyond\)",
               "far_inside": r"^farthest band \([^)]*\): (\S+) % inside",
               "far_step2": r"step 2 alone (\S+) %, \S+ % flagged",
               "far_flagged": r"step 2 alone \S+ %, (\S+) % flagged",
               "far_fold_n": r"^as far as targets lie .*: (\d+) predictions",
               "far_fold_reach": r"^as far as targets lie .*, up to (\S+) decades",
               "far_fold_mae": r"^as far as targets lie .*, MAE (\S+) points",
               "far_fold_inside": r"^as far as targets lie .* points, (\S+) % inside",
               "default_rule_floor": r"every suite at least (\S+) % inside the 90 % intervals, then",
               "default_rule": r"then the lowest MAE over suites\): (\S+)$",
               "unflagged": r"^misses above 5 points neither inside their interval nor flagged: (.+)$",
               "recipe_c4": r"c4 (\S+) pts",
               "recipe_accuracy": r"RMS over every task and pair: accuracy (\S+) pts"}),
    Source(id="step1-fits", shown="OPENBLAS_NUM_THREADS=1 python benchmarks/step1_fits.py", fast=False,
           markdown=True, needs_data=True, figures={
               "default": r"mean over suites, far: least squares (\S+),",
               "huber": r"mean over suites, far: least squares \S+, paper \S+, huber (\S+)",
               "worst": r"^huber: far, at worst (\S+)x",
               "shared": r"mean over suites, far: .*shared exponent (\S+)$",
               "shared_worst": r"^shared exponent: far, at worst (\S+)x",
               "near_huber": r"mean over suites, near: least squares \S+, paper \S+, huber (\S+)",
               "near_shared": r"mean over suites, near: .*shared exponent (\S+)$",
               "brief_lo": r"^runs under 10 tokens per parameter: (\S+) to",
               "brief_hi": r"^runs under 10 tokens per parameter: \S+ to (\S+) %",
               "rest_max": r"the rest at most (\S+) %$"}),
    Source(id="step2-forms", shown="OPENBLAS_NUM_THREADS=1 python benchmarks/step2_forms.py", fast=False,
           markdown=True, needs_data=True, figures={
               "sigmoid": r"mean over suites: exponential \S+, sigmoid (\S+),",
               "exponential": r"mean over suites: exponential (\S+),",
               "flat": r"mean over suites: .*flat without a trend (\S+);",
               "wins": r"the exponential is lower than the sigmoid on (\d+) of",
               "flat_wins": r"flat without a trend at most the sigmoid on (\d+) of",
               "avg17_c4_sigmoid": r"c4_original sigmoid (\S+), exponential",
               "avg17_c4_exponential": r"c4_original sigmoid \S+, exponential (\S+);"}),
    Source(id="watch-replay", shown="taskladder watch specs/olmo-watch.toml --tasks hellaswag,arc_easy,piqa "
                                    "--fractions 0,0.25,0.5", needs_data=True, figures={
        "half_mae": r"^1\.3B-10xC at 0\.5 of its tokens: mean absolute error (\S+) points",
        "ladder_mae": r"^1\.3B-10xC at 0 of its tokens: mean absolute error (\S+) points"}),
    Source(id="watch-olmo", shown="OPENBLAS_NUM_THREADS=1 python benchmarks/watch_olmo.py", fast=False, markdown=True,
           needs_data=True, figures={
               **{f"{key}_{short}_{name}": rf"\*\*{design}\*\*[\s\S]*?^\| {fraction} \| \d+ \| " + pattern
                  for key, design in (("largest", "largest runs"), ("new", "a new size"))
                  for short, fraction in (("25", "0\\.25"), ("50", "0\\.5"))
                  for name, pattern in (("mae", r"(\S+) \|"), ("ladder", r"\S+ \| (\S+) \|"),
                                        ("inside", r"\S+ \| \S+ \| [^|]+ \| [^(]+\((\d+) %\)"))},
               "largest_half_worst": r"^largest runs, half-way: MAE per target at most (\S+) points",
               "new_half_worst": r"^a new size, half-way: MAE per target at most (\S+) points",
               "largest_half_inside": r"^largest runs, half-way: [^;]+; (\d+ of \d+) actuals",
               "new_half_inside": r"^a new size, half-way: [^;]+; (\d+ of \d+) actuals"}),
    Source(id="bench-eval", shown="python benchmarks/bench_eval.py", fast=False, figures={
        **{f"{task}_speedup": rf"^{task}\s+\d+\s+\S+\s+\S+\s+\S+\s+(\S+)x" for task in ("arc_easy", "hellaswag")},
        **{f"{task}_flat_rate": rf"^{task}\s+\d+\s+\S+\s+(\S+)" for task in ("arc_easy", "hellaswag")},
        **{f"{task}_base_rate": rf"^{task}\s+\d+\s+(\S+)" for task in ("arc_easy", "hellaswag")},
        **{f"{task}_diff": rf"^{task}\s+\d+\s+\S+\s+\S+\s+\S+\s+\S+x\s+(\S+)" for task in ("arc_easy", "hellaswag")}}),
    Source(id="bench-fit", shown="OPENBLAS_NUM_THREADS=1 python benchmarks/bench_fit.py", fast=False,
           needs_data=True),
    Source(id="bench-intervals", shown="OPENBLAS_NUM_THREADS=1 python benchmarks/bench_intervals.py", fast=False,
           needs_data=True),
    Source(id="bench-train", shown="python benchmarks/bench_train.py --size micro-m --threads 2", fast=False, figures={
        "bare": r"^bare loop  tokens/s: median (\S+)", "trainer": r"^trainer    tokens/s: median (\S+)",
        "overhead": r"^trainer overhead: (\S+) %", "ratio": r"^trainer overhead: .*ratio of medians (\S+) %",
        "load": r"^load average \(1 min\) at start (\S+)", "load_end": r"^load average .* at end (\S+)"}),
    Source(id="sizes", shown="taskladder sizes"),
    Source(id="bench-cli", shown="python benchmarks/bench_cli.py", fast=False, needs_data=True, figures={
        "help": r"^help: (\S+) s", "predict_json": r"^predict_json: (\S+) s"}),
)}


def _bash(command: str, cwd: Path) -> str:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "MPLBACKEND": "Agg", "HF_HUB_OFFLINE": "1",
           "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")}
    done = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", command], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"'{command}' failed with status {done.returncode}:\n{done.stderr[-3000:]}")
    return done.stdout


def run_source(source: Source) -> str:
    """Run ``source`` now and return its standard output (lines right-stripped)."""
    scratch = Path(tempfile.mkdtemp(prefix=f"render-{source.id}-"))
    try:
        command = (source.run or source.shown).replace("{scratch}", str(scratch))
        out = _bash(command, scratch if source.cwd == "scratch" else ROOT)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return "".join(line.rstrip() + "\n" for line in out.splitlines())


def recorded(source_id: str) -> str:
    """The output of ``source_id`` kept in ``docs/generated/``."""
    path = GENERATED / f"{source_id}.txt"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; run: python scripts/render_docs.py --only {source_id}")
    return path.read_text(encoding="utf-8")


def figure(source_id: str, key: str, output: str | None = None) -> str:
    """The figure ``key`` of ``source_id``, from ``output`` (default: the recorded output)."""
    source = SOURCES[source_id]
    if key not in source.figures:
        raise KeyError(f"source {source_id!r} has no figure {key!r}; it has: {', '.join(source.figures) or 'none'}")
    text = recorded(source_id) if output is None else output
    match = re.search(source.figures[key], text, re.MULTILINE)
    if match is None:
        raise ValueError(f"figure {source_id}.{key}: /{source.figures[key]}/ matches nothing in its output")
    return match.group(1)


def rendered_block(source_id: str, output: str | None = None) -> str:
    """What goes between a region's marks."""
    source = SOURCES[source_id]
    text = recorded(source_id) if output is None else output
    if source.markdown:
        return text
    return f"```text\n$ {source.shown}\n{text}```\n"


def render(text: str) -> str:
    """``text`` with every region and figure rewritten from the recorded outputs."""
    def region(match: re.Match[str]) -> str:
        if match.group("id") not in SOURCES:
            raise KeyError(f"unknown source {match.group('id')!r} in a render mark")
        return match.group(1) + rendered_block(match.group("id")) + match.group(4)

    def quoted(match: re.Match[str]) -> str:
        value = figure(match.group("id"), match.group("key"))
        return f"<!--fig:{match.group('id')}.{match.group('key')}-->{value}<!--/fig-->"

    return FIGURE.sub(quoted, REGION.sub(region, text))


def render_images() -> list[Path]:
    """Redraw docs/images/: the demo's and the paper spec's figures, and a task card of the report.

    The card is a screenshot of the HTML report of ``specs/olmo-paper.toml`` (HellaSwag, 200
    resamples) in headless Chromium at 1366 × 800, scrolled to the card's top.
    """
    images = ROOT / "docs" / "images"
    scratch = Path(tempfile.mkdtemp(prefix="render-images-"))
    written = []
    try:
        _bash(f"taskladder demo -o {scratch}/demo", scratch)
        for name, target in (("chained", "micro-chained"), ("step2", "micro-step2")):
            written.append(Path(shutil.copyfile(scratch / "demo" / "figures" / f"{name}.png", images / f"{target}.png")))
        _bash(f"taskladder predict specs/olmo-paper.toml -o {scratch}/predict > /dev/null", ROOT)
        written.append(Path(shutil.copyfile(scratch / "predict" / "figures" / "chained.png", images / "chained.png")))
        _bash(f"taskladder report specs/olmo-paper.toml --tasks hellaswag,arc_easy -o {scratch}/report.html", ROOT)
        from playwright.sync_api import sync_playwright

        chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, headless=True,
                                                 args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1366, "height": 800})
            page.goto((scratch / "report.html").as_uri(), wait_until="load")
            page.evaluate("document.querySelector('section.task-card').scrollIntoView({block: 'start'})")
            page.screenshot(path=str(images / "report-card.png"))
            browser.close()
        written.append(images / "report-card.png")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return written


def documents() -> list[Path]:
    return [ROOT / name for name in DOCUMENTS if (ROOT / name).is_file()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--all", action="store_true", help="rerun every source, the recorded ones too")
    what.add_argument("--only", default=None, help="comma-separated source ids to rerun")
    what.add_argument("--offline", action="store_true", help="rerun nothing; rewrite from docs/generated/")
    what.add_argument("--check", action="store_true", help="rewrite nothing; exit 1 if a document is stale")
    parser.add_argument("--images", action="store_true", help="also redraw docs/images/ (Chromium, Playwright)")
    args = parser.parse_args(argv)
    if args.only:
        unknown = sorted(set(args.only.split(",")) - set(SOURCES))
        if unknown:
            parser.error(f"unknown source(s) {', '.join(unknown)}; known: {', '.join(SOURCES)}")
        chosen = [SOURCES[i] for i in args.only.split(",")]
    elif args.offline or args.check:
        chosen = []
    else:
        chosen = [s for s in SOURCES.values() if s.fast or args.all]
    GENERATED.mkdir(parents=True, exist_ok=True)
    for source in chosen:
        print(f"running {source.id}: {source.shown}", file=sys.stderr)
        (GENERATED / f"{source.id}.txt").write_text(run_source(source), encoding="utf-8")
    stale = []
    for path in documents():
        text = path.read_text(encoding="utf-8")
        new = render(text)
        if new != text:
            stale.append(path.relative_to(ROOT))
            if not args.check:
                path.write_text(new, encoding="utf-8")
    if args.images and not args.check:
        for path in render_images():
            print(f"drew {path.relative_to(ROOT)}", file=sys.stderr)
    verb = "stale" if args.check else "rewrote"
    print(f"{verb}: {', '.join(map(str, stale)) or 'nothing'}", file=sys.stderr)
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
