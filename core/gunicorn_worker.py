"""gunicorn's gthread worker with a read deadline: a client that sends part of a request and then
nothing loses its thread after ``GUNICORN_READ_TIMEOUT`` seconds of silence.

gthread waits for a connection's first bytes off-thread, but once they arrive it reads the rest in a
pool thread with no timeout, so a handful of slow clients stop a worker (slowloris). nginx in front
is the real defence (deploy/nginx/); this keeps a directly exposed gunicorn degrading, not stopped.
"""

from __future__ import annotations

import errno
import socket
from typing import Any

from gunicorn.workers.gthread import ThreadWorker  # type: ignore[import-untyped]  # no stubs for the pinned gunicorn


class _DeadlineSocket(socket.socket):
    """A client socket whose blocking mode waits at most ``read_timeout`` per operation."""

    read_timeout: float = 10.0

    def setblocking(self, flag: bool) -> None:
        if flag:
            self.settimeout(self.read_timeout)
        else:
            super().setblocking(False)

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        try:
            return super().recv(bufsize, flags)
        except TimeoutError:
            # reported as a reset: gunicorn closes the connection quietly instead of logging a traceback
            raise ConnectionResetError(errno.ECONNRESET, "the client sent nothing in time") from None


class DeadlineThreadWorker(ThreadWorker):  # type: ignore[misc]  # gunicorn ships no type information
    """gunicorn.conf.py sets ``read_timeout`` from the environment before any worker starts."""

    read_timeout: float = 10.0

    def enqueue_req(self, conn: Any) -> None:
        if type(conn.sock) is socket.socket:  # once per connection: kept-alive ones come back here
            sock = conn.sock
            wrapped = _DeadlineSocket(sock.family, sock.type, sock.proto, fileno=sock.detach())
            wrapped.read_timeout = self.read_timeout
            conn.sock = wrapped
        super().enqueue_req(conn)
