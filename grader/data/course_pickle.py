"""One pickle a course's notebooks read in either of its two layouts (`layout = "dict_or_tuple"` in lab.toml).

Students of one course keep one file name (`data.pkl.gz`) for two files: the course's dict
(`data['Train']['Features']`, raw integers) and Nielsen's tuple (`training, validation, test = pickle.load(f)`,
`data[0][0]`, floats divided by 256), which the course's repository holds since 2025. The file holds a
`DictOrTuple`: the visible raw rows once, answering a string key as the dict and a position (or unpacking) as the
tuple, each built on first use. Unpickling it needs this class: the kernel's start-up registers this file's text as
the module `_labgrader_course` (`grader.data.serve.course_call`); importing this module registers it on the host too.
Only stdlib here: the kernel's environment is the student's, and the arrays are whatever `numpy` unpickled.
"""

from __future__ import annotations

import sys
from typing import Any

MODULE = "_labgrader_course"  # the name the pickle refers to, in the kernel and here


class DictOrTuple:
    """The course's dict by key (`['Train']`), Nielsen's (train, validation, test) tuple by position."""

    __module__ = MODULE

    def __init__(self, x_train: Any, y_train: Any, x_test: Any, y_test: Any, dict_rows: int, tuple_rows: int,
                 scale: float) -> None:
        # x: rows flattened, raw values as the dataset stores them; y: integer labels
        self._raw = (x_train, y_train, x_test, y_test)
        self._rows = (int(dict_rows), int(tuple_rows))
        self._scale = float(scale)
        self._as_dict: Any = None
        self._as_tuple: Any = None

    def __reduce__(self) -> tuple[Any, ...]:
        return (DictOrTuple, (*self._raw, *self._rows, self._scale))

    def _dict(self) -> dict[str, Any]:
        if self._as_dict is None:
            x_train, y_train = self._raw[0], self._raw[1]
            rows = self._rows[0]
            self._as_dict = {"Train": {"Features": x_train[:rows].astype("int64"),
                                       "Labels": y_train[:rows].astype("int64")}}
        return self._as_dict  # type: ignore[no-any-return]

    def _tuple(self) -> tuple[Any, ...]:
        if self._as_tuple is None:
            x_train, y_train, x_test, y_test = self._raw
            rows = self._rows[1]

            def scaled(x: Any) -> Any:
                return (x.astype("float32") / self._scale).astype("float32")

            self._as_tuple = ((scaled(x_train[:rows]), y_train[:rows].astype("int64")),
                              (scaled(x_train[rows:]), y_train[rows:].astype("int64")),
                              (scaled(x_test), y_test.astype("int64")))
        return self._as_tuple  # type: ignore[no-any-return]

    def __getitem__(self, key: Any) -> Any:
        return self._dict()[key] if isinstance(key, str) else self._tuple()[key]

    def __iter__(self) -> Any:
        return iter(self._tuple())

    def __len__(self) -> int:
        return 3

    def __contains__(self, key: Any) -> bool:
        return key in self._dict() if isinstance(key, str) else key in self._tuple()

    def keys(self) -> Any:
        return self._dict().keys()

    def items(self) -> Any:
        return self._dict().items()

    def values(self) -> Any:
        return self._dict().values()

    def get(self, key: Any, default: Any = None) -> Any:
        return self._dict().get(key, default)

    def __repr__(self) -> str:
        return (f"<the course's dict (['Train']: {self._rows[0]} rows) and Nielsen's (training, "
                f"validation, test) tuple (x / {self._scale:g}) in one>")


sys.modules.setdefault(MODULE, sys.modules[__name__])
