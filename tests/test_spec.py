"""Ladder spec TOML: resolution of paths, sizes and defaults; one clear error per mistake."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from taskladder.errors import ConfigError
from taskladder.io.spec import load_spec, parse_target, parse_token_count
from taskladder.sizes import get_size


def _write(tmp_path: Path, text: str, name: str = "my-ladder.toml") -> Path:
    path = tmp_path / "specs" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


GOOD = """
description = "two runs and a target"

[[run]]
file = "../runs/190M-1xC.csv"
size = "190M"

[[run]]
name = "custom"
file = "/abs/custom.csv"
n_params = 123456789
flops_per_token = 7.5e8
tokens = "2.5B"

[[run]]
name = "big"
size = "1B"
tokens = 4e12
role = "target"
"""


def test_load_spec_happy_path(tmp_path):
    path = _write(tmp_path, GOOD)
    spec = load_spec(path)
    assert spec.name == "my-ladder"  # from the file stem
    assert spec.path == path and spec.description == "two runs and a target"
    first, custom, big = spec.runs

    assert first.name == "190M-1xC"  # from the file name
    assert first.file == path.parent / "../runs/190M-1xC.csv"  # relative to the spec file
    assert first.file.resolve() == (tmp_path / "runs" / "190M-1xC.csv").resolve()
    assert first.role == "train"  # default role
    assert first.size == "190M"
    assert first.n_params == get_size("190M").n_params == 190354176
    assert first.flops_per_token == get_size("190M").flops_per_token
    assert first.tokens is None

    assert custom.file == Path("/abs/custom.csv")
    assert custom.n_params == 123456789 and custom.size is None
    assert custom.flops_per_token == 7.5e8
    assert custom.tokens == 2.5e9

    assert big.role == "target" and big.file is None
    assert big.size == "1.3B"  # the reference's alias
    assert big.n_params == get_size("1.3B").n_params
    assert big.tokens == 4e12
    assert [r.name for r in spec.train_runs] == ["190M-1xC", "custom"]
    assert [r.name for r in spec.targets] == ["big"]


def test_explicit_name_and_known_n_params(tmp_path):
    n = get_size("760M").n_params
    spec = load_spec(_write(tmp_path, f'name = "x"\n[[run]]\nfile = "a.csv"\nn_params = {n}\n'))
    assert spec.name == "x"
    # N of a known size brings its FLOPs per token along (compute forms need them).
    assert spec.runs[0].flops_per_token == get_size("760M").flops_per_token


def test_with_targets(tmp_path):
    spec = load_spec(_write(tmp_path, GOOD))
    extra = parse_target("13B-5T:13B:5T")
    assert [r.name for r in spec.with_targets([extra]).targets] == ["big", "13B-5T"]
    assert [r.name for r in spec.with_targets([extra], replace=True).targets] == ["13B-5T"]
    with pytest.raises(ConfigError, match="'big' is already used"):
        spec.with_targets([parse_target("big:7B:4T")])


def _error(tmp_path: Path, text: str) -> str:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_spec(path)
    message = str(info.value)
    assert str(path) in message, message  # every error names the file
    assert "\n" not in message
    return message


RUN = '[[run]]\nfile = "a.csv"\nn_params = 1000000\n'


@pytest.mark.parametrize("text, expected", [
    ('[[run]\nfile = "a.csv"\n', r"TOML syntax error: .*line 1"),
    ('nme = "typo"\n' + RUN, r"unknown key\(s\) 'nme'; allowed top-level keys: description, name, run"),
    ('[[run]]\nfile = "a.csv"\nn_param = 5\n', r"run #1: unknown key\(s\) 'n_param'; allowed keys: .*n_params"),
    ('[[run]]\nfile = "a.csv"\nsize = "42M"\n', r"run 'a': unknown size '42M'; known sizes: .*190M"),
    (RUN + RUN, r"two runs are named 'a'"),
    (RUN.replace("\n", '\nrole = "target"\n', 1), r"no run has role = \"train\""),
    (RUN + '[[run]]\nname = "t"\nn_params = 5\nrole = "target"\n', r"run 't': a target without a file needs tokens"),
    ('[[run]]\nfile = "a.csv"\nn_params = 5\nrole = "eval"\n', r"run 'a': role must be one of .*got 'eval'"),
    ('[[run]]\nname = "t"\nn_params = 5\n', r"run 't': a train run needs a file"),
    ('[[run]]\nfile = "a.csv"\n', r"run 'a': needs size \(a known label\) or n_params"),
    ('[[run]]\nfile = "a.csv"\nn_params = 1.5\n', r"run 'a': n_params must be a whole number"),
    ('[[run]]\nfile = "a.csv"\nn_params = "lots"\n', r"run 'a': n_params: cannot read 'lots'"),
    ('[[run]]\nfile = "a.csv"\nn_params = 5\ntokens = -3\n', r"run 'a': tokens: must be a positive number"),
    ('[[run]]\nfile = "a.csv"\nn_params = true\n', r"run 'a': n_params must be a number"),
    ('[[run]]\nfile = "a.csv"\nsize = 190\n', r"run 'a': size must be a label string"),
    ('[[run]]\nfile = 3\nn_params = 5\n', r"run #1: file must be a path string"),
    ('name = "x"\n', r"no \[\[run\]\] tables"),
    ('run = 3\n', r"no \[\[run\]\] tables"),
])
def test_spec_errors(tmp_path, text, expected):
    message = _error(tmp_path, text)
    assert re.search(expected, message), message


def test_missing_spec_file(tmp_path):
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match=re.escape(f"{missing}: spec file not found")):
        load_spec(missing)


def test_syntax_error_reports_line_and_column(tmp_path):
    message = _error(tmp_path, RUN + 'role = "train\n')
    assert re.search(r"line 4, column \d+", message), message


def test_non_utf8_spec(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes('name = "caf\xe9"\n'.encode("latin-1"))
    with pytest.raises(ConfigError, match="not a UTF-8 text file"):
        load_spec(path)


# --- command-line targets ------------------------------------------------------------------------

def test_parse_target_with_counts():
    t = parse_target("7B:6887575552:3.945e12")
    assert (t.name, t.role, t.file, t.n_params, t.tokens) == ("7B", "target", None, 6887575552, 3.945e12)
    # This N is the 7B model's, so its FLOPs per token are known.
    assert t.flops_per_token == get_size("7B").flops_per_token
    custom = parse_target("x:1.5e9:2T")
    # Neither a size label nor FLOPs per token: the standard estimate 6 N, and it says so.
    assert (custom.n_params, custom.tokens, custom.flops_per_token, custom.size) == (1_500_000_000, 2e12, 9e9, None)
    assert custom.flops_source == "6N" and t.flops_source == "size"


def test_parse_target_size_label_is_a_label_not_a_count():
    # "13B" names the 13B model (N = 13202396160), not 13e9 parameters.
    t = parse_target("13B-5T:13B:5T")
    assert (t.name, t.size, t.n_params, t.tokens) == ("13B-5T", "13B", 13202396160, 5e12)
    assert t.flops_per_token == get_size("13B").flops_per_token
    assert parse_target("a:1B:1T").n_params == get_size("1.3B").n_params


@pytest.mark.parametrize("text, expected", [
    ("7B:6887575552", "expected NAME:N:D"),
    ("7B:6887575552:3e12:x", "expected NAME:N:D"),
    (":13B:5T", "expected NAME:N:D"),
    ("x:lots:5T", r"N must be a parameter count or a known size label \(.*13B\), got 'lots'"),
    ("x:13B:soon", r"D: cannot read 'soon' as a count"),
    ("x:13B:-1", r"D: cannot read '-1'"),
    ("x:13B:0", r"D: must be a positive number"),
])
def test_parse_target_errors(text, expected):
    with pytest.raises(ConfigError, match=expected) as info:
        parse_target(text)
    assert repr(text) in str(info.value)


def test_parse_token_count():
    assert parse_token_count("3945065873408") == 3945065873408
    assert parse_token_count("3.945e12") == 3.945e12
    assert parse_token_count("4t") == 4e12
    assert parse_token_count("500M") == 5e8
    assert parse_token_count(" 2 K ") == 2000
    assert parse_token_count(7) == 7.0
    for bad in ("4X", "", "nan", "inf"):
        with pytest.raises(ConfigError):
            parse_token_count(bad)
    with pytest.raises(ConfigError):
        parse_token_count(float("inf"))
