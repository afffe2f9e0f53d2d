"""Memory as the bytes tensors hold, not as resident memory: figures that repeat from run to run.

Resident memory (RSS) depends on the allocator's caching and on which memory-mapped pages were touched, so the
same case measured twice gave 0.52 and 0.80 (issue 14). Counted here instead:
  - `storage_bytes`: the bytes of every distinct storage behind a set of modules' parameters and buffers (tied
    weights and views share a storage and count once);
  - `LiveTensorBytes`: a dispatch mode that sees every tensor an operator creates and keeps the running total of
    the storages still alive, with its peak. Operators' internal scratch space is not seen, the same in every
    variant compared.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch.multiprocessing.reductions import StorageWeakRef
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves


def storage_bytes(modules: Iterable[torch.nn.Module]) -> int:
    """Bytes of the distinct storages behind the modules' parameters and buffers, each counted once."""
    seen: dict[tuple[str, int], int] = {}
    for module in modules:
        for tensor in [*module.parameters(), *module.buffers()]:
            seen[_key(tensor)] = tensor.untyped_storage().nbytes()
    return sum(seen.values())


class LiveTensorBytes(TorchDispatchMode):
    """Inside the block: `peak`, the most bytes that tensors created in the block held at once.

    A storage is counted when an operator first returns it and dropped once nothing refers to it any more
    (checked after every operator, so the peak is exact at operator granularity).
    """

    def __init__(self) -> None:
        super().__init__()
        self._live: dict[tuple[str, int], tuple[StorageWeakRef, int]] = {}
        self.live = 0
        self.peak = 0

    def reset_peak(self) -> None:
        self.peak = self.live

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]  # torch's dispatch-mode hook, untyped there
        out = func(*args, **(kwargs or {}))
        self._drop_freed()
        # A view or an in-place result shares an input's storage: counted already, or made before the block.
        inputs = {_key(leaf) for leaf in tree_leaves((args, kwargs)) if isinstance(leaf, torch.Tensor)}
        for leaf in tree_leaves(out):
            if isinstance(leaf, torch.Tensor) and _key(leaf) not in inputs and _key(leaf) not in self._live:
                storage = leaf.untyped_storage()
                self._live[_key(leaf)] = (StorageWeakRef(storage), storage.nbytes())
                self.live += storage.nbytes()
        self.peak = max(self.peak, self.live)
        return out

    def _drop_freed(self) -> None:
        freed = [key for key, (ref, _) in self._live.items() if ref.expired()]
        for key in freed:
            self.live -= self._live.pop(key)[1]


def _key(tensor: torch.Tensor) -> tuple[str, int]:
    return str(tensor.device), tensor.untyped_storage().data_ptr()
