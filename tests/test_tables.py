"""Table rendering in every format, and atomic writes."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest

from taskladder.report.tables import FORMATS, atomic_write_text, render_table, to_jsonable, write_table


@pytest.fixture()
def frame() -> pd.DataFrame:
    return pd.DataFrame({
        "task_name": ["arc_easy", "a|b"],
        "acc_%": [71.25, np.nan],
        "n": [np.int64(3), np.int64(12)],
        "ok": [True, False],
    })


def test_markdown(frame):
    text = render_table(frame, "markdown", digits=2)
    assert text.splitlines() == [
        "| task_name | acc_% | n | ok |",
        "|---|---:|---:|---|",
        "| arc_easy | 71.25 | 3 | yes |",
        "| a\\|b | — | 12 | no |",  # pipes in cells are escaped; NaN is a dash
    ]


def test_latex_escapes_specials(frame):
    text = render_table(frame, "latex", digits=1)
    lines = text.splitlines()
    assert lines[0] == r"\begin{tabular}{lrrl}"
    assert lines[2] == r"task\_name & acc\_\% & n & ok \\"
    assert lines[4] == r"arc\_easy & 71.2 & 3 & yes \\"
    assert lines[-1] == r"\end{tabular}"
    weird = render_table(pd.DataFrame({"x": ["50% & $5 #1 {a}_b ~ ^ \\"]}), "latex")
    assert r"50\% \& \$5 \#1 \{a\}\_b \textasciitilde{} \^{} \textbackslash{}" in weird


def test_json_nan_is_null(frame):
    records = json.loads(render_table(frame, "json"))
    assert records[0] == {"task_name": "arc_easy", "acc_%": 71.25, "n": 3, "ok": True}
    assert records[1]["acc_%"] is None
    assert "NaN" not in render_table(frame, "json")


def test_csv_round_trips(frame, tmp_path):
    back = pd.read_csv(pd.io.common.StringIO(render_table(frame, "csv")))
    pd.testing.assert_frame_equal(back, frame, check_dtype=False)


def test_text_aligns_columns(frame):
    lines = render_table(frame, "text", digits=3).splitlines()
    assert lines[0].split() == ["task_name", "acc_%", "n", "ok"]
    assert set(lines[1].replace(" ", "")) == {"-"}
    assert lines[2].split() == ["arc_easy", "71.250", "3", "yes"]
    # Numbers are right-aligned: their last characters line up with the header's.
    assert lines[2].index("71.250") + len("71.250") == lines[0].index("acc_%") + len("acc_%")


def test_small_and_large_numbers_use_exponents():
    text = render_table(pd.DataFrame({"v": [1.5e-9, 3.9e12, 0.0]}), "text", digits=3)
    assert text.split()[2:] == ["1.5e-09", "3.9e+12", "0.000"]


def test_unknown_format(frame):
    with pytest.raises(ValueError, match="unknown table format 'html'"):
        render_table(frame, "html")
    assert set(FORMATS) == {"text", "csv", "json", "markdown", "latex"}


def test_to_jsonable():
    value = {"a": np.float32(1.5), "b": [np.int64(2), np.nan, np.inf], "c": np.array([True, False]),
             "d": np.bool_(True), "e": pd.NA, 3: "x"}
    assert to_jsonable(value) == {"a": 1.5, "b": [2, None, None], "c": [True, False], "d": True, "e": None,
                                  "3": "x"}
    assert json.dumps(to_jsonable(value), allow_nan=False)


@pytest.mark.parametrize("suffix, fmt", [(".csv", "csv"), (".json", "json"), (".md", "markdown"),
                                         (".tex", "latex"), (".txt", "text"), (".MD", "markdown")])
def test_write_table_by_suffix(frame, tmp_path, suffix, fmt):
    path = write_table(frame, tmp_path / "out" / f"table{suffix}", digits=3)
    assert path.read_text(encoding="utf-8") == render_table(frame, fmt, digits=3)
    assert sorted(os.listdir(path.parent)) == [path.name]  # no temporary files left behind


def test_write_table_unknown_suffix(frame, tmp_path):
    with pytest.raises(ValueError, match=r"cannot tell the table format of .*table\.xlsx"):
        write_table(frame, tmp_path / "table.xlsx")
    assert not (tmp_path / "table.xlsx").exists()


def test_atomic_write_replaces_and_cleans_up(tmp_path):
    path = tmp_path / "f.txt"
    atomic_write_text(path, "old")
    atomic_write_text(path, "new")
    assert path.read_text() == "new"
    assert os.listdir(tmp_path) == ["f.txt"]


def test_atomic_write_failure_keeps_old_file(tmp_path, monkeypatch):
    path = tmp_path / "f.txt"
    atomic_write_text(path, "old")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_text(path, "new")
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["f.txt"]
