"""grader/spec/model_kinds.py: each model kind written once. Every `Literal` of kinds is the table's, the harness
carries and registers exactly the exporters the table names for a lab's kinds, the kernel's messages and the report
name a kind as the table does, and a kind's operations of its own are the evaluator's."""

from __future__ import annotations

import typing
from typing import Any, get_args

import pytest

from grader.evaluation import harness_output, ops, result
from grader.evaluation.in_kernel import HERE, harness_source, source
from grader.spec import lab
from grader.spec.model_kinds import DEFAULT_MODEL_KINDS, KERNEL_NAMES, MODEL_KINDS, ModelKind


def test_every_literal_of_model_kinds_is_the_tables() -> None:
    assert set(get_args(ModelKind)) == set(MODEL_KINDS)
    assert lab.LabSpec.model_fields["model_kinds"].annotation == tuple[ModelKind, ...]
    assert lab.LabSpec.model_fields["model_kinds"].default == DEFAULT_MODEL_KINDS
    assert harness_output.ExportedNetwork.model_fields["framework"].annotation == ModelKind | None
    assert result.ArchitectureFacts.model_fields["framework"].annotation == ModelKind
    assert result.ModelResult.model_fields["framework"].annotation == ModelKind | None


@pytest.mark.parametrize("kind", list(MODEL_KINDS))
def test_the_harness_of_one_kind_carries_and_registers_its_exporter(kind: ModelKind) -> None:
    info = MODEL_KINDS[kind]
    assert all((HERE / name).is_file() for name in info.exporter)
    code = harness_source((kind,))
    others = {n for k, i in MODEL_KINDS.items() for n in i.exporter} - set(info.exporter)
    assert [n for n in others if source(n) in code] == []
    namespace: dict[str, Any] = {"__name__": "labgrader_harness"}
    exec(compile(code, "labgrader_harness.py", "exec"), namespace)
    sharing = {k for k, i in MODEL_KINDS.items() if set(i.exporter) == set(info.exporter)}
    assert set(namespace["KIND_EXPORTERS"]) == sharing
    assert namespace["KERNEL_NAMES"] == KERNEL_NAMES
    assert namespace["DEFAULT_MODEL_KINDS"] == DEFAULT_MODEL_KINDS
    kinds = namespace["ModelKinds"]([kind], set(), set(), {})
    assert kinds.names() == info.object_name


def test_the_report_and_the_evaluator_name_the_kinds_of_the_table() -> None:
    for kind, info in MODEL_KINDS.items():
        facts = result.ArchitectureFacts(framework=kind, dense_layers=1, parameters=10)
        assert facts.describe() == f"{info.display_name}, 1 dense layer, 10 parameters, cpu"
    op_names = {name for member in typing.get_args(typing.get_args(ops.Op)[0])
                for name in get_args(member.model_fields["op"].annotation)}
    assert {op for info in MODEL_KINDS.values() for op in info.evaluator} <= op_names
    assert "perceptron" in op_names
