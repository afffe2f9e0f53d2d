"""The Evaluate tab: held-out evaluations of the base model and a run's checkpoints as background jobs, their
checkpoints x metrics table, a prompts x checkpoints grid of answers, and downloads."""

from __future__ import annotations

from typing import Any

import gradio as gr

from nover_ui.access import AccessDenied
from nover_ui.context import Dashboard
from nover_ui.eval_view import answers_grid, metrics_frame, model_label
from nover_ui.exports import FORMATS, write_table, zip_checkpoint
from nover_ui.queue import queue_evaluations
from nover_ui.run_picker import run_choices
from nover_ui.safe_text import markdown_text, refusal
from nover_ui.work_limits import BULK_READS, FILE_WORK
from storage import Status, StorageError
from training.data import DataError

REFRESH_S = 3.0
SPLITS = ("test", "validation", "train")


def build_evaluate(dashboard: Dashboard, tab: gr.Tab) -> None:
    store, access = dashboard.store, dashboard.access
    with gr.Row():
        run_dd = gr.Dropdown(label="Run (its data, prompt format and sampling settings)", scale=2, elem_id="eval-run")
        steps_cg = gr.CheckboxGroup(label="Checkpoints", scale=3, elem_id="eval-checkpoints")
        base_cb = gr.Checkbox(value=True, label="Include the base model", scale=1)
    with gr.Row():
        data_tb = gr.Textbox(
            label="Data (empty: the run's own; or a file path / dataset id)", scale=3, elem_id="eval-data"
        )
        data_file = gr.File(
            label="or upload a CSV/JSONL/Parquet file",
            file_types=[".csv", ".jsonl", ".parquet"],
            height=90,
            scale=2,
            elem_id="eval-upload",
        )
    with gr.Row():
        split_dd = gr.Dropdown(list(SPLITS), value="test", label="Held-out split (ignored without a split column)")
        prompts_nb = gr.Number(8, precision=0, label="Prompts", minimum=1, elem_id="eval-prompts")
        samples_nb = gr.Number(1, precision=0, label="Samples per prompt", minimum=1)
        seed_nb = gr.Number(0, precision=0, label="Seed")
        queue_btn = gr.Button(
            "Run evaluation", variant="primary", interactive=not access.read_only, elem_id="eval-queue"
        )
    status_md = gr.Markdown(elem_id="eval-status")
    table_df = gr.Dataframe(
        label="Evaluations (checkpoints x metrics)", interactive=False, wrap=True, elem_id="eval-table"
    )
    with gr.Row():
        chosen_dd = gr.Dropdown(label="Compare the answers of", multiselect=True, scale=4, elem_id="eval-chosen")
        grid_btn = gr.Button("Show answers", scale=1)
    grid_html = gr.HTML(elem_id="eval-grid")
    with gr.Accordion("Downloads", open=False):
        with gr.Row():
            format_rd = gr.Radio(list(FORMATS), value="parquet", label="Table format")
            rollouts_btn = gr.Button("Run's rollouts")
            samples_btn = gr.Button("Chosen evaluations' samples")
            adapter_dd = gr.Dropdown(label="Checkpoint", scale=1)
            adapter_btn = gr.Button("Adapter (zip)")
        download_file = gr.File(label="Download", elem_id="eval-download")
    timer = gr.Timer(REFRESH_S)

    def evaluations_of(run_id: int | None) -> list[Any]:
        """The run's checkpoint evaluations, and base-model evaluations on its data or queued from it."""
        if run_id is None:
            return []
        config = store.get_run(run_id).config
        return [
            e
            for e in store.list_evaluations(kind="evaluation")
            if e.run_id == run_id
            or (
                e.run_id is None
                and (e.dataset == config.get("dataset") or (e.config or {}).get("run_config") == config)
            )
        ]

    def refresh(run_id: int | None) -> tuple[Any, Any]:
        evaluations = evaluations_of(run_id)
        choices = [(f"#{e.id} {model_label(e)}", e.id) for e in evaluations if e.status == Status.SUCCEEDED]
        return metrics_frame(evaluations), gr.update(choices=choices)

    def open_tab(run_id: int | None) -> Any:
        choices = run_choices(store)
        return gr.update(choices=choices, value=run_id if run_id is not None else (choices[0][1] if choices else None))

    def pick_run(run_id: int | None) -> tuple[Any, Any]:
        steps = [c.step for c in store.list_checkpoints(run_id)] if run_id is not None else []
        labelled = [(f"step {step}", step) for step in steps]
        return gr.update(choices=labelled, value=steps[-1:]), gr.update(
            choices=labelled, value=steps[-1] if steps else None
        )

    @FILE_WORK
    def upload(temp_path: str | None, request: gr.Request) -> Any:
        if temp_path is None:
            return gr.update()
        try:
            kept = dashboard.keep_upload(temp_path, request)
        except (AccessDenied, DataError) as exc:
            raise refusal(f"Upload refused: {exc}") from None
        return str(kept.path)

    def queue(
        run_id: int | None,
        steps: list[int],
        include_base: bool,
        split: str,
        max_prompts: float | None,
        samples: float | None,
        seed: float | None,
        dataset: str,
        request: gr.Request,
    ) -> str:
        try:
            access.require_write(request, "queue evaluations")
        except AccessDenied as exc:
            return f"**Not queued:** {markdown_text(str(exc))}"
        if run_id is None:
            return "Pick a run first."
        try:
            ids = queue_evaluations(
                store,
                run_id,
                steps or [],
                include_base,
                split,
                max_prompts,
                samples,
                seed,
                dataset or "",
                dashboard.places,
            )
        except (ValueError, StorageError) as exc:
            return f"**Not queued:** {markdown_text(str(exc))}"
        return f"Queued evaluation(s) {', '.join(f'#{i}' for i in ids)}; a worker runs them after any training run."

    @BULK_READS
    def show_grid(chosen: list[int] | None) -> str:
        evaluations = [e for e in store.list_evaluations() if e.id in (chosen or [])]
        return answers_grid(evaluations, {e.id: store.get_evaluation_samples(e.id) for e in evaluations})

    def download(make: Any, *args: Any) -> Any:
        try:
            return gr.update(value=str(make(*args, dashboard.downloads)))
        except (ValueError, FileNotFoundError, StorageError) as exc:
            raise refusal(str(exc)) from None

    @BULK_READS
    def rollouts_file(run_id: int | None, fmt: str) -> Any:
        if run_id is None:
            raise refusal("Pick a run first.")
        return download(write_table, store.get_rollouts(run_id), f"run-{run_id}-rollouts", fmt)

    @BULK_READS
    def samples_file(chosen: list[int] | None, fmt: str) -> Any:
        samples = [s for evaluation_id in chosen or [] for s in store.get_evaluation_samples(evaluation_id)]
        stem = "evaluation-" + "-".join(str(i) for i in chosen or []) + "-samples"
        return download(write_table, samples, stem, fmt)

    @BULK_READS
    def adapter_file(run_id: int | None, step: int | None) -> Any:
        checkpoint = next((c for c in store.list_checkpoints(run_id) if c.step == step), None) if run_id else None
        if checkpoint is None:
            raise refusal("Pick a run and one of its checkpoints.")
        return download(zip_checkpoint, checkpoint.path, f"run-{run_id}-step-{step}-adapter")

    tab.select(open_tab, run_dd, run_dd, show_progress="hidden")
    run_dd.change(pick_run, run_dd, [steps_cg, adapter_dd]).then(refresh, run_dd, [table_df, chosen_dd])
    data_file.upload(upload, data_file, data_tb)
    queue_btn.click(
        queue, [run_dd, steps_cg, base_cb, split_dd, prompts_nb, samples_nb, seed_nb, data_tb], status_md
    ).then(refresh, run_dd, [table_df, chosen_dd])
    timer.tick(lambda run_id: refresh(run_id)[0], run_dd, table_df, show_progress="hidden", queue=False)
    chosen_dd.focus(lambda run_id: refresh(run_id)[1], run_dd, chosen_dd, show_progress="hidden")
    grid_btn.click(show_grid, chosen_dd, grid_html)
    rollouts_btn.click(rollouts_file, [run_dd, format_rd], download_file)
    samples_btn.click(samples_file, [chosen_dd, format_rd], download_file)
    adapter_btn.click(adapter_file, [run_dd, adapter_dd], download_file)
