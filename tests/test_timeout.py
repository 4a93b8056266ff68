"""serving.timeout: BentoML's request time limit without its memory growth."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import subprocess
import sys
import weakref

from bentoml._internal.server.http import traffic

from serving.timeout import RequestTimeout

SCOPE = {"type": "http", "method": "GET", "path": "/", "headers": []}


async def call(app, timeout: float) -> list[dict]:
    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b""}

    async def send(message):
        sent.append(message)

    await RequestTimeout(app, timeout)(SCOPE, receive, send)
    return sent


def answer(delay_before: float = 0.0, delay_during: float = 0.0, kept: list | None = None):
    async def app(scope, receive, send):
        if kept is not None:
            kept.append((send, asyncio.current_task()))  # as a request object outlives its request
        await asyncio.sleep(delay_before)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await asyncio.sleep(delay_during)
        await send({"type": "http.response.body", "body": b"done"})
    return app


def test_no_answer_within_the_limit_is_a_504_with_the_reason():
    sent = asyncio.run(call(answer(delay_before=5), timeout=0.2))
    assert sent[0]["status"] == 504
    assert json.loads(sent[1]["body"]) == {"error": "Not able to process the request in 0.2 seconds"}


def test_an_answer_once_started_is_sent_to_its_end():
    sent = asyncio.run(call(answer(delay_during=0.5), timeout=0.2))
    assert [m.get("status") for m in sent] == [200, None] and sent[1]["body"] == b"done"


def test_a_timeout_raised_by_the_app_itself_is_not_taken_for_the_limit():
    async def app(scope, receive, send):
        raise TimeoutError("the app's own")

    try:
        asyncio.run(call(app, timeout=60))
    except TimeoutError as error:
        assert str(error) == "the app's own"
    else:
        raise AssertionError("the app's TimeoutError was swallowed")


def test_an_answered_request_leaves_no_timer_and_its_send_holds_no_task():
    """BentoML's middleware left a 600 s timer per request holding its context; and a send
    wrapper that kept the timer kept the task, so each request kept the one before it."""
    kept: list = []

    async def main():
        await call(answer(kept=kept), timeout=600)
        loop = asyncio.get_running_loop()
        return [h for h in loop._scheduled if not h.cancelled()]

    assert asyncio.run(main()) == []
    send, task = kept[0]
    task = weakref.ref(task)
    kept[0] = (send, None)
    gc.collect()
    assert task() is None


def test_bentoml_builds_its_services_with_it(packaged):
    """Importing the service (with a model in the store, as `bentoml serve` does) replaces BentoML's middleware."""
    check = ("import serving.service\nfrom bentoml._internal.server.http import traffic\n"
             "from serving.timeout import RequestTimeout\nprint(traffic.TimeoutMiddleware is RequestTimeout)")
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **packaged})
    assert done.stdout.strip().splitlines()[-1:] == ["True"], done.stderr[-2000:]
