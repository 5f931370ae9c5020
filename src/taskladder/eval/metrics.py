"""RC metrics as group-bys over the per-choice table, named as in the ladder CSVs.

The per-choice table (:data:`CHOICE_COLUMNS`) has one row per (component, document, choice):

============== ==============================================================
column         meaning
============== ==============================================================
label          component label, e.g. ``arc_easy_test_rc_5shot``
doc_id         document id within the component
choice         choice index within the document
is_gold        whether this choice is the correct answer
loglik         ``Σ_t log p(c_t | context, c_<t)`` over the continuation tokens (nats)
n_tokens       continuation tokens
n_chars        characters of the continuation string, leading space included
n_bytes        UTF-8 bytes of the continuation string, leading space included
n_chars_trim   characters without the first one (the leading space)
n_bytes_trim   UTF-8 bytes without the first character
============== ==============================================================

Two length conventions exist. The paper's in-loop evaluator (OLMo ``ladder-1xC``) did not count
the continuation's first character, its leading space (``length_norm="paper"``, the default:
``n_chars_trim`` and ``n_bytes_trim``); the later OLMES standard counts it
(``length_norm="olmes"``: ``n_chars`` and ``n_bytes``). ``olmo_eval``'s ``ICLMetric`` reports the
first as its ``*_v1`` and the second as its ``*_v2`` metrics.

Nothing here imports torch.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..errors import ConfigError, DataError

__all__ = ["CHOICE_COLUMNS", "METRIC_NAMES", "LENGTH_NORMS", "component_metrics", "ladder_columns",
           "ladder_column_names", "validate_choice_table"]

CHOICE_COLUMNS = ("label", "doc_id", "choice", "is_gold", "loglik", "n_tokens", "n_chars", "n_bytes",
                  "n_chars_trim", "n_bytes_trim")

#: Per-component metrics, in output order.
METRIC_NAMES = ("accuracy", "acc_raw", "acc_per_char", "acc_per_token", "bpb", "soft", "soft_log", "n_docs")

LENGTH_NORMS = ("paper", "olmes")

_LOG2_E = 1.0 / math.log(2.0)


def validate_choice_table(table: pd.DataFrame, where: str = "per-choice table") -> None:
    """Check columns and that every document has exactly one gold choice.

    Raises
    ------
    DataError
        Naming the missing columns or the first offending document.
    """
    missing = [c for c in CHOICE_COLUMNS if c not in table.columns]
    if missing:
        raise DataError(f"{where}: missing column(s) {', '.join(missing)} (have {', '.join(map(str, table.columns))})")
    if table.empty:
        raise DataError(f"{where}: no rows")
    golds = table.groupby(["label", "doc_id"], sort=False)["is_gold"].sum()
    bad = golds[golds != 1]
    if len(bad):
        (label, doc_id), count = bad.index[0], int(bad.iloc[0])
        raise DataError(f"{where}: document {doc_id} of {label} has {count} gold choices (expected exactly 1)")


def _doc_argmax_correct(frame: pd.DataFrame, score: pd.Series, keys: list[str]) -> pd.Series:
    """Per document: does the highest-scoring choice (lowest index among ties) equal the gold one?

    NaN for a document with an unknown score (e.g. token counts missing from an external log).
    """
    by_doc = [frame[k] for k in keys]
    best = score.groupby(by_doc, sort=False).transform("max")
    top = frame["choice"].where(score == best)
    predicted = top.groupby(by_doc, sort=False).transform("min")
    unknown = score.isna().groupby(by_doc, sort=False).transform("any").to_numpy(bool)
    gold_rows = frame["is_gold"].to_numpy(bool)
    correct = (predicted[gold_rows] == frame["choice"][gold_rows]).to_numpy(float)
    correct[unknown[gold_rows]] = np.nan
    return pd.Series(correct, index=pd.MultiIndex.from_frame(frame.loc[gold_rows, keys]))


def component_metrics(table: pd.DataFrame, accuracy_metric: dict[str, str] | str = "len_norm",
                      *, length_norm: str = "paper") -> pd.DataFrame:
    """Metrics of every component in a per-choice table.

    Parameters
    ----------
    table
        Per-choice table (:data:`CHOICE_COLUMNS`).
    accuracy_metric
        ``"len_norm"`` or ``"acc"``, for all components or per label: which score ranks the
        choices for ``accuracy``, ``soft`` and ``soft_log``.
    length_norm
        ``"paper"`` (do not count the leading space) or ``"olmes"`` (count it).

    Returns
    -------
    pandas.DataFrame
        One row per label with columns ``label`` and :data:`METRIC_NAMES`.

    Notes
    -----
    For document ``d`` with choices ``i``, gold ``g``, log-likelihood ``ℓ_i``, token count
    ``T_i``, character count ``C_i`` and byte count ``B_i`` (per ``length_norm``), each metric is
    the mean over documents of:

    * ``acc_raw``: ``[argmax_i ℓ_i = g]``
    * ``acc_per_char`` (``len_norm``): ``[argmax_i ℓ_i / C_i = g]``
    * ``acc_per_token``: ``[argmax_i ℓ_i / T_i = g]``
    * ``accuracy``: ``acc_per_char``, or ``acc_raw`` when the task's metric is ``acc`` (BoolQ)
    * ``bpb`` (task loss): ``−ℓ_g / B_g · log₂ e``, bits per UTF-8 byte of the gold answer
    * ``soft``: ``softmax_i(s_i)[g]`` and ``soft_log``: ``log_softmax_i(s_i)[g]``, with
      ``s_i = ℓ_i / C_i`` for ``len_norm`` and ``s_i = ℓ_i`` for ``acc``

    Ties in an argmax go to the lowest choice index (as ``torch.argmax``).
    """
    if length_norm not in LENGTH_NORMS:
        raise ConfigError(f"length_norm must be one of {', '.join(LENGTH_NORMS)}, got {length_norm!r}")
    validate_choice_table(table)
    frame = table.sort_values(["label", "doc_id", "choice"], kind="stable").reset_index(drop=True)
    chars = frame["n_chars_trim" if length_norm == "paper" else "n_chars"].astype(float)
    nbytes = frame["n_bytes_trim" if length_norm == "paper" else "n_bytes"].astype(float)
    loglik = frame["loglik"].astype(float)
    empty = np.flatnonzero(((chars <= 0) | (nbytes <= 0)).to_numpy())
    if empty.size:  # a per-character score or bits per byte over nothing is inf or NaN, not a number
        row = frame.iloc[int(empty[0])]
        raise DataError(f"{row['label']}: choice {row['choice']} of document {row['doc_id']} has no characters to "
                        f"normalise by (with length_norm {length_norm!r} the leading space is "
                        f"{'not ' if length_norm == 'paper' else ''}counted); its score per character and bits per "
                        "byte are undefined")
    with np.errstate(divide="ignore", invalid="ignore"):
        per_char = loglik / chars
        per_token = loglik / frame["n_tokens"].astype(float)
        bpb_rows = -loglik / nbytes * _LOG2_E
    keys = ["label", "doc_id"]
    per_doc = pd.DataFrame({
        "acc_raw": _doc_argmax_correct(frame, loglik, keys),
        "acc_per_char": _doc_argmax_correct(frame, per_char, keys),
        "acc_per_token": _doc_argmax_correct(frame, per_token, keys),
    })
    gold = frame["is_gold"].to_numpy(bool)
    gold_index = pd.MultiIndex.from_frame(frame.loc[gold, keys])
    per_doc["bpb"] = pd.Series(bpb_rows[gold].to_numpy(), index=gold_index)
    metric_of = (lambda label: accuracy_metric) if isinstance(accuracy_metric, str) else accuracy_metric.get
    labels = frame["label"].unique()
    for label in labels:
        if metric_of(label) not in ("len_norm", "acc"):
            raise ConfigError(f"{label}: accuracy metric must be 'len_norm' or 'acc', got {metric_of(label)!r}")
    use_raw = frame["label"].map(lambda lab: metric_of(lab) == "acc").to_numpy(bool)
    score = pd.Series(np.where(use_raw, loglik, per_char), index=frame.index)
    by_doc = [frame[k] for k in keys]
    top = score.groupby(by_doc, sort=False).transform("max")
    lse = top + np.log(np.exp(score - top).groupby(by_doc, sort=False).transform("sum"))
    soft_log = (score - lse)[gold].to_numpy()
    per_doc["soft_log"] = pd.Series(soft_log, index=gold_index)
    per_doc["soft"] = np.exp(per_doc["soft_log"])
    rows = []
    for label in labels:
        docs = per_doc.xs(label, level="label")
        primary = "acc_raw" if metric_of(label) == "acc" else "acc_per_char"
        row = {"label": label, "accuracy": docs[primary].mean()}
        for name in ("acc_raw", "acc_per_char", "acc_per_token", "bpb", "soft", "soft_log"):
            row[name] = docs[name].mean()
        row["n_docs"] = len(docs)
        rows.append(row)
    return pd.DataFrame(rows, columns=["label", *METRIC_NAMES])


def ladder_column_names(label: str, accuracy_metric: str = "len_norm") -> dict[str, str]:
    """``{metric: column}`` of one component: bpb, accuracy, soft and soft_log.

    ``eval/downstream_bpb/{label}_bpb``, ``eval/downstream/{label}_len_norm`` (``_acc`` for
    tasks ranked by the raw sum), ``eval/downstream_soft/{label}_soft`` and
    ``eval/downstream_soft_log/{label}_soft_log``; for a built-in component the label ends in
    ``_rc_5shot``, so these are exactly :meth:`taskladder.tasks.Task.columns`.
    """
    return {"bpb": f"eval/downstream_bpb/{label}_bpb",
            "accuracy": f"eval/downstream/{label}_{accuracy_metric}",
            "soft": f"eval/downstream_soft/{label}_soft",
            "soft_log": f"eval/downstream_soft_log/{label}_soft_log"}


def ladder_columns(metrics: pd.DataFrame, accuracy_metric: dict[str, str] | str = "len_norm") -> dict[str, float]:
    """``{ladder CSV column: value}`` of a :func:`component_metrics` table (see :func:`ladder_column_names`)."""
    metric_of = (lambda label: accuracy_metric) if isinstance(accuracy_metric, str) else accuracy_metric.get
    out: dict[str, float] = {}
    for row in metrics.itertuples(index=False):
        for metric, column in ladder_column_names(row.label, metric_of(row.label)).items():
            out[column] = float(getattr(row, metric))
    return out
