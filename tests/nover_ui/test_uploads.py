import re

import pytest

from nover_ui.uploads import (
    SessionQuota,
    UploadLimits,
    accept_upload,
    data_summary,
    mapped_preview,
    mean_prompt_chars,
)
from training.data import DataError


def plain(markdown: str) -> str:
    """Markdown as the text it shows (backslash escapes undone)."""
    return re.sub(r"\\(.)", r"\1", markdown)


def test_an_upload_is_kept_by_content_with_a_preview_and_guessed_columns(tmp_path):
    upload = tmp_path / "tmp123" / "questions.CSV"
    upload.parent.mkdir()
    upload.write_text("Question,Answer,notes\n" + "".join(f"q{i}?,a{i},{'x' * 500}\n" for i in range(8)))
    kept = accept_upload(upload, tmp_path / "uploads")
    assert kept.path.parent == tmp_path / "uploads" and kept.path.suffix == ".csv"
    assert kept.path.read_bytes() == upload.read_bytes()
    assert (kept.prompt_column, kept.reference_column) == ("Question", "Answer")
    shown = mapped_preview(kept.preview, "Question", "Answer", "split")
    assert len(shown) == 5 and shown["notes"][0].endswith("…") and len(shown["notes"][0]) < 200
    assert accept_upload(upload, tmp_path / "uploads").path == kept.path  # same bytes, same file


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("notes.txt", "hello", "unknown file type"),
        ("empty.csv", "", "is empty"),
        ("header.csv", "prompt,reference\n", "no rows"),
        ("broken.jsonl", '{"prompt": "a", "reference": "b"}\n{not json\n', "line 2"),
    ],
)
def test_bad_uploads_are_refused_and_nothing_is_kept(tmp_path, name, content, message):
    upload = tmp_path / name
    upload.write_text(content)
    with pytest.raises(DataError, match=message):
        accept_upload(upload, tmp_path / "uploads")
    assert not (tmp_path / "uploads").exists() or not any((tmp_path / "uploads").iterdir())


def test_an_upload_over_the_limit_is_refused_before_reading(tmp_path):
    upload = tmp_path / "big.csv"
    upload.write_text("prompt,reference\n" + "q,a\n" * 1000)
    with pytest.raises(DataError, match="over the"):
        accept_upload(upload, tmp_path / "uploads", UploadLimits(max_bytes=1000))
    assert not (tmp_path / "uploads").exists()


def test_an_upload_over_the_row_limit_is_refused_and_not_kept(tmp_path):
    upload = tmp_path / "many.csv"
    upload.write_text("prompt,reference\n" + "q,a\n" * 11)
    with pytest.raises(DataError, match="more than 10 rows, over the limit of 10"):
        accept_upload(upload, tmp_path / "uploads", UploadLimits(max_rows=10))
    assert not (tmp_path / "uploads").exists()
    assert accept_upload(upload, tmp_path / "uploads", UploadLimits(max_rows=11)).path.exists()


def test_data_summary_reports_the_mapping_the_splits_and_cleaning_or_the_mapping_problem(tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("q,a\nWhat?,this\nEmpty ref?,\nAnother?,that\n")
    assert plain(data_summary(str(data), "q", "a", "split", "train")).startswith(
        "Mapped: prompt ← q · reference ← a; no split column, so every row trains  \n"
        "3 rows; 2 usable for training, 1 skipped (1 empty reference)."
    )
    splits = tmp_path / "s.csv"
    splits.write_text("q,a,part,id\n" + "".join(f"Q{i}?,A,{part},{i}\n" for i, part in enumerate("aabcc")))
    splits.write_text(splits.read_text() + "".join(f"Q?,A,{part},0\n" for part in ("train", "train", "test", "")))
    shown = plain(data_summary(str(splits), "q", "a", "part", "train"))
    assert "prompt ← q · reference ← a · split ← part; not used: id" in shown
    assert "9 rows: train 2 · test 1 · 3 other split(s) 5 · no split 1; 2 usable for training (split 'train')" in shown
    assert "no column 'prompt'" in plain(data_summary(str(data), "prompt", "a", "split", "train"))
    none_usable = tmp_path / "none.csv"
    none_usable.write_text("q,a\nWhat?,\n")
    assert "no usable rows" in plain(data_summary(str(none_usable), "q", "a", "split", "train"))


def test_mean_prompt_chars_of_local_data_only(tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("prompt,reference\nab,x\nabcd,y\n")
    assert mean_prompt_chars(str(data), "prompt", "reference", "split", "train") == 3.0
    assert mean_prompt_chars(str(data), "nope", "reference", "split", "train") is None
    assert mean_prompt_chars("someone/some-dataset", "prompt", "reference", "split", "train") is None


def test_column_values_are_never_quoted_and_names_render_as_text(tmp_path):
    secrets = tmp_path / "creds.csv"
    secrets.write_text("user,api_key,password\nroot,k-123,hunter2\nadmin,k-456,s3cret\n")
    message = data_summary(str(secrets), "user", "api_key", "password", "zzz")
    assert "hunter2" not in message and "s3cret" not in message and "2 other value(s)" in plain(message)
    odd = tmp_path / "odd.csv"
    odd.write_text("`[x](https://evil.example)`,reference\nq,r\n")
    shown = data_summary(str(odd), "prompt", "reference", "split", "train")
    assert "\\[x\\]\\(https\\:" in shown  # every Markdown character escaped: no link, no code span


def test_uploads_are_bounded_per_session_and_in_total(tmp_path):
    limits = UploadLimits(per_session=2, total_bytes=100)
    quota = SessionQuota(limits)
    for _ in range(2):
        quota.check("login:a")
        quota.record("login:a")
    with pytest.raises(DataError, match="uploaded 2 files, the most one session may"):
        quota.check("login:a")
    quota.check("login:b")
    first = tmp_path / "a.csv"
    first.write_text("prompt,reference\n" + "q,a\n" * 10)  # 57 bytes
    accept_upload(first, tmp_path / "uploads", limits)
    second = tmp_path / "b.csv"
    second.write_text("prompt,reference\n" + "q,b\n" * 10)
    with pytest.raises(DataError, match="upload folder is full"):
        accept_upload(second, tmp_path / "uploads", limits)
    assert len(list((tmp_path / "uploads").iterdir())) == 1
