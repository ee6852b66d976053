"""The request-size limit, enforced while the body is read.

FastAPI does not apply Starlette's `max_body_size` (fastapi#16338), and a
chunked upload has no Content-Length to check, so this ASGI middleware reads
the body itself, counting bytes as they arrive: past the limit it stops
keeping them and answers 413 (after reading on, discarding, a bounded amount,
so that a client still sending can read the answer instead of a reset
connection), and the application never sees the request. Under the limit,
the application gets the body it read, replayed.
"""

import json

# Before a 413, read on (and discard) up to this many limits, so that a client still sending sees the answer.
DRAIN_FACTOR = 4


class BodyLimit:
    """ASGI middleware: 413 for bodies over `max_bytes`; 400 for a bad Content-Length.

    Args:
        app: the ASGI application.
        max_bytes: int. The largest body accepted.
    """

    def __init__(self, app, max_bytes):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                declared = int(declared)
                if declared < 0:
                    raise ValueError
            except ValueError:
                return await _answer(send, 400, f"Bad Content-Length header: {declared!r}.")
            if declared > self.max_bytes:
                # Far over the limit: answer at once and let the connection close. Not far:
                # read it first, so that the client, still sending, gets to read the answer.
                if declared <= DRAIN_FACTOR * self.max_bytes:
                    await self._drain(receive)
                return await self._refuse(send, f"{declared:,} bytes")
        chunks, total = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            total += len(body)
            if total > self.max_bytes:
                if message.get("more_body", False):
                    await self._drain(receive)
                return await self._refuse(send, f"more than {self.max_bytes:,} bytes")
            chunks.append(body)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        sent = False

        async def replay():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send, size):
        await _answer(
            send,
            413,
            f"The request body ({size}) is larger than the {self.max_bytes:,} bytes allowed (--max-request-bytes).",
            max_bytes=self.max_bytes,
        )

    async def _drain(self, receive):
        """Reads on, discarding, up to `DRAIN_FACTOR` limits or the end of the body."""
        drained = 0
        while drained < DRAIN_FACTOR * self.max_bytes:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            drained += len(message.get("body", b""))
            if not message.get("more_body", False):
                return


async def _answer(send, status, message, **extra):
    body = json.dumps({"error": {"status": status, "message": message, **extra}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
