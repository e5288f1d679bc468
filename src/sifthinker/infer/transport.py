"""The network side of :mod:`sifthinker.infer.server`: binding (with a warning beyond loopback) and uvicorn with the
request-head and body timeouts it lacks, its own 400s as JSON.

>>> bind_warning("127.0.0.1", has_api_key=False) is None, bind_warning("::1", has_api_key=False) is None
(True, True)
>>> print(bind_warning("0.0.0.0", has_api_key=True))
serve: binding '0.0.0.0' makes the server reachable from other machines, not only this one
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

try:
    import h11
    import uvicorn
    from uvicorn.protocols.http.h11_impl import H11Protocol
except ImportError as e:  # pragma: no cover - the optional extra is missing
    raise ImportError("the server needs the 'serve' extra: pip install 'sifthinker[serve]'") from e

if TYPE_CHECKING:
    from .server import ServeConfig

__all__ = ["is_loopback", "bind_warning", "error_doc", "bind_socket", "make_uvicorn"]

logger = logging.getLogger(__name__)


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (``localhost``, ``127.0.0.0/8``, ``::1``)."""
    host = host.strip().strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name or "": it may resolve to (or mean) every interface
        return False


def bind_warning(host: str, *, has_api_key: bool) -> str | None:
    """The warning to print before binding ``host``, or None for a loopback address."""
    if is_loopback(host):
        return None
    msg = f"serve: binding {host!r} makes the server reachable from other machines, not only this one"
    if not has_api_key:
        msg += "; no API key is set, so anyone who reaches it can use the model (set SIFTHINKER_API_KEY or --api-key)"
    return msg


def error_doc(status: int, message: str, kind: str = "invalid_request_error") -> dict:
    """The JSON body of every error reply (the OpenAI shape)."""
    return {"error": {"message": message, "type": kind, "code": status}}


class _TimedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with the two timeouts it lacks, and JSON bodies on its own 400s.

    uvicorn arms its keep-alive timer only after a response and cancels it on any byte, so a connection that sends
    nothing, or a request head one byte at a time, or a body that never ends, is held for ever. Here a timer runs
    while the connection waits for a request head (``head_timeout_s`` for the whole head, however it trickles) and
    while it receives a body (``body_timeout_s``, also while the rest of a refused body is discarded).
    """

    head_timeout_s = 10.0
    body_timeout_s = 30.0
    _timer: asyncio.TimerHandle | None = None
    _timer_kind: str | None = None

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._watch()

    def handle_events(self) -> None:
        super().handle_events()
        self._watch()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _watch(self) -> None:
        if self.transport is None or self.transport.is_closing():
            return self._disarm()
        state = self.conn.their_state
        kind = "head" if state is h11.IDLE else "body" if state is h11.SEND_BODY else None
        if kind == self._timer_kind:
            return  # the running timer keeps its deadline: trickling bytes do not extend it
        self._disarm()
        if kind is not None:
            delay = self.head_timeout_s if kind == "head" else self.body_timeout_s
            self._timer, self._timer_kind = self.loop.call_later(delay, self._expire), kind

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._timer_kind = None

    def _expire(self) -> None:
        kind, self._timer, self._timer_kind = self._timer_kind, None, None
        if not self.transport.is_closing():
            logger.debug("closing a connection that sent no complete request %s in time", kind)
            self.transport.close()

    def send_400_response(self, msg: str) -> None:
        body = json.dumps(error_doc(400, f"not a valid HTTP request: {msg}")).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                   (b"connection", b"close")]  # fmt: skip
        try:
            for event in (h11.Response(status_code=400, headers=headers, reason=b"Bad Request"), h11.Data(data=body),
                          h11.EndOfMessage()):  # fmt: skip
                self.transport.write(self.conn.send(event))
        except h11.LocalProtocolError:  # the connection is past a state where a reply can be written
            pass
        self.transport.close()


class _Uvicorn(uvicorn.Server):
    """uvicorn's server that calls ``on_ready`` once its socket is accepting connections."""

    def __init__(self, config: uvicorn.Config, on_ready: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_ready = on_ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self._on_ready()


def bind_socket(host: str, port: int, *, has_api_key: bool) -> socket.socket:
    """A socket bound to ``host:port`` (``port=0``: a free one), not yet listening; warns beyond loopback."""
    if (msg := bind_warning(host, has_api_key=has_api_key)) is not None:
        logger.warning(msg)
    try:
        family, kind, proto, _, addr = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except OSError as e:
        raise OSError(f"serve: cannot resolve the host {host!r}: {e}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
    except OSError as e:
        sock.close()
        raise OSError(f"serve: cannot bind {host}:{port}: {e.strerror or e}") from None
    return sock  # uvicorn calls listen() with the configured backlog


def make_uvicorn(app: Any, cfg: ServeConfig, on_ready: Callable[[], None]) -> uvicorn.Server:
    """uvicorn serving ``app`` with the limits and timeouts of ``cfg``; ``on_ready()`` once it accepts."""
    protocol = type("SIFH11Protocol", (_TimedH11Protocol,), {
        "head_timeout_s": cfg.header_timeout_s,
        "body_timeout_s": cfg.body_timeout_s + 2.0,  # the app's own 408 comes first
    })  # fmt: skip
    config = uvicorn.Config(
        app, http=protocol, ws="none", loop="asyncio", lifespan="on", log_config=None, access_log=False,
        server_header=False, timeout_keep_alive=cfg.keep_alive_s, backlog=cfg.backlog,
        limit_concurrency=cfg.max_connections, h11_max_incomplete_event_size=cfg.max_header_bytes,
        timeout_graceful_shutdown=5,
    )  # fmt: skip
    return _Uvicorn(config, on_ready)
