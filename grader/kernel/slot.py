"""A job slot: one concurrent kernel position of a worker, with the environment and device files its kernels get.

`KernelSlot` is what the warm pool and the job runner need of a slot; `Slot` is the one implementation the service
builds (`server.jobs.celery_worker.plan_slots`, the embedded executor).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Protocol


class KernelSlot(Protocol):
    """A slot as a kernel sees it: its index (which picks the sandbox uid), its environment and its device files."""

    @property
    def index(self) -> int: ...

    def environment(self) -> dict[str, str]: ...

    def devices(self) -> tuple[str, ...]: ...


@dataclass(frozen=True)
class Slot:
    """One concurrent job position: its index picks the sandbox uid; GPU slots carry their device."""

    index: int
    gpu: str | None = None
    gpu_memory_fraction: float = 1.0
    cpu_threads: int | None = None  # the job's share of the host's cores (None: not said to the kernel)

    @property
    def device_label(self) -> str:
        return f"cuda:{self.gpu}" if self.gpu is not None else "cpu"

    def environment(self) -> dict[str, str]:
        threads = {} if self.cpu_threads is None else {"LABGRADER_CPU_THREADS": str(self.cpu_threads)}
        if self.gpu is None:
            return {"CUDA_VISIBLE_DEVICES": ""} | threads
        # PCI order matches the /dev/nvidiaN node the sandbox mounts for this slot
        return {"CUDA_VISIBLE_DEVICES": self.gpu, "CUDA_DEVICE_ORDER": "PCI_BUS_ID",
                "TF_FORCE_GPU_ALLOW_GROWTH": "true",
                "LABGRADER_TORCH_MEMORY_FRACTION": f"{self.gpu_memory_fraction:.3f}"} | threads

    def devices(self) -> tuple[str, ...]:
        if self.gpu is None:
            return ()
        names = [f"/dev/nvidia{self.gpu}", "/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools"]
        return tuple(n for n in names if os.path.exists(n))
