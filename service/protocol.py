"""The HTTP/1.1 protocol uvicorn serves the app with: httptools, with a bound on the header block.

uvicorn parses HTTP/1.1 with httptools (C) or h11 (Python). httptools costs less per request
(docs/benchmarks.md, the request profile) but buffers a header block of any size, where h11 refuses
one past 16 KiB. :class:`BoundedHttpToolsProtocol` is httptools that answers 431 and closes the
connection as soon as the header block of a request still arriving passes :func:`head_limit`
bytes: no more than one read past the limit is ever buffered. Below that bound the app's own
check (``service.middleware.HeaderLimitMiddleware``, ``MRI_MAX_HEADER_BYTES``) answers 431 under
any server. The image and ``scripts/serve.sh`` start uvicorn with it:

    uvicorn service.main:app --http service.protocol:BoundedHttpToolsProtocol
"""

from __future__ import annotations

import functools
import json
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from service.settings import Settings

#: Bytes a header block may hold beyond ``MRI_MAX_HEADER_BYTES`` before the server stops reading it:
#: the request line and the separators the app's count leaves out, so that the app's check, with
#: its clear message, decides every block near the limit.
HEAD_ALLOWANCE = 8 * 1024
#: uvicorn's ``--http`` value that serves the app with this protocol (the image, scripts/serve.sh).
UVICORN_HTTP = "service.protocol:BoundedHttpToolsProtocol"


@functools.cache
def head_limit() -> int:
    """Most bytes of a request's header block the server reads (``MRI_MAX_HEADER_BYTES`` from the
    environment, plus :data:`HEAD_ALLOWANCE`)."""
    return Settings().max_header_bytes + HEAD_ALLOWANCE


def _refusal(limit: int) -> bytes:
    body = json.dumps({"detail": f"request headers larger than {limit} bytes; send fewer or shorter headers"})
    return (
        b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
        b"content-type: application/json\r\n"
        b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(body), body.encode())
    )


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, refusing a header block over :func:`head_limit` bytes while it
    arrives (431, connection closed). Bytes are counted from the end of the previous request on the
    connection until the current one's headers are complete."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True
        self._head_bytes = 0

    def data_received(self, data: bytes) -> None:
        counting = self._in_head
        if counting:
            self._head_bytes += len(data)
        super().data_received(data)
        if counting and self._in_head and self._head_bytes > head_limit() and not self.transport.is_closing():
            self.logger.warning("a request's header block passed %d bytes: refused (431)", head_limit())
            self.transport.write(_refusal(head_limit()))
            self.transport.close()

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head, self._head_bytes = True, 0
