"""The evaluation: the kernel exports its networks, and the grader computes every graded prediction itself, outside
the kernel, by rebuilding each exported network in NumPy (on hidden inputs and on a visible training sample, with a
named preprocessing).

    in_kernel/        code that runs inside the kernel (read as text, never imported by the host): an exporter per
                      model kind (export_torch, export_keras, export_numpy: own-framework networks and perceptrons),
                      the dispatch by the lab's `model_kinds` (export.py), histories and the harness
    request.py        what the kernel is given (visible rows only) and what the evaluator is given (hidden inputs)
    harness_output.py the export the kernel hands back: untrusted, size-capped, validated
    network.py        operations of an export -> a NumPy network; architecture facts read from the operations; the
                      readings weights leave open (a perceptron's bias column first or last)
    preprocessing.py  the named preprocessings, and which one a student's preprocess_<dataset> computes
    evaluator.py      slots: contract names, discovery, preprocessing choice, predictions, history cross-check
    result.py         EvaluationResult: the one serialisable object scoring consumes (and a rescore re-reads)
    __main__.py       the evaluator process: runs no student code and holds no hidden labels
"""
