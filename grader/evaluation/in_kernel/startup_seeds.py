# Start-up: fixed seeds, and the deep-learning frameworks seeded at the moment the student imports them (importing
# them eagerly would cost seconds per notebook; startup.py calls these hooks after the import). Runs in the student's
# kernel after startup_process.py, in the same private namespace.
import os
import random
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # defined by the start-up's earlier sources, which run first in the same namespace
    from grader.evaluation.in_kernel.startup_process import threads

random.seed(0)
try:
    import numpy

    numpy.random.seed(0)
except ImportError:
    pass


def seed_torch(module: Any) -> None:
    module.manual_seed(0)
    module.set_num_threads(int(threads))
    fraction = os.environ.get("LABGRADER_TORCH_MEMORY_FRACTION")
    if fraction and module.cuda.is_available():
        # co-located jobs share the card: each may allocate only its slot's share
        module.cuda.set_per_process_memory_fraction(float(fraction))


def seed_tensorflow(module: Any) -> None:
    try:
        module.random.set_seed(0)
    except AttributeError:
        pass


def seed_keras(module: Any) -> None:
    try:
        module.utils.set_random_seed(0)
    except AttributeError:
        pass
