"""Source files that run inside the student's kernel. The host reads them as text and never imports them."""

from pathlib import Path

HERE = Path(__file__).resolve().parent


def source(name: str) -> str:
    return (HERE / name).read_text(encoding="utf-8")
