"""Fuzzing the upload path: whatever file a person uploads, the parser answers with a DataError that says
what to do, or accepts it, and the column mapping that follows (data_summary, load_examples) does the same.

The path is the Train tab's: accept_upload (read_table, preview, column guess), then data_summary with the
guessed or typed columns; load_examples is what queueing the run calls.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nover_ui.uploads import accept_upload, data_summary
from training.data import DataError, load_examples

FUZZ = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
ADVICE = (
    "use ",
    "add ",
    "check ",
    "save ",
    "write ",
    "set ",
    "upload ",
    "rename ",
    "choose ",
    "remove ",
    "give ",
    "leave ",
    "needs ",
    "must ",
)
"""Every refusal names a fix; these are the verbs the fixes start with."""

names = st.one_of(
    st.sampled_from(["prompt", "reference", "split", "question", "answer", "", " ", "prompt"]), st.text(max_size=12)
)
cells = st.one_of(
    st.text(max_size=30),
    st.sampled_from(['"', '""', "\n", "\r\n", "a,b", "\x00", "NA", "None", "\ufeff", "é", "😀", " "]),
    st.just("x" * 70_000),
)
suffixes = st.sampled_from([".csv", ".jsonl", ".parquet", ".CSV", ".json", ".txt", ""])


def check(path: Path, prompt_column: str, reference_column: str, split_column: str, split: str) -> None:
    """The Train tab's upload then re-map, and the file as a typed-in data path; only DataErrors with advice
    may come out of the parser."""
    try:
        load_examples(str(path), prompt_column, reference_column, split_column, split or None)
    except DataError as exc:
        assert_advice(exc)
    with tempfile.TemporaryDirectory() as uploads:
        try:
            kept = accept_upload(path, Path(uploads))
        except DataError as exc:
            assert_advice(exc)
            return
        assert kept.path.is_file() and len(kept.preview) >= 1
        for columns in (
            (kept.prompt_column or prompt_column, kept.reference_column or reference_column),
            (prompt_column, reference_column),
        ):
            summary = data_summary(str(kept.path), *columns, split_column, split)
            assert summary.startswith(("Mapped:", "**Cannot use this mapping:**")), summary
            if summary.startswith("**Cannot"):
                assert any(verb in summary for verb in ADVICE), summary
            try:
                load_examples(str(kept.path), *columns, split_column, split or None, max_rows=100)
            except DataError as exc:
                assert_advice(exc)


def assert_advice(exc: DataError) -> None:
    message = str(exc)
    assert message.strip(), "empty error message"
    assert any(verb in message for verb in ADVICE), f"no advice in: {message}"


def written(tmp: str, suffix: str, data: bytes) -> Path:
    path = Path(tmp) / f"upload{suffix}"
    path.write_bytes(data)
    return path


@st.composite
def csv_bytes(draw) -> bytes:
    columns = draw(st.lists(names, min_size=1, max_size=5))
    rows = draw(st.lists(st.lists(cells, min_size=0, max_size=len(columns) + 1), max_size=6))
    delimiter = draw(st.sampled_from([",", ";", "\t", "|", " ", '"']))
    if draw(st.booleans()) and delimiter != '"':  # well-formed quoting, odd content
        out = io.StringIO()
        writer = csv.writer(out, delimiter=delimiter)
        writer.writerow(columns)
        writer.writerows(rows)
        text = out.getvalue()
    else:  # raw joins: unbalanced quotes, ragged rows
        text = "\n".join(delimiter.join(row) for row in [columns, *rows])
    text = draw(st.sampled_from(["", "\ufeff"])) + text
    return text.encode(draw(st.sampled_from(["utf-8", "utf-16", "latin-1"])), errors="replace")


json_values = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(names, inner, max_size=3),
    max_leaves=8,
)


@st.composite
def jsonl_bytes(draw) -> bytes:
    records = draw(st.lists(st.one_of(st.dictionaries(names, json_values, max_size=4), json_values), max_size=5))
    if draw(st.booleans()):
        return json.dumps(records).encode()
    lines = [json.dumps(record) for record in records]
    lines += draw(st.lists(st.text(max_size=20), max_size=2))  # now and then a line that is not JSON
    # What json.dumps never writes: escaped half surrogate pairs, deep nesting, NaN, huge numbers.
    odd = st.sampled_from(
        ['"\\ud800"', '"x\\udfff"', '"\\ud83d\\ude00"', "[" * 3000 + "]" * 3000, "NaN", "-Infinity", "1e999", "9" * 400]
    )
    lines += [f'{{"prompt": {value}, "reference": "a"}}' for value in draw(st.lists(odd, max_size=2))]
    draw(st.randoms()).shuffle(lines)
    return "\n".join(lines).encode("utf-8", errors="replace")


@st.composite
def parquet_bytes(draw) -> bytes:
    columns = draw(st.lists(names, min_size=0, max_size=4, unique=True))
    length = draw(st.integers(0, 4))
    kinds = [
        st.text(max_size=10),
        st.integers(-(2**63), 2**63 - 1),
        st.floats(),
        st.booleans(),
        st.lists(st.integers(0, 9), max_size=3),
        st.binary(max_size=8),
        st.datetimes(),
        st.dictionaries(st.sampled_from("ab"), st.integers(0, 9), min_size=1),
    ]
    frame = pd.DataFrame(
        {
            column: draw(st.lists(st.none() | draw(st.sampled_from(kinds)), min_size=length, max_size=length))
            for column in columns
        }
    )
    out = io.BytesIO()
    try:
        frame.to_parquet(out)
    except Exception:  # noqa: BLE001 - a mix pyarrow cannot write is not a file anyone can upload
        return b"PAR1"
    return out.getvalue()


mapping = st.tuples(names, names, st.sampled_from(["split", "", "prompt"]), st.sampled_from(["train", "", "test"]))


@FUZZ
@given(suffix=suffixes, data=st.binary(max_size=300), columns=mapping)
def test_random_bytes_under_any_name(suffix, data, columns):
    with tempfile.TemporaryDirectory() as tmp:
        check(written(tmp, suffix, data), *columns)


@FUZZ
@given(data=csv_bytes(), columns=mapping)
def test_random_csv(data, columns):
    with tempfile.TemporaryDirectory() as tmp:
        check(written(tmp, ".csv", data), *columns)


@FUZZ
@given(suffix=st.sampled_from([".jsonl", ".json"]), data=jsonl_bytes(), columns=mapping)
def test_random_json_lines(suffix, data, columns):
    with tempfile.TemporaryDirectory() as tmp:
        check(written(tmp, suffix, data), *columns)


@FUZZ
@given(
    data=parquet_bytes(),
    cut=st.integers(0, 64),
    flips=st.lists(st.tuples(st.integers(0), st.integers(0, 255)), max_size=3),
    columns=mapping,
)
def test_random_parquet_whole_cut_or_flipped(data, cut, flips, columns):
    damaged = bytearray(data[: len(data) - cut] if cut % 3 else data)
    for position, byte in flips:  # single bytes changed anywhere, the footer included
        if damaged:
            damaged[position % len(damaged)] = byte
    with tempfile.TemporaryDirectory() as tmp:
        check(written(tmp, ".parquet", bytes(damaged)), *columns)
