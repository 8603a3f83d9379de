"""The frames the root and a job's kernel driver exchange: a 4-byte length, then a JSON object (no NaN, ASCII).

Both sides import this module; the root never imports the driver's nbclient side (`grader.kernel.cells`)."""

from __future__ import annotations

import asyncio
import json
import struct
from typing import Any

from grader.errors import FrameTooLarge

FRAME_HEADER = struct.Struct(">I")
MAX_REQUEST_BYTES = 256 * 1024 * 1024  # the root's requests: the notebook (capped by the upload limit) and code
DEFAULT_DEATH_REASON = "memory or process limit reached, or the process was killed"
CONNECTION_KEYS = ("transport", "ip", "shell_port", "iopub_port", "stdin_port", "control_port", "hb_port", "key",
                   "signature_scheme")

def encode_frame(message: dict[str, Any]) -> bytes:
    body = json.dumps(message, ensure_ascii=True, allow_nan=False).encode("ascii")
    return FRAME_HEADER.pack(len(body)) + body


async def read_frame(reader: asyncio.StreamReader, max_bytes: int) -> dict[str, Any] | None:
    """The next frame, or None at end of stream; the size is checked before a byte of the body is read."""
    try:
        header = await reader.readexactly(FRAME_HEADER.size)
    except asyncio.IncompleteReadError:
        return None
    (size,) = FRAME_HEADER.unpack(header)
    if size > max_bytes:
        raise FrameTooLarge(f"a frame of {size} bytes, over the {max_bytes} byte cap")
    try:
        body = await reader.readexactly(size)
    except asyncio.IncompleteReadError:
        return None
    value = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    if not isinstance(value, dict):
        raise ValueError("a frame that is not a JSON object")
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"JSON constant {name}")
