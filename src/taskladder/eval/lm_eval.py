"""Read EleutherAI lm-evaluation-harness sample logs (``--log_samples``) into the per-choice table.

``lm_eval --log_samples --output_path OUT`` writes one ``samples_{task}_{timestamp}.jsonl`` per
task, one JSON object per document. For a multiple-choice (log-likelihood) task, the fields used
here are:

``doc_id``
    the document's index;
``arguments``
    the requests, one per choice: ``{"gen_args_0": {"arg_0": context, "arg_1": continuation}, ...}``
    (harness ≥ 0.4.3) or ``[[context, continuation], ...]`` (earlier 0.4 releases);
``filtered_resps``
    one ``[log-likelihood, is_greedy]`` pair per request (numbers or their string forms);
``target``
    the gold answer: its index, or its text (matched against the continuations, without the
    leading delimiter).

From these, every metric of :mod:`taskladder.eval.metrics` follows except the per-token
normalisation (the harness does not log token counts; ``acc_per_token`` is NaN). The label of a
file is its task name (``samples_arc_easy_2024-...jsonl`` → ``arc_easy``), so the columns are
``eval/downstream_bpb/arc_easy_bpb`` and so on; BoolQ ranks by the raw sum (``_acc``), the rest
per character (``_len_norm``), like the harness's ``acc_norm``.

Nothing here imports torch.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd

from ..errors import DataError
from ..io.jsonl import iter_jsonl
from .metrics import CHOICE_COLUMNS

__all__ = ["read_lm_eval_samples", "task_name_of"]

_FILE = re.compile(r"^samples_(?P<task>.+?)_(?P<stamp>\d{4}-\d{2}-\d{2}T[0-9.:\-]+)\.jsonl$")
_RAW_SUM_TASKS = ("boolq",)


def task_name_of(path: str | Path) -> str:
    """Task name of a sample log from its file name (``samples_{task}_{timestamp}.jsonl``), else its stem."""
    name = Path(path).name
    match = _FILE.match(name)
    if match:
        return match.group("task")
    stem = name[:-len(".jsonl")] if name.endswith(".jsonl") else Path(name).stem
    return stem[len("samples_"):] if stem.startswith("samples_") else stem


_GEN_ARGS = re.compile(r"^gen_args_(\d+)$")
#: A log-likelihood this far above zero is rounding (a sum of float32 log-probabilities of ~0), not data.
_LOGLIK_ROUNDING = 1e-4


def _requests(record: dict, where: str) -> list[tuple[str, str]]:
    args = record.get("arguments")
    pairs: list = []
    if isinstance(args, dict):
        numbered = sorted((int(m.group(1)), k) for k in args if isinstance(k, str) and (m := _GEN_ARGS.match(k)))
        pairs = [(args[k].get("arg_0"), args[k].get("arg_1")) if isinstance(args[k], dict) else (None, None)
                 for _, k in numbered]
    elif isinstance(args, list):
        pairs = [tuple(a[:2]) if isinstance(a, (list, tuple)) and len(a) >= 2 else (None, None) for a in args]
    if not pairs or not all(isinstance(c, str) and isinstance(t, str) for c, t in pairs):
        raise DataError(f"{where}: 'arguments' must hold (context, continuation) string pairs, got {args!r:.120}")
    empty = [j for j, (_, cont) in enumerate(pairs) if not cont]
    if empty:
        raise DataError(f"{where}: choice {empty[0]} has an empty continuation (its bits per byte would be "
                        "infinite; a log-likelihood request scores a non-empty answer)")
    return pairs


def _loglik(value: object, where: str) -> float:
    pair = value[0] if isinstance(value, list) and value and isinstance(value[0], list) else value
    raw = pair[0] if isinstance(pair, (list, tuple)) and pair else pair
    if isinstance(raw, bool):
        raw = None
    try:
        out = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise DataError(f"{where}: response {value!r:.80} is not a log-likelihood") from None
    if not math.isfinite(out):
        raise DataError(f"{where}: log-likelihood {out} is not a finite number")
    if out > _LOGLIK_ROUNDING:
        raise DataError(f"{where}: log-likelihood {out:g} is above 0 (a log-probability is at most 0; "
                        "is this a loss or a negated value?)")
    return min(out, 0.0)


def _doc_id(record: dict, where: str) -> int:
    raw = record["doc_id"]
    if isinstance(raw, str) and raw.strip().isdigit():
        raw = int(raw)
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
        raise DataError(f"{where}: 'doc_id' must be a whole number >= 0, got {raw!r:.40}")
    return raw


def _whole_json(path: Path) -> object:
    """The whole file as one JSON document, or ``None`` when it is not one."""
    import json

    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None


def _results_file(path: Path) -> DataError:
    return DataError(f"{path}: an lm-evaluation-harness results file (aggregated scores), not a sample log; "
                     "run lm_eval with --log_samples and pass the samples_*.jsonl files it writes")


def _not_a_sample_log(path: Path) -> DataError | None:
    """Name a file that is one (pretty-printed) JSON document rather than JSON Lines for what it is.

    Only a file whose first line is not JSON by itself is read whole, so a sample log is read once.
    """
    import json

    try:
        with open(path, encoding="utf-8") as handle:
            first = next((line for line in handle if line.strip()), "")
        json.loads(first)
        return None
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        pass  # not JSON on its own line: perhaps one document over many lines
    document = _whole_json(path)
    if isinstance(document, dict) and "results" in document:
        return _results_file(path)
    if document is not None:
        return DataError(f"{path}: one JSON document over several lines, not a sample log (expected one JSON "
                         "object per line, as lm_eval --log_samples writes)")
    return None


def _gold(target: object, continuations: list[str], where: str) -> int:
    if isinstance(target, list) and len(target) == 1:
        target = target[0]
    if isinstance(target, bool):
        raise DataError(f"{where}: target {target!r} is neither a choice index nor a choice text")
    if isinstance(target, int) or (isinstance(target, str) and target.strip().isdigit()
                                   and target.strip() not in [c.strip() for c in continuations]):
        index = int(target)
        if not 0 <= index < len(continuations):
            raise DataError(f"{where}: target index {index} outside 0..{len(continuations) - 1}")
        return index
    if isinstance(target, str):
        stripped = [c.strip() for c in continuations]
        if target.strip() in stripped:
            return stripped.index(target.strip())
    raise DataError(f"{where}: target {target!r:.80} matches none of the {len(continuations)} choices")


def _files(paths: list[str | Path]) -> list[Path]:
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(path.rglob("samples_*.jsonl"))
            if not found:
                raise DataError(f"{path}: no samples_*.jsonl files (write them with lm_eval --log_samples)")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise DataError(f"lm-eval sample file {path} does not exist")
    return files


def read_lm_eval_samples(paths: str | Path | list[str | Path]) -> tuple[pd.DataFrame, dict[str, str]]:
    """Per-choice table and ``{label: accuracy metric}`` from lm-evaluation-harness sample logs.

    Parameters
    ----------
    paths
        ``samples_*.jsonl`` files, or folders searched for them.

    Raises
    ------
    DataError
        Missing or empty file, a line that is not JSON (an aggregated results file is named as
        such), a document without log-likelihood requests or listed twice, an empty continuation,
        a response count that differs from the request count, a log-likelihood that is not finite
        or is above 0, or an unmatched target.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    rows = []
    metric_of: dict[str, str] = {}
    for path in _files(list(paths)):
        label = task_name_of(path)
        if label in metric_of:
            raise DataError(f"{path}: a second sample file for task {label!r}")
        metric_of[label] = "acc" if label in _RAW_SUM_TASKS else "len_norm"
        whole = _not_a_sample_log(path)
        if whole is not None:
            raise whole
        count = 0
        first_line: dict[int, str] = {}
        for where, record in iter_jsonl(path):
            if isinstance(record, dict) and "results" in record and "doc_id" not in record:
                raise _results_file(path)
            if not isinstance(record, dict) or "doc_id" not in record or "target" not in record:
                raise DataError(f"{where}: missing 'doc_id' or 'target' (not an lm-eval sample log?)")
            doc_id = _doc_id(record, where)
            if doc_id in first_line:
                raise DataError(f"{where}: document {doc_id} again (first on line {first_line[doc_id]}); a sample "
                                "log holds each document once (two logs concatenated?)")
            first_line[doc_id] = where.rsplit(":", 1)[1]
            pairs = _requests(record, where)
            responses = record.get("filtered_resps", record.get("resps"))
            if not isinstance(responses, list) or len(responses) != len(pairs):
                raise DataError(f"{where}: {len(pairs)} requests but "
                                f"{len(responses) if isinstance(responses, list) else 'no'} responses")
            continuations = [cont for _, cont in pairs]
            gold = _gold(record["target"], continuations, where)
            for j, ((_, cont), resp) in enumerate(zip(pairs, responses)):
                # The paper's normalisation drops the delimiter the harness puts before an answer;
                # an answer logged without one keeps its first character.
                trimmed = cont[1:] if cont[0].isspace() else cont
                rows.append((label, doc_id, j, j == gold, _loglik(resp, where), math.nan,
                             len(cont), len(cont.encode("utf-8")), len(trimmed), len(trimmed.encode("utf-8"))))
            count += 1
        if count == 0:
            raise DataError(f"{path}: sample file is empty")
    return pd.DataFrame(rows, columns=list(CHOICE_COLUMNS)), metric_of
