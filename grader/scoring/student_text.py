"""Student-facing text is written by the grader: strings that come from the sandbox (exception class names, messages,
reprs, type names) are untrusted. During the evaluation, student code runs on hidden inputs and could name an
exception or a class after them, or put terminal escape sequences in them.

- `printable` strips control and format characters (escape sequences, bidi overrides) and caps the length; every
  string shown from the sandbox passes through it.
- `exception_name` shows an exception's class only if it is one of Python's built-in exceptions; any other name is
  "an exception" (a class named after its input carries no hidden rows into the message).
- `evaluation_problem` turns what the in-kernel evaluation reported about a model or history into grader-written
  words; the raw text stays in the report for instructors (truncated).
"""

from __future__ import annotations

import builtins
import re
import unicodedata

BUILTIN_EXCEPTIONS = frozenset(name for name, value in vars(builtins).items()
                               if isinstance(value, type) and issubclass(value, BaseException))
INSTRUCTOR_TEXT_CHARS = 500
_EXCEPTION = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*(?:Error|Exception|Exit|Interrupt|Warning|Iteration))\b")
_NOT_A_MODEL = re.compile(r"^`([A-Za-z_][A-Za-z0-9_]{0,60})` is an? [^\n]*, not a trained ")
_NO_INPUTS = "the model could not be run on "


def printable(text: object, limit: int = 200) -> str:
    """`text` without control or format characters (newlines and tabs become spaces), at most `limit` characters."""
    value = text if isinstance(text, str) else str(text)
    value = value[: limit * 4]
    cleaned = "".join(" " if c in "\n\t\r" else c for c in value
                      if c in "\n\t\r" or unicodedata.category(c)[0] != "C")
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 3] + "..."


def exception_name(name: object) -> str:
    """A built-in exception's class name as it is; anything else as "an exception"."""
    return name if isinstance(name, str) and name in BUILTIN_EXCEPTIONS else "an exception"


def raised(name: object) -> str:
    """"raised ValueError" / "raised an exception"."""
    shown = exception_name(name)
    return f"raised {shown}"


def evaluation_problem(raw: str) -> str:
    """Grader-written words for an error the in-kernel evaluation reported (never the sandbox's own text)."""
    if (match := _NOT_A_MODEL.match(raw)) is not None:
        return f"`{match.group(1)}` is not a trained torch.nn.Module or keras.Model"
    found = _EXCEPTION.search(raw)
    what = raised(found.group(1)) if found else "failed"
    if raw.startswith(_NO_INPUTS):
        return f"the model could not be run on the lab's inputs (it {what})"
    return f"evaluating it {what}; the message is in the report for your instructor"
