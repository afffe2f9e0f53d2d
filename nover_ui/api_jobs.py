"""API endpoints of the Evaluate and Playground tabs: queue an evaluation of the base model or a run's checkpoints,
queue a prompt for the base model or checkpoints, read a job's status, metrics and samples, download samples.

Queueing checks the login (the UI's action words) and calls the function the tab calls (nover_ui/queue.py), so a
refused form value is refused here with the same message. A worker runs the jobs; until then they read as queued.
"""

from __future__ import annotations

import gradio as gr
from gradio import FileData

from nover_ui.api_values import READERS_AT_ONCE, download, plain, reading, refused_as_api_error, shared
from nover_ui.context import Dashboard
from nover_ui.exports import evaluation_samples_file
from nover_ui.queue import BASE, queue_evaluations, queue_playground
from nover_ui.work_limits import BULK_READS


def register_job_endpoints(dashboard: Dashboard) -> None:
    """Add the endpoints to the Blocks being built (call inside `with gr.Blocks()`)."""
    store, access = dashboard.store, dashboard.access

    def queue_evaluation(
        run_id: int,
        request: gr.Request,
        steps: list[int] | None = None,
        include_base: bool = True,
        split: str = "test",
        max_prompts: int | None = 8,
        samples: int | None = 1,
        seed: int | None = 0,
        dataset: str = "",
    ) -> list[int]:
        """One evaluation job per model: the run's base model (include_base) and each checkpoint step in `steps`,
        on `dataset` (empty: the run's own data) or its held-out `split`; returns the job ids."""
        access.gate(request, "queue evaluations")
        with refused_as_api_error():
            return queue_evaluations(
                store,
                int(run_id),
                list(steps or []),
                include_base,
                split,
                max_prompts,
                samples,
                seed,
                dataset,
                dashboard.places,
            )

    def queue_prompt(
        prompt: str,
        request: gr.Request,
        run_id: int | None = None,
        reference: str = "",
        models: list[str] | None = None,
        seed: int = 0,
    ) -> list[dict]:
        """One playground job per model in `models` ("base", or a checkpoint's step as text, e.g. "40", of
        `run_id`); returns [{"label", "id"}]. Read the answers with /get_answers."""
        access.gate(request, "generate")
        with refused_as_api_error():
            jobs = queue_playground(store, run_id, prompt, reference, list(models or [BASE]), seed, dashboard.places)
        return [{"label": label, "id": job_id} for label, job_id in jobs]

    def get_evaluation(evaluation_id: int) -> dict:
        """An evaluation or playground job: its status, error and metrics, and its samples (prompt, completion,
        reasoning, answer, format_valid, perplexity, correct) once it has run."""
        return get_answers([int(evaluation_id)])[0]

    def get_answers(job_ids: list[int]) -> list[dict]:
        """get_evaluation of each job, in this order (a playground prompt's answers, one job per model)."""
        ids = [int(i) for i in job_ids]

        def read() -> list[dict]:
            return [
                {
                    **plain(reading(store.get_evaluation, job_id)),
                    "samples": [plain(sample) for sample in reading(store.get_evaluation_samples, job_id)],
                }
                for job_id in ids
            ]

        version = reading(store.evaluations_version, None, ids)
        return shared(("api jobs", store.url, tuple(ids)), version, read)

    @BULK_READS
    def download_samples(evaluation_ids: list[int], fmt: str = "parquet") -> FileData:
        """The samples of these evaluations as one table (fmt "parquet" or "csv"): the Evaluate tab's download."""
        with refused_as_api_error():
            for evaluation_id in evaluation_ids:
                store.get_evaluation(int(evaluation_id))  # a clear refusal for an id that does not exist
            return download(evaluation_samples_file(store, [int(i) for i in evaluation_ids], fmt, dashboard.downloads))

    gr.api(queue_evaluation, api_name="queue_evaluation")
    gr.api(queue_prompt, api_name="queue_prompt")
    gr.api(download_samples, api_name="download_samples")
    for endpoint in (get_evaluation, get_answers):
        gr.api(endpoint, api_name=endpoint.__name__, concurrency_limit=READERS_AT_ONCE)
