"""Binding handlers for Gradio, and refusals shown under the field they name."""

from __future__ import annotations

import inspect

import gradio as gr
from gradio import utils

from nover_ui.events import bind
from nover_ui.field_errors import field_errors, not_queued


def handler(store: str, tab: str, run_id: int | None, request: gr.Request) -> tuple:
    return store, tab, run_id, request


def test_a_bound_handler_keeps_its_name_and_shows_gradio_only_the_inputs_and_the_request():
    bound = bind(handler, "the store", "the tab")
    assert bound.__name__ == "handler"  # the event's endpoint name, as with a plain function
    assert list(inspect.signature(bound).parameters) == ["run_id", "request"]
    hints = utils.get_type_hints(bound)
    assert utils.is_special_typed_parameter("request", hints)  # Gradio fills it with the request
    assert not utils.is_special_typed_parameter("run_id", hints)
    assert bound(7, "req") == ("the store", "the tab", 7, "req")


def test_the_named_field_shows_the_error_and_every_other_field_is_cleared():
    with gr.Blocks():
        samples_nb, seed_nb, status_md = gr.Number(), gr.Number(), gr.Markdown()
    fields = {"samples": samples_nb, "seed": seed_nb}
    shown = not_queued(status_md, fields, "samples must be from 1 to 64, got 65", "samples")
    assert shown[status_md] == "**Not queued:** samples must be from 1 to 64\\, got 65"  # Markdown-escaped
    assert shown[samples_nb] == gr.update(info="⚠ samples must be from 1 to 64, got 65", elem_classes=["field-error"])
    assert shown[seed_nb] == gr.update(info="", elem_classes=[])
    unnamed = not_queued(status_md, fields, "run 3 does not exist")
    assert [unnamed[f] for f in fields.values()] == [gr.update(info="", elem_classes=[])] * 2
    assert field_errors(fields, "a field this form lacks", "x") == field_errors(fields, None)
