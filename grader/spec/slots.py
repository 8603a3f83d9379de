"""A lab's model slots, derived from its checks: which contract model each check evaluates, on which dataset, with
which architecture, and how a report names it ("multi-layer <dataset title> model")."""

from __future__ import annotations

from grader.spec.lab import LabSpec


def role_of(architecture: str, title: str) -> str:
    """How a report names a slot: "multi-layer <dataset title> model" ("3-layer ..." for exactly three)."""
    architecture, _, count = architecture.partition(":")  # "multi_dense:3": exactly three dense layers
    prefix = f"{count}-layer " if count else {"single_dense": "single-layer ",
                                              "multi_dense": "multi-layer "}.get(architecture, "")
    return f"{prefix}{title} model"


def slot_role(spec: LabSpec, name: str, dataset: str = "") -> str:
    """How a report names the model slot `name` of `spec`: the strictest architecture its checks ask for, and its
    dataset by the title the lab declares (`dataset` when no check of `spec` evaluates the slot)."""
    slot = slot_architectures(spec).get(name)
    dataset, architecture = slot if slot is not None else (dataset, "any")
    return role_of(architecture, spec.dataset_title(dataset))


def slot_architectures(spec: LabSpec) -> dict[str, tuple[str, str]]:
    """Contract model name -> (dataset, required architecture) for every model a check evaluates."""
    slots: dict[str, tuple[str, str]] = {}
    for check in spec.checks:
        if (slot := check.model_slot()) is not None:
            name, dataset, architecture = slot
            previous = slots.get(name)
            if previous is None or previous[1] == "any":
                slots[name] = (dataset, architecture)
    return slots


def slot_top_k(spec: LabSpec) -> dict[str, int]:
    """Contract model name -> the most classes per hidden input any top-k check of that model ranks."""
    wanted: dict[str, int] = {}
    for check in spec.checks:
        k, slot = check.top_k(), check.model_slot()
        if k is not None and slot is not None:
            wanted[slot[0]] = max(k, wanted.get(slot[0], k))
    return wanted
