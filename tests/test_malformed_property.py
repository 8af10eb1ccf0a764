"""Property: any malformed record, metadata or mechanism file is refused cleanly.

Hypothesis breaks a valid file in one way a user might (a missing or wrongly
typed field, an out-of-contract value, bytes that are not UTF-8, a torn line)
and runs the real ``acard`` entry point on it. Whatever the break, the result is
exit 2, exactly one line on stderr that names the file, no traceback, and no
card written.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from acceptance_cards.synthetic import example_mechanism
from helpers import run_cli, write_jsonl

STRING_FIELDS = ("cell", "task", "split", "question_id", "subject", "template_id", "framing")
SETTINGS = settings(max_examples=40, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


def _rows() -> list[dict[str, Any]]:
    rows = []
    for split in ("heldout", "fresh"):
        for q in range(3):
            for framing in ("eval", "deploy"):
                rows.append(dict(cell="c", task="sandbagging", split=split, question_id=f"{split}-q{q}",
                                 subject="anatomy" if split == "heldout" else "law",
                                 template_id=f"{framing}-0", framing=framing, correct=(q + len(framing)) % 2))
    return rows


def _check(argv: list[str], bad: Path, out: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(argv, capsys)
    assert code == 2, err
    assert "Traceback" not in err
    assert err.startswith("acard: error: ") and err.count("\n") == 1, err
    assert bad.name in err, err
    assert not out.exists()


# -------------------------------------------------------------- strategies

not_a_string = st.one_of(st.none(), st.booleans(), st.floats(allow_nan=True),
                         st.lists(st.integers(), max_size=2),
                         st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))
bad_rate = st.one_of(
    st.none(), st.text(max_size=5),  # JSONL is typed: no strings, not even "1" or "yes"
    st.floats(allow_nan=True).filter(lambda x: not 0.0 <= x <= 1.0),
    st.integers().filter(lambda x: x not in (0, 1)), st.lists(st.integers(), max_size=2),
)


@st.composite
def broken_records(draw: st.DrawFn) -> bytes:
    rows = _rows()
    i = draw(st.integers(0, len(rows) - 1))
    kind = draw(st.sampled_from(["drop", "type", "rate", "enum", "utf8", "torn", "non_object", "dup"]))
    if kind == "drop":
        del rows[i][draw(st.sampled_from([*STRING_FIELDS, "correct"]))]
    elif kind == "type":
        rows[i][draw(st.sampled_from(STRING_FIELDS))] = draw(not_a_string.filter(
            lambda v: isinstance(v, bool) or not isinstance(v, int)))
    elif kind == "rate":  # a null `valid` means "not recorded", so it is not a break
        name = draw(st.sampled_from(["correct", "valid"]))
        rows[i][name] = draw(bad_rate.filter(lambda v: v is not None or name == "correct"))
    elif kind == "enum":
        name = draw(st.sampled_from(["framing", "split"]))
        rows[i][name] = draw(st.text(min_size=1, max_size=8).filter(
            lambda s: s.strip() not in ("eval", "deploy", "heldout", "fresh")))
    lines = [json.dumps(r).encode() for r in rows]
    if kind == "utf8":
        at = draw(st.integers(0, len(lines[i])))
        junk = draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x80"]))
        lines[i] = lines[i][:at] + junk + lines[i][at:]
    elif kind == "torn":
        lines[i] = lines[i][: draw(st.integers(0, len(lines[i]) - 1))] or b"{"
    elif kind == "non_object":
        lines[i] = json.dumps(draw(st.one_of(st.lists(st.integers(), max_size=2), st.integers(),
                                             st.text(max_size=4)))).encode()
    elif kind == "dup":
        lines.append(lines[i])
    return b"\n".join(lines) + b"\n"


@st.composite
def broken_metadata(draw: st.DrawFn) -> bytes:
    meta: dict[str, Any] = {"title": "t", "notes": ["n"], "model": {"family": "f"},
                            "recipe": {"lora_rank": 8, "learning_rate": 1e-4},
                            "compute": {"training_time_s": 1.0}}
    kind = draw(st.sampled_from(["title", "notes", "section", "sub", "unknown", "nonfinite", "utf8"]))
    if kind == "title":
        meta["title"] = draw(not_a_string.filter(lambda v: v is not None))
    elif kind == "notes":
        meta["notes"] = draw(st.one_of(
            st.text(min_size=1, max_size=6), st.integers(),
            st.lists(st.one_of(st.integers(), st.none(), st.booleans()), min_size=1)))
    elif kind == "section":
        meta[draw(st.sampled_from(["model", "recipe", "compute"]))] = draw(
            st.one_of(st.text(max_size=4), st.integers(), st.lists(st.integers(), max_size=2)))
    elif kind == "sub":
        meta["recipe"][draw(st.sampled_from(["lora_rank", "steps"]))] = draw(
            st.one_of(st.text(max_size=5), st.floats(allow_nan=False).filter(lambda x: x != int(x) if
                                                                             abs(x) < 1e300 else True),
                      st.lists(st.integers(), max_size=2)))
    elif kind == "unknown":
        meta[draw(st.text(min_size=1, max_size=8).filter(lambda k: k not in meta))] = 1
    elif kind == "nonfinite":
        meta["compute"]["training_time_s"] = draw(st.sampled_from([math.nan, math.inf, -math.inf]))
    data = json.dumps(meta).encode()
    if kind == "utf8":
        at = draw(st.integers(0, len(data)))
        data = data[:at] + b"\xff" + data[at:]
    return data


@st.composite
def broken_mechanism(draw: st.DrawFn) -> bytes:
    mech = example_mechanism().model_dump(mode="json")
    number_fields = ["dot_t", "dot_a", "norm_gt", "norm_ga", "norm_dw"]
    kind = draw(st.sampled_from(["drop", "type", "negative", "nonfinite", "ncal", "slice", "rho", "utf8"]))
    if kind == "drop":
        del mech[draw(st.sampled_from([*number_fields, "slice", "n_calibration"]))]
    elif kind == "type":
        mech[draw(st.sampled_from(number_fields))] = draw(st.one_of(
            st.none(), st.booleans(), st.text(max_size=4), st.lists(st.integers(), max_size=2)))
    elif kind == "negative":
        mech[draw(st.sampled_from(["norm_gt", "norm_ga", "norm_dw"]))] = draw(
            st.floats(max_value=-1e-300, allow_nan=False, allow_infinity=False))
    elif kind == "nonfinite":
        mech[draw(st.sampled_from(number_fields))] = draw(st.sampled_from([float("nan"), float("inf")]))
    elif kind == "ncal":
        mech["n_calibration"] = draw(st.one_of(st.integers(max_value=0), st.booleans(), st.text(max_size=3),
                                               st.floats(allow_nan=False).filter(lambda x: x != int(x) if
                                                                                 abs(x) < 1e300 else True)))
    elif kind == "slice":
        mech["slice"] = draw(st.one_of(st.just([]), st.just([""]), st.text(max_size=4),
                                       st.lists(st.integers(), min_size=1, max_size=2)))
    elif kind == "rho":
        lo = draw(st.floats(-1e6, 1e6))
        hi = draw(st.floats(-1e6, 1e6).filter(lambda h: h < lo))
        mech["rho_ci"] = draw(st.sampled_from([[lo, hi], [lo], [lo, lo, lo], [True, False],
                                               [math.nan, lo]]))
    data = json.dumps(mech).encode()
    if kind == "utf8":
        at = draw(st.integers(0, len(data)))
        data = data[:at] + b"\xfe" + data[at:]
    return data


# -------------------------------------------------------------- properties


@contextmanager
def _folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="acard-prop-") as tmp:
        d = Path(tmp)
        write_jsonl(d / "good.jsonl", _rows())
        yield d


@SETTINGS
@given(data=broken_records(), command=st.sampled_from(["validate", "card"]))
def test_malformed_records_are_refused(data: bytes, command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with _folder() as d:
        bad, out = d / "bad.jsonl", d / "card.json"
        bad.write_bytes(data)
        argv = (["validate", str(bad)] if command == "validate" else
                ["card", "-b", str(bad), "-d", str(d / "good.jsonl"), "--resamples", "200", "-o", str(out)])
        _check(argv, bad, out, capsys)


@SETTINGS
@given(data=broken_metadata())
def test_malformed_metadata_is_refused(data: bytes, capsys: pytest.CaptureFixture[str]) -> None:
    with _folder() as d:
        bad, out = d / "meta.json", d / "card.json"
        bad.write_bytes(data)
        good = str(d / "good.jsonl")
        _check(["card", "-b", good, "-d", good, "--resamples", "200", "--meta", str(bad), "-o", str(out)],
               bad, out, capsys)


@SETTINGS
@given(data=broken_mechanism())
def test_malformed_mechanism_is_refused(data: bytes, capsys: pytest.CaptureFixture[str]) -> None:
    with _folder() as d:
        bad, out = d / "mech.json", d / "card.json"
        bad.write_bytes(data)
        good = str(d / "good.jsonl")
        _check(["card", "-b", good, "-d", good, "--resamples", "200", "--mechanism", str(bad),
                "-o", str(out)],
               bad, out, capsys)
