"""The grader's end of the kernel's ZeroMQ sockets: everything the kernel sends is untrusted input.

Student code runs in the kernel, which holds the message key, so it can send any bytes on any channel. This module:

- caps every frame at the socket (`ZMQ_MAXMSGSIZE`, 256 MB: a larger frame makes ZeroMQ drop the connection), never
  decodes an output whose content is over 8 MB (it becomes a note in the cell: a 100 MB print flushed at once is
  not an attack, and the output budget could not keep it anyway), and keeps the receive queues short (`ZMQ_RCVHWM`),
  so a flood waits in the kernel's own (memory-limited) queues;
- connects each socket once, after the kernel bound it and before any student code ran, never reconnects
  (`ZMQ_RECONNECT_IVL = -1`) and never starts the heartbeat channel (it reconnects by path): the `ipc://` paths lie in
  the sandbox's writable work directory, and a re-resolved path could lead the grader to any socket on the host;
- decodes messages strictly (valid signature, never replayed, UTF-8, JSON without NaN or lone surrogates, a message's
  parts of the right types) and turns any failure into a `KernelProtocolViolation`;
- watches the sockets: a connection the kernel broke (an oversized frame, a closed socket) while its process lives on
  is a protocol violation too.

A violation "breaks" the connection: every pending and later `get_msg` raises it, and the grader ends the job with a
graded note (`grader.execute`), never an infrastructure error.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import stat
import time
from collections.abc import Callable
from hmac import compare_digest
from queue import Empty
from typing import Any

import zmq
import zmq.asyncio
from jupyter_client.asynchronous.client import AsyncKernelClient
from jupyter_client.channels import AsyncZMQSocketChannel
from jupyter_client.session import Session
from traitlets import Type
from zmq.utils.monitor import parse_monitor_message

from grader.errors import KernelProtocolViolation

MAX_FRAME_BYTES = 256 * 1024 * 1024  # at the socket: a larger frame makes ZeroMQ drop the connection
DECODE_FRAME_BYTES = 8 * 1024 * 1024  # larger content is never decoded (the whole output budget is 2 MB by default)
RECEIVE_QUEUE_MESSAGES = {"iopub": 64}  # other channels: 16
OUTPUT_TYPES = frozenset({"stream", "display_data", "update_display_data", "execute_result", "error"})
DROPPED_NOTE = ("\n[labgrader: an output message of {mb:.0f} MB was dropped unread; messages over "
                f"{DECODE_FRAME_BYTES // 2**20} MB are not kept]\n")
DISCONNECT_GRACE_S = 2.0  # a kernel that died closes its sockets a moment before its process is reaped
SOCKET_WAIT_POLL_S = 0.02
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_PARTS = ("header", "parent_header", "metadata", "content")


class ProtocolGuard:
    """Shared by a kernel's channels: once broken, every channel raises the first violation."""

    def __init__(self) -> None:
        self.broken = asyncio.Event()
        self.violation: KernelProtocolViolation | None = None

    def fail(self, what: str) -> KernelProtocolViolation:
        if self.violation is None:
            self.violation = KernelProtocolViolation(what)
            self.broken.set()
        return self.violation


def _reject_constant(name: str) -> Any:
    raise ValueError(f"JSON constant {name}")


def _strict_json(data: bytes | str) -> Any:
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    text = raw.decode("utf-8")  # strict: invalid UTF-8 raises
    value = json.loads(text, parse_constant=_reject_constant)
    if _SURROGATE_ESCAPE.search(raw):  # an escaped surrogate: it must be half of a pair
        json.dumps(value, ensure_ascii=False).encode("utf-8")  # a lone one raises UnicodeEncodeError
    return value


def _describe(exc: BaseException) -> str:
    """Grader-written words for why a message was refused (never the kernel's own text)."""
    text = str(exc)
    if "Duplicate Signature" in text:
        return "a malformed message (a signed message sent twice)"
    if "Invalid Signature" in text or "Unsigned Message" in text:
        return "a malformed message (a wrong signature)"
    if isinstance(exc, UnicodeError):
        return "a malformed message (text that is not valid UTF-8)"
    if isinstance(exc, json.JSONDecodeError) or "JSON constant" in text:
        return "a malformed message (not valid JSON)"
    if isinstance(exc, RecursionError):
        return "a malformed message (nested too deeply)"
    return "a malformed message (not a Jupyter message)"


class StrictSession(Session):
    """A Session that accepts only well-formed, signed, never-replayed messages and raises
    `KernelProtocolViolation` (through the guard) for anything else."""

    guard: ProtocolGuard | None = None

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(unpacker="json", **kwargs)
        self.unpack = _strict_json

    def deserialize(self, msg_list: Any, content: bool = True, copy: bool = True) -> dict[str, Any]:
        guard = self.guard or ProtocolGuard()
        if guard.violation is not None:
            raise guard.violation
        try:
            if self.auth is None:
                raise ValueError("Unsigned Message")  # the grader always gives its kernels a key
            if len(msg_list) >= 5 and any(len(part) > DECODE_FRAME_BYTES for part in msg_list[1:5]):
                message = self._oversized(msg_list)
            else:
                message = super().deserialize(msg_list, content=content, copy=copy)
            for part in _PARTS:
                if not isinstance(message.get(part), dict):
                    raise TypeError(f"{part} is not an object")
            if not isinstance(message.get("msg_type"), str) or not isinstance(message.get("msg_id"), str):
                raise TypeError("no message type or id")
            if not isinstance(message["parent_header"].get("msg_id", ""), str):
                raise TypeError("parent id is not a string")
        except KernelProtocolViolation:
            raise
        except Exception as exc:  # any failure to decode the kernel's bytes is the kernel's fault
            raise guard.fail(_describe(exc)) from None
        message["buffers"] = []  # binary side frames: nothing the grader keeps reads them
        return message

    def _oversized(self, msg_list: list[bytes]) -> dict[str, Any]:
        """A signed output message whose content is too large to decode: a stderr note in its place. Its small
        parts are checked and decoded as usual; anything else this large is a protocol violation."""
        signature = msg_list[0]
        if signature in self.digest_history:
            raise ValueError("Duplicate Signature")
        if not compare_digest(signature, self.sign(msg_list[1:5])):
            raise ValueError("Invalid Signature")
        self._add_digest(signature)
        if any(len(part) > DECODE_FRAME_BYTES for part in msg_list[1:4]):
            raise TypeError("an oversized header")
        header, parent, metadata = (self.unpack(part) for part in msg_list[1:4])
        if not isinstance(header, dict) or header.get("msg_type") not in OUTPUT_TYPES:
            raise TypeError("an oversized message that is not an output")
        header = dict(header, msg_type="stream")
        note = DROPPED_NOTE.format(mb=len(msg_list[4]) / 2**20)
        return {"header": header, "msg_id": str(header.get("msg_id", "")), "msg_type": "stream",
                "parent_header": parent, "metadata": metadata, "content": {"name": "stderr", "text": note},
                "buffers": []}


def _socket_options(sock: zmq.Socket[Any], channel: str) -> None:
    sock.setsockopt(zmq.MAXMSGSIZE, MAX_FRAME_BYTES)
    sock.setsockopt(zmq.RCVHWM, RECEIVE_QUEUE_MESSAGES.get(channel, 16))
    sock.setsockopt(zmq.RECONNECT_IVL, -1)  # connect once: never re-resolve the ipc path


def ipc_path(url: str) -> str | None:
    return url.removeprefix("ipc://") if url.startswith("ipc://") else None


def ipc_socket_ready(path: str) -> bool:
    """The kernel bound its socket there: a socket file, not a link (checked before any student code runs)."""
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISSOCK(info.st_mode)


class GuardedChannel(AsyncZMQSocketChannel):
    """A channel whose `get_msg` raises the connection's violation as soon as there is one."""

    async def get_msg(self, timeout: float | None = None) -> dict[str, Any]:  # type: ignore[override]
        guard: ProtocolGuard | None = getattr(self, "guard", None)
        if guard is None:
            guard = self.guard = ProtocolGuard()
        if guard.violation is not None:
            raise guard.violation
        timeout_ms = None if timeout is None else int(timeout * 1000)
        assert self.socket is not None
        poll = asyncio.ensure_future(self.socket.poll(timeout_ms))
        broken = asyncio.ensure_future(guard.broken.wait())
        try:
            await asyncio.wait({poll, broken}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (poll, broken):
                if not task.done():
                    task.cancel()
        if guard.violation is not None:
            raise guard.violation
        if poll.result():
            return await self._recv()
        raise Empty

    async def _recv(self, **kwargs: Any) -> dict[str, Any]:  # type: ignore[override]
        assert self.socket is not None
        frames = await self.socket.recv_multipart(**kwargs)
        guard: ProtocolGuard = getattr(self, "guard", None) or ProtocolGuard()
        try:
            _, message_frames = self.session.feed_identities(frames)
        except Exception:  # no delimiter frame: not a Jupyter message
            raise guard.fail("a malformed message (not a Jupyter message)") from None
        message: dict[str, Any] = self.session.deserialize(message_frames)
        return message


class GuardedSocketsMixin:
    """Socket creation for the kernel manager (its control socket) and the client: capped, connected once."""

    def _create_connected_socket(self, channel: str, identity: bytes | None = None) -> zmq.Socket[Any]:
        from jupyter_client.connect import channel_socket_types

        url: str = self._make_url(channel)  # type: ignore[attr-defined]
        sock = self.context.socket(channel_socket_types[channel])  # type: ignore[attr-defined]
        sock.linger = 1000
        _socket_options(sock, channel)
        if identity:
            sock.identity = identity
        path = ipc_path(url)
        if path is not None and not ipc_socket_ready(path):
            sock.close(linger=0)
            raise ConnectionError(f"the kernel's {channel} socket is not a bound socket")
        self._before_connect(channel, sock)
        sock.connect(url)
        return sock  # type: ignore[no-any-return]

    def _before_connect(self, channel: str, sock: zmq.Socket[Any]) -> None:
        """Hook for the client's disconnect watch."""


class SandboxKernelClient(GuardedSocketsMixin, AsyncKernelClient):
    """The client of one sandboxed kernel: strict decoding, capped sockets connected once, no heartbeat channel."""

    shell_channel_class = Type(GuardedChannel)  # type: ignore[assignment]
    iopub_channel_class = Type(GuardedChannel)  # type: ignore[assignment]
    stdin_channel_class = Type(GuardedChannel)  # type: ignore[assignment]
    control_channel_class = Type(GuardedChannel)  # type: ignore[assignment]

    kernel_alive: Callable[[], Any] | None = None  # async () -> bool, cheap; set by the kernel manager
    confirm_alive: Callable[[], Any] | None = None  # async () -> bool: asks whoever sees the process
    sockets_ready: Callable[[], None] | None = None  # the manager connects its own control socket then

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.guard = ProtocolGuard()
        if isinstance(self.session, StrictSession):
            self.session.guard = self.guard
        self._watchers: list[asyncio.Task[None]] = []
        self._monitors: list[zmq.Socket[Any]] = []

    def _before_connect(self, channel: str, sock: zmq.Socket[Any]) -> None:
        monitor = sock.get_monitor_socket(zmq.EVENT_DISCONNECTED)
        self._monitors.append(monitor)
        self._watchers.append(asyncio.ensure_future(self._watch(channel, monitor)))

    async def _watch(self, channel: str, monitor: zmq.Socket[Any]) -> None:
        """A disconnect while the kernel process lives on: it sent an oversized frame or closed the socket."""
        while True:
            event = parse_monitor_message(await monitor.recv_multipart())  # type: ignore[misc]
            if event["event"] != zmq.EVENT_DISCONNECTED:
                continue
            if not await self._still_alive():
                return  # it died: the dead-kernel path reports why
            self.guard.fail(f"a message over the {MAX_FRAME_BYTES // 2**20} MB limit, or broke its {channel} "
                            "connection")
            return

    async def _still_alive(self) -> bool:
        """After a disconnect: is the kernel's process still there once a dying one would have been reaped?"""
        if self.confirm_alive is not None:
            return bool(await self.confirm_alive())
        deadline = time.monotonic() + DISCONNECT_GRACE_S
        while time.monotonic() < deadline:
            if self.kernel_alive is not None and not await self.kernel_alive():
                return False
            await asyncio.sleep(0.1)
        return True

    async def start_channels(self, shell: bool = True, iopub: bool = True, stdin: bool = True,  # type: ignore[override]
                             hb: bool = False, control: bool = True, timeout_s: float = 60) -> None:
        """Wait until the kernel has bound its sockets (it runs no student code yet), then connect each once.
        The heartbeat channel never starts: it reconnects by path."""
        deadline = time.monotonic() + timeout_s
        wanted = [c for c, on in (("shell", shell), ("iopub", iopub), ("stdin", stdin), ("control", control)) if on]
        paths = [p for c in wanted if (p := ipc_path(self._make_url(c))) is not None]
        while not all(ipc_socket_ready(p) for p in paths):
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kernel didn't respond in {timeout_s:.0f} seconds (its sockets never appeared)")
            if self.kernel_alive is not None and not await self.kernel_alive():
                raise RuntimeError("Kernel died before replying to kernel_info")
            await asyncio.sleep(SOCKET_WAIT_POLL_S)
        if self.sockets_ready is not None:
            self.sockets_ready()
        for name in wanted:
            getattr(self, f"{name}_channel").guard = self.guard  # creating it connects its socket
        super().start_channels(shell=shell, iopub=iopub, stdin=stdin, hb=False, control=control)

    def stop_channels(self) -> None:
        for task in self._watchers:
            task.cancel()
        self._watchers.clear()
        for monitor in self._monitors:
            monitor.close(linger=0)
        self._monitors.clear()
        super().stop_channels()
