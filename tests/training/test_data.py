import calendar
import datetime
import json
import re
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from training.data import DataError, Example, LoadedData, load_examples, read_table
from training.demo_data import demo_rows
from training.prompts import has_instruction

GT_CSV = Path(__file__).resolve().parents[3] / "shared" / "data" / "nover" / "gt.csv"  # ../shared


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# ---- reading files --------------------------------------------------------------------------------------

ROWS = [
    {"prompt": 'Say "hi", twice,\nplease', "reference": "007", "split": "train"},
    {"prompt": "What is missing?", "reference": "NA", "split": "train"},
    {"prompt": "  padded  ", "reference": "\tanswer\n", "split": "test"},
]


def check_round_trip(data: LoadedData) -> None:
    assert [(e.prompt, e.reference, e.split) for e in data.examples] == [
        ('Say "hi", twice,\nplease', "007", "train"),  # text stays text: no 7 from "007"
        ("What is missing?", "NA", "train"),  # "NA" is an answer, not a missing value
    ]
    assert data.columns == ("prompt", "reference", "split")
    assert data.skipped == ()


def test_csv_round_trip(tmp_path):
    path = tmp_path / "rows.csv"
    pd.DataFrame(ROWS).to_csv(path, index=False)
    check_round_trip(load_examples(str(path)))


def test_jsonl_round_trip_turns_numbers_into_text_and_ignores_blank_lines(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text(
        "\n".join(json.dumps(row) for row in ROWS)
        + "\n\n"
        + json.dumps({"prompt": "1+1?", "reference": 2, "split": "train"})
        + "\n"
    )
    data = load_examples(str(path))
    assert data.examples[-1].reference == "2"
    assert len(data.examples) == 3


def test_parquet_round_trip(tmp_path):
    path = tmp_path / "rows.parquet"
    pd.DataFrame(ROWS).to_parquet(path)
    check_round_trip(load_examples(str(path)))


def test_test_split_rows_are_stripped(tmp_path):
    path = tmp_path / "rows.csv"
    pd.DataFrame(ROWS).to_csv(path, index=False)
    (example,) = load_examples(str(path), split="test").examples
    assert (example.prompt, example.reference, example.split) == ("padded", "answer", "test")
    assert example.id == "row 3"  # its row in the file, whatever the split left out before it


def test_example_ids_are_row_numbers_so_identical_rows_stay_two_examples(tmp_path):
    path = write_csv(tmp_path / "dup.csv", "prompt,reference\nq,a\n,x\nq,a\n")
    data = load_examples(str(path))
    assert [(e.id, e.prompt) for e in data.examples] == [("row 1", "q"), ("row 3", "q")]
    assert load_examples(str(path)).examples == data.examples  # the same file gives the same ids every time


def test_missing_cells_are_none(tmp_path):
    table = read_table(write_csv(tmp_path / "t.csv", "prompt,reference\nq,\n,r\n"))
    assert table.to_dict("records") == [{"prompt": "q", "reference": None}, {"prompt": None, "reference": "r"}]


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("bad.csv", "prompt,reference\nq1,r1\nq2,r2,extra\n", "bad.csv is not a readable CSV file"),
        ("bad.csv", 'prompt,reference\n"q1,r1\n', "bad.csv is not a readable CSV file"),
        ("bad.jsonl", '{"prompt": "q", "reference": "r"}\n{"prompt": "q2", \n', "bad.jsonl line 2 is not valid JSON"),
        ("list.jsonl", '["q", "r"]\n', "list.jsonl line 1 is a JSON list, not an object"),
        ("bad.parquet", "prompt,reference\nq,r\n", "bad.parquet is not a readable Parquet file"),
        ("empty.csv", "", "empty.csv is empty"),
        ("blank.jsonl", "\n\n", "blank.jsonl has only blank lines"),
        (
            "rows.txt",
            "prompt,reference\n",
            "rows.txt: unknown file type '.txt'; use one of .csv, .jsonl, .json, .parquet",
        ),
    ],
)
def test_unreadable_files_say_what_is_wrong(tmp_path, name, content, message):
    with pytest.raises(DataError, match=re.escape(message)):
        read_table(write_csv(tmp_path / name, content))


def test_missing_file_is_not_mistaken_for_a_hub_id(tmp_path):
    with pytest.raises(DataError, match="data file not found: .*nope.csv; check the path"):
        load_examples(str(tmp_path / "nope.csv"))


def test_oversized_file_names_its_size_and_the_limit(tmp_path):
    path = write_csv(tmp_path / "big.csv", "prompt,reference\n" + "question,answer\n" * 100)
    with pytest.raises(DataError, match=r"big.csv is 1.6 KB, over the 1.0 KB limit; use a smaller file"):
        read_table(path, max_bytes=1024)
    assert len(read_table(path, max_bytes=path.stat().st_size)) == 100


def test_a_json_array_file_is_accepted(tmp_path):
    path = tmp_path / "rows.json"
    path.write_text(json.dumps([{"prompt": "q", "reference": "r"}]))
    assert [(e.prompt, e.reference, e.split) for e in load_examples(str(path)).examples] == [("q", "r", None)]


# ---- choosing and cleaning rows -------------------------------------------------------------------------


def test_missing_columns_are_named_with_the_columns_that_exist(tmp_path):
    path = write_csv(tmp_path / "qa.csv", "question,answer\nq,a\n")
    with pytest.raises(DataError) as err:
        load_examples(str(path), reference_column="answer")
    assert str(err.value).startswith(f"{path}: no column 'prompt'; the columns are 'question', 'answer'")
    with pytest.raises(DataError, match="no column 'prompt' or 'reference'"):
        load_examples(str(path))
    assert load_examples(str(path), prompt_column="question", reference_column="answer").examples[0].prompt == "q"


def test_rows_with_empty_prompt_or_reference_are_skipped_and_reported(tmp_path):
    path = write_csv(tmp_path / "gaps.csv", 'prompt,reference\nq1,r1\nq2,\n"  ",r3\nq4,"   "\nq5,r5\n,\n')
    data = load_examples(str(path))
    assert [e.prompt for e in data.examples] == ["q1", "q5"]
    assert data.skipped == (
        (2, "empty reference"),
        (3, "empty prompt"),
        (4, "empty reference"),
        (6, "empty prompt and reference"),
    )
    assert data.summary() == (
        "2 usable rows of 6 (4 skipped: 2 empty reference, 1 empty prompt, 1 empty prompt and reference)"
    )


def test_no_usable_rows_is_an_error(tmp_path):
    path = write_csv(tmp_path / "void.csv", "prompt,reference\nq1,\n,r2\n")
    with pytest.raises(
        DataError,
        match="has no usable rows: all 2 rows have an empty prompt or reference "
        r"\(first: row 1, empty reference\)",
    ):
        load_examples(str(path))
    with pytest.raises(DataError, match="header.csv has no rows"):
        load_examples(str(write_csv(tmp_path / "header.csv", "prompt,reference\n")))


def test_split_filtering(tmp_path):
    path = write_csv(tmp_path / "split.csv", "prompt,reference,split\na,1,train\nb,2,test\nc,3,train\nd,4, test \n")
    assert [e.prompt for e in load_examples(str(path)).examples] == ["a", "c"]
    assert [(e.prompt, e.split) for e in load_examples(str(path), split="test").examples] == [
        ("b", "test"),
        ("d", "test"),
    ]
    assert [e.split for e in load_examples(str(path), split=None).examples] == ["train", "test", "train", "test"]
    # Without a split column every row is used, whatever split was asked for.
    no_column = load_examples(str(path), split_column="fold", split="validation")
    assert [e.split for e in no_column.examples] == [None] * 4


def test_unknown_split_lists_the_splits_present(tmp_path):
    path = write_csv(tmp_path / "split.csv", "prompt,reference,split\na,1,train\nb,2,test\n")
    with pytest.raises(DataError, match="no rows of split 'validation'; the 'split' column holds 'test', 'train'"):
        load_examples(str(path), split="validation")


def test_max_rows_counts_usable_rows_in_file_order(tmp_path):
    path = write_csv(tmp_path / "rows.csv", "prompt,reference\na,1\nb,\nc,3\nd,4\n")
    data = load_examples(str(path), max_rows=2)
    assert [e.prompt for e in data.examples] == ["a", "c"]
    assert data.summary() == "3 usable rows of 4 (1 skipped: 1 empty reference); using the first 2"
    with pytest.raises(DataError, match="max_rows must be at least 1"):
        load_examples(str(path), max_rows=0)


def test_the_real_nover_file_loads_its_train_rows_with_the_instruction_in_place():
    data = load_examples(str(GT_CSV))
    assert len(data.examples) == 2000 and data.skipped == ()
    assert {e.split for e in data.examples} == {"train"}
    assert all(has_instruction(e.prompt, "think", "answer") for e in data.examples)
    assert data.examples[0].prompt.startswith("Question:")  # the file's leading newline is stripped
    assert data.summary() == "2000 usable rows of 2000"


def test_a_local_dataset_folder_goes_through_hugging_face_datasets(tmp_path):
    folder = tmp_path / "ds"
    folder.mkdir()
    pd.DataFrame({"question": ["q1", "q2", ""], "answer": [1, 2, 3]}).to_parquet(folder / "data.parquet")
    data = load_examples(str(folder), prompt_column="question", reference_column="answer")
    assert [(e.prompt, e.reference, e.split) for e in data.examples] == [("q1", "1", "train"), ("q2", "2", "train")]
    assert data.skipped == ((3, "empty prompt"),)
    with pytest.raises(DataError, match="could not load dataset .*: Unknown split"):
        load_examples(str(folder), prompt_column="question", reference_column="answer", split="test")
    (tmp_path / "empty").mkdir()
    with pytest.raises(
        DataError,
        match=r"could not load dataset .*empty'.*; check the id, or use a local "
        r"CSV/JSONL/Parquet file",
    ):
        load_examples(str(tmp_path / "empty"))


# ---- the built-in demo set ------------------------------------------------------------------------------


def test_builtin_demo_loads_its_train_split():
    data = load_examples("builtin:demo")
    assert data.skipped == () and {e.split for e in data.examples} == {"train"}
    assert isinstance(data.examples[0], Example) and len(data.examples) > 250


def test_builtin_inverse_demo_has_distinct_story_prompts_each_with_a_guideline():
    train = load_examples("builtin:inverse-demo", reference_column="guideline")
    test = load_examples("builtin:inverse-demo", reference_column="guideline", split="test")
    assert (len(train.examples), len(test.examples), train.skipped) == (16, 4, ())
    prompts = [e.prompt for e in (*train.examples, *test.examples)]
    assert len(set(prompts)) == len(prompts) and all(p.startswith("Write a") for p in prompts)
    with pytest.raises(DataError, match="no column 'reference'"):  # the guideline is its reference
        load_examples("builtin:inverse-demo")


def test_demo_rows_are_deterministic_distinct_and_split_85_15():
    rows = demo_rows()
    assert rows == demo_rows()
    assert 300 <= len(rows) <= 400
    assert len({row["prompt"] for row in rows}) == len(rows)
    assert all(set(row) == {"prompt", "reference", "split"} for row in rows)
    test_share = sum(row["split"] == "test" for row in rows) / len(rows)
    assert 0.13 <= test_share <= 0.17
    assert all(len(row["prompt"]) < 110 and len(row["reference"]) < 12 for row in rows)  # short, for a 135M model


def _days_after(day: str, n: int) -> str:
    monday = datetime.date(2024, 1, 1)  # a Monday
    start = monday + datetime.timedelta(days=list(calendar.day_name).index(day))
    return (start + datetime.timedelta(days=n)).strftime("%A")


def _next_month(month: str, step: int) -> str:
    return calendar.month_name[(list(calendar.month_name).index(month) - 1 + step) % 12 + 1]


UNITS = {"g": 1, "kg": 1000, "cm": 1, "m": 100, "km": 100_000, "minutes": 1, "hours": 60}
PER = {
    ("minutes", "hours"): 60,
    ("seconds", "minutes"): 60,
    ("centimeters", "meters"): 100,
    ("grams", "kilograms"): 1000,
    ("millimeters", "centimeters"): 10,
    ("hours", "days"): 24,
    ("days", "weeks"): 7,
    ("months", "years"): 12,
    ("meters", "kilometers"): 1000,
}


def expected_answer(prompt: str) -> tuple[str, str | None]:
    """(kind, answer) worked out from the question text alone; (kind, None) where only consistency is checked."""
    if m := re.fullmatch(r"(\w+) has (\d+) (\w+) and buys (\d+) more\. How many \3 does \1 have now\?", prompt):
        return "add", str(int(m[2]) + int(m[4]))
    if m := re.fullmatch(r"(\w+) had (\d+) (\w+) and gave (\d+) to a friend\. How many \3 does \1 have left\?", prompt):
        return "subtract", str(int(m[2]) - int(m[4]))
    if m := re.fullmatch(r"There are (\d+) \w+ with (\d+) (\w+) in each\. How many \3 are there in total\?", prompt):
        return "multiply", str(int(m[1]) * int(m[2]))
    if m := re.fullmatch(r"Which is (?:heavier|longer), ((\d+) (\w+)) or ((\d+) (\w+))\?", prompt):
        left, right = int(m[2]) * UNITS[m[3]], int(m[5]) * UNITS[m[6]]
        assert left != right, prompt
        return "compare", m[1] if left > right else m[4]
    if m := re.fullmatch(r"What day comes (?:(\d) days )?after (\w+)\?", prompt):
        return "weekday", _days_after(m[2], int(m[1] or 1))
    if m := re.fullmatch(r"Which month comes right (after|before) (\w+)\?", prompt):
        return "month", _next_month(m[2], 1 if m[1] == "after" else -1)
    if m := re.fullmatch(r"How many (\w+) are in (\d+) (\w+)\?", prompt):
        return "convert", str(int(m[2]) * PER[m[1], m[3]])
    if m := re.fullmatch(r'How many letters are in the word "([a-z]+)"\?', prompt):
        return "letters", str(len(m[1]))
    if m := re.fullmatch(r"What is the next number in the sequence ([\d, ]+)\?", prompt):
        terms = [int(t) for t in m[1].split(", ")]
        steps = {b - a for a, b in zip(terms, terms[1:])}
        assert len(terms) >= 3 and len(steps) == 1, prompt
        return "sequence", str(terms[-1] + steps.pop())
    if re.fullmatch(r'What is the opposite of "([a-z]+)"\?', prompt):
        return "opposite", None
    raise AssertionError(f"demo question of no known kind: {prompt!r}")


def test_every_demo_reference_is_correct():
    rows = demo_rows()
    kinds = Counter()
    opposites: dict[str, str] = {}
    for row in rows:
        kind, answer = expected_answer(row["prompt"])
        kinds[kind] += 1
        if answer is not None:
            assert row["reference"] == answer, row
        else:
            word = re.search(r'"(\w+)"', row["prompt"])[1]
            assert row["reference"].isalpha() and row["reference"] != word, row
            opposites[word] = row["reference"]
    assert len(kinds) == 10 and min(kinds.values()) >= 10, kinds
    # Opposites cannot be recomputed, but they must be consistent both ways and match the obvious pairs.
    for word, other in opposites.items():
        assert opposites.get(other, word) == word, (word, other)
    known = {"hot": "cold", "big": "small", "up": "down", "day": "night", "open": "closed", "early": "late"}
    known |= {other: word for word, other in known.items()}
    checked = {w: o for w, o in opposites.items() if w in known}
    assert checked and all(known[w] == o for w, o in checked.items())
    # Every kind reaches the test split, so evaluation covers what training covers.
    assert {expected_answer(row["prompt"])[0] for row in rows if row["split"] == "test"} == set(kinds)


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".json", ".parquet"])
def test_a_file_over_the_row_limit_is_refused_after_reading_one_row_too_many(tmp_path, suffix):
    rows = [{"prompt": f"q{i}", "reference": f"a{i}"} for i in range(50)]
    path = tmp_path / f"many{suffix}"
    frame = pd.DataFrame(rows)
    {
        ".csv": lambda: frame.to_csv(path, index=False),
        ".parquet": lambda: frame.to_parquet(path),
        ".jsonl": lambda: frame.to_json(path, orient="records", lines=True),
        ".json": lambda: frame.to_json(path, orient="records"),
    }[suffix]()
    with pytest.raises(DataError, match="more than 49 rows, over the limit of 49"):
        read_table(path, max_rows=49)
    assert len(read_table(path, max_rows=50)) == 50
    with pytest.raises(DataError, match="more than 10 rows"):
        load_examples(str(path), row_limit=10)
