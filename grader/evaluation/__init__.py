"""The clean evaluation outside the kernel: the grader rebuilds each exported network in NumPy and computes every
graded prediction itself, on hidden inputs and on a visible training sample, with a named preprocessing.

    network.py        operations of an export -> a NumPy network; architecture facts read from the operations
    preprocessing.py  the named preprocessings, and which one a student's preprocess_<dataset> computes
    evaluator.py      slots: contract names, discovery, preprocessing choice, predictions, history cross-check
    result.py         EvaluationResult: the one serialisable object scoring consumes (and a rescore re-reads)
    __main__.py       the evaluator process: runs no student code and holds no hidden labels
"""
