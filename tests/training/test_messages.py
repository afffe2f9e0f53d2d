"""Chat-style rows (TRL's conversational format) as prompt and reference, from each kind of source."""

import json

import datasets
import pandas as pd

from training.data import load_examples


def chat(*turns):
    return [{"role": role, "content": content} for role, content in turns]


CONVERSATIONS = [
    chat(("system", "Answer briefly."), ("user", "What is 2+2?"), ("assistant", "4")),
    # Multi-turn: the reference is the last assistant turn, the prompt the user turn it answers.
    chat(("user", "Hi"), ("assistant", "Hello!"), ("user", "Capital of France?"), ("assistant", "Paris")),
    chat(("user", "Unanswered?")),
    chat(("assistant", "An answer to nothing")),
]
EXPECTED = [("What is 2+2?", "4"), ("Capital of France?", "Paris")]
SKIPPED = ((3, "no assistant turn in the messages"), (4, "no user turn before the last assistant turn"))


def pairs(data):
    return [(e.prompt, e.reference) for e in data.examples]


def test_a_messages_column_in_json_lines_gives_prompt_and_reference(tmp_path):
    path = tmp_path / "chat.jsonl"
    path.write_text("".join(json.dumps({"messages": m, "id": i}) + "\n" for i, m in enumerate(CONVERSATIONS)))
    data = load_examples(str(path))  # prompt_column and reference_column as by default: absent
    assert pairs(data) == EXPECTED and data.skipped == SKIPPED and data.messages_column == "messages"
    assert data.summary() == (
        "2 usable rows of 4 (2 skipped: 1 no assistant turn in the messages, 1 no user turn before the last "
        "assistant turn)"
    )


def test_prompt_and_completion_columns_of_messages_in_parquet(tmp_path):
    """TRL's conversational prompt-completion format: list-of-struct columns in Parquet."""
    path = tmp_path / "chat.parquet"
    frame = pd.DataFrame(
        {
            "prompt": [chat(("system", "Be brief."), ("user", "What is 2+2?")), chat(("system", "Be brief."))],
            "completion": [chat(("assistant", "4")), chat(("assistant", "?"))],
        }
    )
    frame.to_parquet(path)
    data = load_examples(str(path), reference_column="completion")
    assert pairs(data) == [("What is 2+2?", "4")] and data.skipped == ((2, "no user turn in the messages"),)
    assert data.messages_column is None


def test_json_text_of_messages_in_a_csv_cell_counts_and_plain_text_stays_text(tmp_path):
    path = tmp_path / "chat.csv"
    pd.DataFrame(
        {
            "prompt": [json.dumps(chat(("user", "What is 2+2?"))), "[Plain] question?"],
            "reference": [json.dumps(chat(("assistant", "4"))), "[1, 2]"],
        }
    ).to_csv(path, index=False)
    assert pairs(load_examples(str(path))) == [("What is 2+2?", "4"), ("[Plain] question?", "[1, 2]")]


def test_a_saved_dataset_with_messages_and_multimodal_content(tmp_path):
    content = [{"type": "text", "text": "What is shown?"}, {"type": "image", "text": None}]
    rows = [
        [{"role": "user", "content": content}, {"role": "assistant", "content": [{"type": "text", "text": "A cat"}]}]
    ]
    datasets.Dataset.from_dict({"messages": rows}).save_to_disk(tmp_path / "saved")
    assert pairs(load_examples(str(tmp_path / "saved"))) == [("What is shown?", "A cat")]
