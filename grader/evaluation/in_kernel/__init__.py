"""Source files that run inside the student's kernel. The host reads them as text and never imports them."""

from pathlib import Path

HERE = Path(__file__).resolve().parent
# the harness cell runs these in one namespace, in this order: each file uses names the earlier ones define
HARNESS_SOURCES = ("export_common.py", "export_torch.py", "export_keras.py", "export_numpy.py", "export.py",
                   "histories.py", "harness.py")


def source(name: str) -> str:
    return (HERE / name).read_text(encoding="utf-8")


def harness_source() -> str:
    """The harness cell's code: every in-kernel exporter, then the history finder, then the harness."""
    return "\n".join(source(name) for name in HARNESS_SOURCES)
