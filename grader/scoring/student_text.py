"""Student-facing text is written by the grader: strings that come from the sandbox (exception class names, messages,
reprs, type names) are untrusted: an exception may be named after whatever its code saw, and any of them may hold
terminal escape sequences.

- `printable` strips control and format characters (escape sequences, bidi overrides) and caps the length; every
  string shown from the sandbox passes through it.
- `exception_name` shows an exception's class only if it is one of Python's built-in exceptions; any other name is
  "an exception" (a class named after its input carries no hidden rows into the message).
- what the kernel exported about a model or history (its errors) is shown printable and capped; since the kernel
  never sees a hidden input (the evaluator runs outside it), no hidden row can be in that text; the whole text also
  goes, truncated, to the instructors' list of what the grader found.
"""

from __future__ import annotations

import builtins
import unicodedata

BUILTIN_EXCEPTIONS = frozenset(name for name, value in vars(builtins).items()
                               if isinstance(value, type) and issubclass(value, BaseException))
INSTRUCTOR_TEXT_CHARS = 500


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
