"""The clean evaluator: from an untrusted export and the inputs (hidden inputs without labels, a visible training
sample with its public labels) to the EvaluationResult scoring consumes. It runs no student code.

For each model slot: the contract name's network, or by discovery the network of the slot's data that fits the
required architecture and is most accurate on the visible sample (one network per slot). Its inputs are prepared
with a named preprocessing: the one the student's preprocessing function was found to compute, or else the most
accurate on the visible sample. Predictions on hidden inputs and on the sample come from the NumPy network.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from grader.errors import NetworkRefused
from grader.evaluation.export_check import checked_path
from grader.evaluation.harness_output import HarnessExport, PreprocessedSample
from grader.evaluation.history_check import HistoryRequest as HistoryRequest  # the evaluator's front: re-exported
from grader.evaluation.history_check import choose_history, history_result
from grader.evaluation.memorisation import MAX_IMAGES, memorised_rows
from grader.evaluation.network import NumpyNetwork, build_network
from grader.evaluation.op_policy import over_parameter_cap, refused_in_dense_lab
from grader.evaluation.outputs import classes_of, cross_entropy, finite_list, fit_quality, ranked_classes
from grader.evaluation.policy import evaluate_policy_slot
from grader.evaluation.preprocessing import Preprocessing, match_student, named_preprocessings
from grader.evaluation.result import NOT_FROM_LAYERS as NOT_FROM_LAYERS  # the evaluator's front: re-exported
from grader.evaluation.result import ArchitectureFacts, EvaluationResult, HistoryResult, ModelResult
from grader.evaluation.rollout import EnvironmentSetting

Array = NDArray[Any]
TIE_MARGIN = 0.01  # accuracy on the training sample: an earlier preprocessing keeps its place within it
MAX_CANDIDATES = 16
CHOICE_ROWS = 500  # rows of the visible sample on which preprocessings compete


@dataclass(frozen=True)
class DatasetInputs:
    """What the evaluator sees of one dataset: hidden inputs (no labels) and a visible sample with its labels."""

    hidden_x: Array
    sample_x: Array
    sample_y: Array
    layouts: tuple[tuple[int, ...], ...] = ()  # the layouts the lab declares (empty: derived from the row shape)
    preprocessings: tuple[str, ...] = ()  # the built-ins to try, in order (empty: all)
    regression: bool = False  # a numeric target (float sample_y): a network's one output is its prediction
    # an environment dataset: `hidden_x` holds its hidden seeds, `sample_x` observations of visible episodes
    environment: EnvironmentSetting | None = None
    visible_seeds: tuple[int, ...] = ()
    second_x: Array | None = None  # a second held-back sample's inputs (no labels), where the lab declares one
    public_x: Array | None = None  # visible test inputs (a test_half split's served half): compared for copies only


@dataclass(frozen=True)
class SlotRequest:
    name: str
    dataset: str
    architecture: str = "any"
    max_parameters: int | None = None
    top_k: int | None = None  # rank this many classes per hidden input (a top-k check of the slot)
    max_inference_ms: float | None = None  # the forward pass over the hidden inputs may take at most this long


@dataclass
class _Fit:
    """A network evaluated on one dataset's visible sample."""

    network: NumpyNetwork
    preprocessing: Preprocessing
    layout: tuple[int, ...]
    accuracy: float  # how well it fits the visible sample: accuracy, or R² for a regression dataset
    train_predictions: Array  # classes, or a regression network's outputs
    train_loss: float | None


@dataclass
class _Evaluation:
    export: HarnessExport
    data: dict[str, DatasetInputs]
    networks: dict[int, NumpyNetwork | str] = field(default_factory=dict)
    fits: dict[tuple[int, str], _Fit | str] = field(default_factory=dict)
    student: dict[str, tuple[Preprocessing | None, str, tuple[int, ...]]] = field(default_factory=dict)
    decoded: dict[str, Array] = field(default_factory=dict)
    named: dict[str, list[Preprocessing]] = field(default_factory=dict)
    paths: dict[int, str] = field(default_factory=dict)  # how each network was exported and cross-checked
    ops: str = "conv"  # the lab's op family: "dense" refuses pooling

    def named_preprocessings(self, dataset: str) -> list[Preprocessing]:
        if dataset not in self.named:
            inputs = self.data[dataset]
            self.named[dataset] = named_preprocessings(inputs.sample_x, inputs.preprocessings)
        return self.named[dataset]

    def network(self, index: int) -> NumpyNetwork | str:
        if index not in self.networks:
            entry = self.export.network(index)
            try:
                if entry is None:
                    raise NetworkRefused("the export does not hold it")
                network = build_network(self.export, entry, self.decoded)
                self.paths[index] = checked_path(self.export, entry, network)
                refused = refused_in_dense_lab(network) if self.ops == "dense" else None
                if refused:
                    raise NetworkRefused(refused)
                self.networks[index] = network
            except NetworkRefused as exc:
                self.networks[index] = str(exc)
        return self.networks[index]

    def student_preprocessing(self, dataset: str) -> tuple[Preprocessing | None, str, tuple[int, ...]]:
        """(the named preprocessing the student's function computes, why none, the layout it returns)."""
        if dataset not in self.student:
            found: tuple[Preprocessing | None, str, tuple[int, ...]] = (None, "", ())
            entry = next((p for p in self.export.preprocessed if p.dataset == dataset), None)
            if entry is not None:
                payload = self.export.arrays.get(entry.output) if entry.output else None
                if payload is None:
                    found = (None, f"`{entry.function}` raised {entry.error or 'an error'} on training inputs", ())
                else:
                    try:
                        output = payload.decode()
                    except ValueError as exc:
                        output, problem = None, str(exc)
                    sample = self.data[dataset].sample_x
                    raw = None if output is None else (
                        self._observed_rows(entry, sample) if entry.observed else sample[:len(output)])
                    if output is None or len(output) > len(sample) or len(output) == 0 or raw is None \
                            or len(raw) != len(output):
                        found = (None, "" if entry.observed else f"`{entry.function}` returned no usable array", ())
                    else:
                        matched, problem = match_student(entry.function, raw, output,
                                                         self.named_preprocessings(dataset), entry.observed)
                        # an observation that names no map is no finding: the best fit decides, as without one
                        found = (matched, "" if entry.observed else problem,
                                 tuple(output.shape[1:]) if matched or not entry.observed else ())
            self.student[dataset] = found
        return self.student[dataset]

    def _observed_rows(self, entry: PreprocessedSample, sample: Any) -> Any:
        """The sample rows an observed array's rows are (untrusted indices: None unless each is a row)."""
        payload = self.export.arrays.get(entry.rows) if entry.rows else None
        try:
            rows = None if payload is None else payload.decode()
        except ValueError:
            return None
        if rows is None or rows.ndim != 1 or not np.all((rows >= 0) & (rows < len(sample)) & (rows == np.round(rows))):
            return None
        return sample[rows.astype(np.int64)]

    def fit(self, index: int, dataset: str) -> _Fit | str:
        key = (index, dataset)
        if key not in self.fits:
            network = self.network(index)
            self.fits[key] = network if isinstance(network, str) else self._fit(network, dataset)
        return self.fits[key]

    def _fit(self, network: NumpyNetwork, dataset: str) -> _Fit | str:
        inputs = self.data[dataset]
        student, student_problem, student_layout = self.student_preprocessing(dataset)
        options = [student] if student else self.named_preprocessings(dataset)
        layouts = input_layouts(inputs.sample_x.shape[1:], student_layout, inputs.layouts)
        layout, problem = None, ""
        probe = options[0](inputs.sample_x[:8])
        for candidate in layouts:
            try:
                scores = network.scores(probe.reshape((len(probe), *candidate)))
            except (NetworkRefused, ValueError) as exc:
                problem = problem or str(exc)
                continue
            if scores.shape[0] == len(probe) and inputs.regression and scores.shape[1] != 1:
                return (f"it has {scores.shape[1]} outputs; a network of a regression dataset ({dataset}) has one, "
                        "its prediction of the target")
            if scores.shape[0] == len(probe) and scores.shape[1] >= 1:
                layout = candidate
                break
        if layout is None:
            why = f"it does not take {dataset} inputs ({problem or 'no input layout fits'})"
            return f"{why}; {student_problem}" if student_problem else why
        # with a student's function, only what it computes: the network was trained on that
        probe_x, probe_y = inputs.sample_x[:CHOICE_ROWS], inputs.sample_y[:CHOICE_ROWS]
        best: tuple[float, Preprocessing, NumpyNetwork] | None = None
        # a perceptron's bias column, like a preprocessing, is chosen by accuracy on visible inputs
        for variant in network.variants():
            for option in options:
                try:
                    scores = variant.scores(option(probe_x).reshape((len(probe_x), *layout)))
                except (NetworkRefused, ValueError) as exc:
                    problem = str(exc)
                    continue
                accuracy = fit_quality(scores, probe_y, variant.one_output_threshold, inputs.regression)
                if best is None or accuracy > best[0] + TIE_MARGIN:
                    best = (accuracy, option, variant)
        if best is None:
            return f"it could not be run on {dataset} inputs: {problem}"
        chosen, network = best[1], best[2]
        if network.reading:
            chosen = replace(chosen, words=f"{chosen.words}, {network.reading}"[:300])
        if student_problem:
            chosen = replace(chosen, words=f"{chosen.words}, chosen by accuracy on training data because "
                                           f"{student_problem}"[:300])
        try:
            scores = network.scores(chosen(inputs.sample_x).reshape((len(inputs.sample_x), *layout)))
        except (NetworkRefused, ValueError) as exc:
            return f"it could not be run on {dataset} inputs: {exc}"
        if inputs.regression:
            outputs = scores[:, 0].astype(np.float64)
            error = outputs - inputs.sample_y
            return _Fit(network, chosen, layout, fit_quality(scores, inputs.sample_y, 0.0, True), outputs,
                        float(np.mean(error ** 2)) if np.isfinite(error).all() else None)
        predicted = classes_of(scores, network.one_output_threshold)
        return _Fit(network, chosen, layout, float((predicted == inputs.sample_y).mean()), predicted,
                    cross_entropy(scores, inputs.sample_y))


def input_layouts(raw: tuple[int, ...], student: tuple[int, ...],
                  declared: tuple[tuple[int, ...], ...] = ()) -> list[tuple[int, ...]]:
    """The layouts a network may take raw inputs in: the student's own first, then the lab's declared ones, or else
    flat, as stored, and channels first/last."""
    size = int(np.prod(raw))
    layouts = [student] if student and int(np.prod(student)) == size else []
    if declared:
        layouts += [layout for layout in declared if int(np.prod(layout)) == size]
    else:
        layouts += [(size,), raw]
        if len(raw) == 2:
            layouts += [(1, *raw), (*raw, 1)]
    return list(dict.fromkeys(layouts))


def architecture_fits(facts: ArchitectureFacts, requirement: str) -> bool:
    """Does a network fit a slot's requirement: an architecture, with `:N` when exactly N dense layers are needed."""
    architecture, _, count = requirement.partition(":")
    plain = not facts.conv and not facts.recurrent
    if count and facts.dense_layers != int(count):
        return False
    if architecture == "single_dense":
        return facts.dense_layers == 1 and plain
    if architecture == "multi_dense":
        return facts.dense_layers >= 2 and facts.nonlinear_between and plain
    return True


def _result(slot: SlotRequest, via: str, label: str, fit: _Fit, inputs: DatasetInputs, path: str | None,
            considered: int | None = None) -> ModelResult:
    hidden_x = inputs.hidden_x
    network = fit.network
    words = fit.preprocessing.words
    trained = ({"train_outputs": finite_list(fit.train_predictions)} if inputs.regression else
               {"train_predictions": [int(p) for p in fit.train_predictions]})
    base: dict[str, Any] = {"name": slot.name, "found": True, "via": via, "source": label, "export_path": path,
                            "framework": network.source.framework, "facts": network.facts(),
                            "preprocessing": fit.preprocessing.name, "preprocessing_words": words, **trained,
                            "train_loss": fit.train_loss, "considered": considered,
                            "train_accuracy": round(float(fit.accuracy), 4) if considered and not inputs.regression
                            else None}
    try:
        prepared = fit.preprocessing(hidden_x).reshape((len(hidden_x), *fit.layout))
        started = time.perf_counter()
        scores = network.scores(prepared)
        elapsed_ms = (time.perf_counter() - started) * 1000
    except (NetworkRefused, ValueError) as exc:
        return ModelResult(**base, error=f"it could not be run on the hidden inputs: {str(exc)[:300]}")
    base["inference_ms"] = round(elapsed_ms, 3)
    if slot.max_inference_ms is not None and elapsed_ms > slot.max_inference_ms:
        return ModelResult(**base, error=(
            f"its forward pass over the {len(hidden_x)} hidden inputs took {elapsed_ms:.1f} ms, over the lab's limit "
            f"of {slot.max_inference_ms:g} ms for `{slot.name}` (max_inference_ms): use a smaller network"))
    sample = fit.preprocessing(inputs.sample_x[:MAX_IMAGES]).reshape((-1, *fit.layout))
    seen = [sample, prepared]
    if inputs.public_x is not None and len(inputs.public_x):
        seen.append(fit.preprocessing(inputs.public_x[:MAX_IMAGES]).reshape((-1, *fit.layout)))
    memorised = memorised_rows(network, seen)
    if memorised is not None:
        base.update(memorised_rows=memorised.copies, rows_compared=memorised.rows)
    if inputs.regression:
        return ModelResult(**base, outputs=finite_list(scores[:, 0]))
    predictions = classes_of(scores, network.one_output_threshold)
    ranked = ranked_classes(scores, slot.top_k).tolist() if slot.top_k and scores.shape[1] > 1 else None
    if inputs.second_x is not None and len(inputs.second_x):
        try:
            second = network.scores(fit.preprocessing(inputs.second_x).reshape((len(inputs.second_x), *fit.layout)))
            base["second_predictions"] = [int(p) for p in classes_of(second, network.one_output_threshold)]
        except (NetworkRefused, ValueError):
            pass  # the same network ran on the hidden inputs: rows of the same kind cannot fail; none reported
    return ModelResult(**base, predictions=[int(p) for p in predictions], ranked=ranked)


def _over_cap(facts: ArchitectureFacts, slot: SlotRequest) -> str | None:
    """Why a network of the slot's architecture is over its parameter cap; a network of another architecture earns
    nothing anyway and is told the architecture it lacks, which says more."""
    return over_parameter_cap(facts, slot.max_parameters) if architecture_fits(facts, slot.architecture) else None


def _evaluate_slot(state: _Evaluation, slot: SlotRequest, taken: set[int], fallback: bool) -> ModelResult | None:
    export = state.export
    contract = export.slot(slot.name)
    inputs = state.data[slot.dataset]
    if inputs.environment is not None:
        student = state.student_preprocessing(slot.dataset)[0]
        layouts = input_layouts(inputs.sample_x.shape[1:], state.student_preprocessing(slot.dataset)[2],
                                inputs.layouts)
        return evaluate_policy_slot(export, slot.name, inputs.sample_x, inputs.hidden_x, list(inputs.visible_seeds),
                                    inputs.environment, state.network, student, layouts, state.paths, taken)
    if contract is not None and contract.error:
        return ModelResult(name=slot.name, found=False, error=contract.error)
    if contract is not None and contract.network is not None:
        entry = export.network(contract.network)
        label = entry.label if entry else f"`{slot.name}`"
        fit = state.fit(contract.network, slot.dataset)
        taken.add(contract.network)
        over = None if isinstance(fit, str) else _over_cap(fit.network.facts(), slot)
        if isinstance(fit, str) or over:
            network = state.network(contract.network)
            why = f"{NOT_FROM_LAYERS}: {fit}" if isinstance(network, str) else (over or str(fit))
            return ModelResult(name=slot.name, found=True, via="contract", source=label,
                               framework=entry.framework if entry else None, error=why)
        return _result(slot, "contract", label, fit, inputs, state.paths.get(contract.network))
    pool: list[tuple[int, _Fit]] = []
    refused: list[tuple[int, str, str]] = []
    fitting: list[tuple[int, str, str]] = []  # refused, though of the slot's architecture: the role's own network
    width = int(np.prod(inputs.sample_x.shape[1:]))
    for entry in export.networks[:MAX_CANDIDATES]:
        if entry.id in taken:
            continue
        fit = state.fit(entry.id, slot.dataset)
        if isinstance(fit, str):
            if isinstance(state.network(entry.id), str) and entry.input_width in (None, width):
                refused.append((entry.id, entry.label, f"{NOT_FROM_LAYERS}: {fit}"))
            continue
        over = _over_cap(fit.network.facts(), slot)
        if over:
            refused.append((entry.id, entry.label, over))
            fitting.append(refused[-1])
        elif fallback or architecture_fits(fit.network.facts(), slot.architecture):
            pool.append((entry.id, fit))
    if not pool:
        # a network the notebook trained for this slot that could not be used: one of the slot's architecture (over
        # its cap) first, else the one whose forward() took this dataset's inputs (another slot's network is never
        # named here); a larger network of the same name that could not be read says less about this role
        if fallback and refused:
            took = [item for item in refused if getattr(export.network(item[0]), "input_width", None) == width]
            index, label, why = (fitting or took or refused)[0]
            taken.add(index)
            return ModelResult(name=slot.name, found=False, source=label, error=why)
        return None
    # the best network the student trained for this role: the most accurate on the visible sample (the export lists
    # the final bindings first, so a name's latest network wins a tie over an earlier snapshot)
    index, best = max(pool, key=lambda item: item[1].accuracy)
    taken.add(index)
    entry = export.network(index)
    return _result(slot, "discovery", entry.label if entry else "?", best, inputs, state.paths.get(index),
                   considered=len(pool))


def _other_dataset_networks(state: _Evaluation, dataset: str | None) -> set[int]:
    """Exported networks whose input size is not that of `dataset`'s inputs."""
    inputs = state.data.get(dataset or "")
    if inputs is None:
        return set()
    size = int(np.prod(inputs.sample_x.shape[1:]))
    other = set()
    for entry in state.export.networks:
        network = state.network(entry.id)
        facts = network.facts() if not isinstance(network, str) else None
        if facts is not None and facts.input_size is not None and facts.input_size != size and not facts.conv:
            other.add(entry.id)
    return other


def evaluate(export: HarnessExport | None, slots: list[SlotRequest], histories: list[HistoryRequest],
             data: dict[str, DatasetInputs], ops: str = "conv") -> EvaluationResult:
    """Every graded prediction, computed here from the exported networks."""
    if export is None:
        return EvaluationResult()
    state = _Evaluation(export, data, ops=ops)
    entries: dict[str, ModelResult] = {}
    taken = {s.network for s in export.slots if s.network is not None and any(r.name == s.name for r in slots)}
    # first every slot takes a network whose architecture fits; only then may an empty slot take an unfitting one
    for fallback in (False, True):
        for slot in slots:
            if slot.dataset not in data:
                continue
            done = entries.get(slot.name)
            if done is not None and (done.found or done.error):
                continue
            result = _evaluate_slot(state, slot, taken, fallback)
            entries[slot.name] = result or ModelResult(name=slot.name, found=False)
    chosen = {name: _network_id(export, entry) for name, entry in entries.items()}
    history_results = []
    datasets = {slot.name: slot.dataset for slot in slots}
    for request in histories:
        history = choose_history(request, [h for h in export.histories if h.name == request.name],
                                  chosen.get(request.model or ""),
                                  _other_dataset_networks(state, datasets.get(request.model or "")))
        if history is None:
            history_results.append(HistoryResult(name=request.name, found=False))
            continue
        history_results.append(history_result(request, history, entries.get(request.model or "")))
    return EvaluationResult(models=list(entries.values()), histories=history_results)


def _network_id(export: HarnessExport, entry: ModelResult) -> int | None:
    return next((n.id for n in export.networks if n.label == entry.source), None) if entry.found else None
