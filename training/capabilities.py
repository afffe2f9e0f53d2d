"""What this machine can run, detected by the worker when it starts and recorded with it (Store.register_worker).

Imports torch (and tries bitsandbytes and vllm): the worker's business, never the dashboard's, which reads the
recorded values through training/needs.py.
"""

from __future__ import annotations

import importlib
import importlib.util

from training.needs import Capabilities


def detect() -> Capabilities:
    """This machine's capabilities, each as honest as it is cheap to find out: a package counts only when it
    imports here (a wheel built for another CUDA or CPU fails at import), and vllm is tried only on a GPU
    machine, since it needs one and importing it costs seconds."""
    import torch

    cuda = torch.cuda.is_available()
    return Capabilities(
        cuda=cuda,
        gpus=torch.cuda.device_count() if cuda else 0,
        bf16=cuda and torch.cuda.is_bf16_supported(),
        bitsandbytes=_imports("bitsandbytes"),
        vllm=cuda and _imports("vllm"),
        torch=torch.__version__,
    )


def _imports(package: str) -> bool:
    if importlib.util.find_spec(package) is None:
        return False
    try:
        importlib.import_module(package)
    except Exception:  # any failure to import (a missing native library, a CUDA mismatch) means "cannot use it"
        return False
    return True
