"""captcha_keras.serving.limits: the request-size limit, enforced while the body is read (ASGI, no server)."""

import asyncio
import json

import pytest

from captcha_keras.serving.limits import DRAIN_FACTOR
from captcha_keras.serving.limits import BodyLimit

LIMIT = 100


class Exchange:
    """One request through `BodyLimit(app, LIMIT)`: what the client sends, what the app sees, what comes back."""

    def __init__(self, messages, headers=(), scope_type="http", app_listens_on=False):
        self.pending = list(messages)
        self.reads = 0
        self.app_calls = []
        self.app_received = []
        self.sent = []
        self.app_listens_on = app_listens_on
        scope = {"type": scope_type, "headers": [(k.encode(), v.encode()) for k, v in headers]}
        asyncio.run(BodyLimit(self.app, LIMIT)(scope, self.receive, self.send))

    async def receive(self):
        self.reads += 1
        return self.pending.pop(0) if self.pending else {"type": "http.disconnect"}

    async def send(self, message):
        self.sent.append(message)

    async def app(self, scope, receive, send):
        self.app_calls.append(scope["type"])
        while True:
            message = await receive()
            self.app_received.append(message)
            if not message.get("more_body", False):
                break
        if self.app_listens_on:
            # What a streaming response does: wait for the client to go away.
            self.app_received.append(await receive())
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    @property
    def status(self):
        return self.sent[0]["status"]

    @property
    def error(self):
        return json.loads(self.sent[1]["body"])["error"]


def chunks(*sizes):
    """`http.request` messages of the given sizes, the last one ending the body."""
    return [
        {"type": "http.request", "body": b"x" * size, "more_body": i < len(sizes) - 1} for i, size in enumerate(sizes)
    ]


@pytest.mark.parametrize("sizes", [(LIMIT,), (40, 0, 60), (0,)])
def test_a_body_within_the_limit_reaches_the_app_whole_in_one_message(sizes):
    exchange = Exchange(chunks(*sizes), headers=[("content-length", str(sum(sizes)))])
    assert exchange.app_received == [{"type": "http.request", "body": b"x" * sum(sizes), "more_body": False}]
    assert exchange.reads == len(sizes)
    assert exchange.status == 200 and exchange.sent[1]["body"] == b"ok"


def test_after_the_replayed_body_the_app_reads_the_real_channel():
    exchange = Exchange(chunks(10, 10), app_listens_on=True)
    assert exchange.app_received == [
        {"type": "http.request", "body": b"x" * 20, "more_body": False},
        {"type": "http.disconnect"},
    ]


def test_a_declared_length_far_over_the_limit_is_refused_before_reading():
    too_long = DRAIN_FACTOR * LIMIT + 1
    exchange = Exchange(chunks(too_long), headers=[("content-length", str(too_long))])
    assert exchange.reads == 0 and exchange.app_calls == []
    assert exchange.status == 413
    assert exchange.error == {
        "status": 413,
        "max_bytes": LIMIT,
        "message": (
            f"The request body ({too_long:,} bytes) is larger than the {LIMIT} bytes allowed (--max-request-bytes)."
        ),
    }


def test_a_declared_length_a_little_over_is_read_first_so_that_the_client_sees_the_answer():
    exchange = Exchange(chunks(60, 60, 60), headers=[("content-length", "180")])
    assert exchange.reads == 3 and exchange.app_calls == []
    assert exchange.status == 413 and "(180 bytes)" in exchange.error["message"]


def test_a_chunked_body_is_counted_as_it_arrives_and_drained_a_bounded_amount():
    # Ten chunks of 60 against a limit of 100: the second passes it; then up to 4 limits more
    # (seven chunks, 420 bytes) are read and dropped, and the tenth is never read.
    exchange = Exchange(chunks(*[60] * 10))
    assert exchange.app_calls == [] and exchange.reads == 2 + 7
    assert exchange.status == 413
    assert exchange.error["message"].startswith(f"The request body (more than {LIMIT} bytes) is larger than")


def test_the_refusal_is_json_and_closes_the_connection():
    exchange = Exchange(chunks(LIMIT + 1))
    start, body = exchange.sent
    headers = dict(start["headers"])
    assert headers == {
        b"content-type": b"application/json",
        b"content-length": str(len(body["body"])).encode(),
        b"connection": b"close",
    }


@pytest.mark.parametrize("declared, shown", [("abc", "b'abc'"), ("-5", "-5"), ("1.5", "b'1.5'")])
def test_a_bad_content_length_is_a_400(declared, shown):
    exchange = Exchange(chunks(5), headers=[("content-length", declared)])
    assert exchange.app_calls == [] and exchange.status == 400
    assert exchange.error == {"status": 400, "message": f"Bad Content-Length header: {shown}."}


def test_a_client_that_goes_away_mid_body_gets_nothing_and_the_app_is_not_called():
    exchange = Exchange(chunks(10, 10)[:1] + [{"type": "http.disconnect"}])
    assert exchange.app_calls == [] and exchange.sent == []


@pytest.mark.parametrize("scope_type", ["lifespan", "websocket"])
def test_other_scopes_pass_straight_through(scope_type):
    exchange = Exchange(chunks(LIMIT * 10), scope_type=scope_type)
    # The app read the client's own message: nothing was counted, joined or refused.
    assert exchange.app_calls == [scope_type] and exchange.app_received == chunks(LIMIT * 10)
