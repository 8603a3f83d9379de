"""`labgrader worker` options: slots per GPU with their environment, queues by device, refusals."""

from __future__ import annotations

import pytest

from grader import WorkerConfigError
from server.jobs.celery_publisher import broker_queue, ledger_queue
from server.jobs.celery_worker import check_queues, default_queues, plan_slots
from server.jobs.models import JobQueue


def test_two_gpus_with_two_jobs_each_give_four_slots_with_their_device_and_memory_share() -> None:
    slots = plan_slots(jobs=1, gpus=["0", "1"], jobs_per_gpu=2)

    assert [(s.index, s.device_label) for s in slots] == [(0, "cuda:0"), (1, "cuda:0"), (2, "cuda:1"), (3, "cuda:1")]
    wanted = ("CUDA_VISIBLE_DEVICES", "TF_FORCE_GPU_ALLOW_GROWTH", "LABGRADER_TORCH_MEMORY_FRACTION")
    assert [{k: s.environment()[k] for k in wanted} for s in slots] == [
        {"CUDA_VISIBLE_DEVICES": gpu, "TF_FORCE_GPU_ALLOW_GROWTH": "true", "LABGRADER_TORCH_MEMORY_FRACTION": "0.475"}
        for gpu in ("0", "0", "1", "1")
    ]
    assert default_queues(slots) == ("live-gpu", "regrade-gpu")


def test_cpu_slots_hide_every_gpu() -> None:
    slots = plan_slots(jobs=3, gpus=[], jobs_per_gpu=1)

    assert [(s.index, s.device_label, s.environment()) for s in slots] == [
        (i, "cpu", {"CUDA_VISIBLE_DEVICES": ""}) for i in range(3)]
    assert default_queues(slots) == ("live", "regrade")


@pytest.mark.parametrize(("jobs", "gpus", "per_gpu", "message"), [
    (0, [], 1, "--jobs must be at least 1, not 0"),
    (1, ["0"], 0, "--jobs-per-gpu must be at least 1, not 0"),
    (1, ["0", "0"], 1, "--gpus takes distinct device numbers such as 0,1; got 0,0"),
    (1, ["cuda:0"], 1, "--gpus takes distinct device numbers such as 0,1; got cuda:0"),
])
def test_impossible_slot_plans_are_refused(jobs: int, gpus: list[str], per_gpu: int, message: str) -> None:
    with pytest.raises(WorkerConfigError) as refused:
        plan_slots(jobs, gpus, per_gpu)
    assert str(refused.value) == message


def test_queues_are_checked_against_the_devices() -> None:
    cpu = plan_slots(1, [], 1)
    assert check_queues(["regrade"], cpu) == ("regrade",)
    with pytest.raises(WorkerConfigError) as unknown:
        check_queues(["live", "bulk"], cpu)
    assert str(unknown.value) == "unknown queue(s) bulk; the queues are live, regrade, live-gpu, regrade-gpu"
    with pytest.raises(WorkerConfigError) as no_gpu:
        check_queues(["live", "live-gpu"], cpu)
    assert str(no_gpu.value) == "a worker without --gpus cannot take the GPU queues (live-gpu)"


def test_broker_queue_names_round_trip() -> None:
    assert [broker_queue(q, gpu) for q in JobQueue for gpu in (False, True)] == [
        "live", "live-gpu", "regrade", "regrade-gpu"]
    assert [ledger_queue(n) for n in ("live", "live-gpu", "regrade-gpu")] == [
        (JobQueue.LIVE, False), (JobQueue.LIVE, True), (JobQueue.REGRADE, True)]
