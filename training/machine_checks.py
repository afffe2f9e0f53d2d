"""What makes a run's machine settings wrong: num_machines, main_process_port, machine_join_timeout, and what
cannot span several machines.

Standard library only, like training/config_checks.py, which yields these problems with the rest; a check takes
the config as an argument (typed Any: no import of training.config, which would be a cycle) and returns (field,
message) pairs naming the value and the fix.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

Problem = tuple[str, str]


def machine_problems(config: Any) -> Iterator[Problem]:
    if config.num_machines < 1:
        yield ("num_machines", f"num_machines must be >= 1 (1 trains on one machine), got {config.num_machines}")
    if not 0 <= config.main_process_port <= 65_535:
        yield (
            "main_process_port",
            f"main_process_port must be a port from 1 to 65535, or 0 to let rank 0's worker pick a free one, got "
            f"{config.main_process_port}",
        )
    if not config.machine_join_timeout > 0:
        yield (
            "machine_join_timeout",
            f"machine_join_timeout must be > 0 seconds (e.g. 300), got {config.machine_join_timeout}",
        )
    if config.num_machines > 1 and config.generation == "vllm" and config.vllm_mode == "server":
        yield (
            "num_machines",
            f"num_machines {config.num_machines} with vllm_mode server: the worker starts the run's vLLM server "
            f"on machine rank 0 only, which the other machines' processes cannot share; use vllm_mode colocate, "
            f"or num_machines 1",
        )
