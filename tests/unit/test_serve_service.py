"""CompletionService.submit: the hand-off between the event loop and the generation thread.

Real executors (a thread pool, and the main-thread executor ``hubmgr serve`` uses, run here on a
helper thread) and a real asyncio loop: a request that goes away while queued is never generated,
an error reaches the request, and ``finished`` (which returns the model lease) runs once per request.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from hubmgr.serve.app import CompletionService
from hubmgr.serve.server import MainThreadExecutor


@pytest.fixture(params=["thread-pool", "main-thread-executor"])
def executor(request):
    if request.param == "thread-pool":
        pool = ThreadPoolExecutor(max_workers=1)
        yield pool
        pool.shutdown(wait=True)
        return
    ex, stop = MainThreadExecutor(), threading.Event()
    runner = threading.Thread(target=ex.run_until, args=(stop.is_set,), daemon=True)
    runner.start()
    yield ex
    stop.set()
    runner.join(timeout=10)


def test_queued_request_that_goes_away_is_not_generated_and_leases_come_back_once(executor) -> None:
    service = CompletionService(pool=None, max_queue=4, executor=executor)
    gate, ran, finished = threading.Event(), [], []

    def slow() -> str:
        gate.wait(30)
        ran.append("first")
        return "a"

    async def scenario() -> None:
        first = service.submit(slow, lambda: finished.append("first"))
        second = service.submit(lambda: ran.append("second"), lambda: finished.append("second"))
        second.cancel()  # the client left while its request waited behind the first one
        await asyncio.sleep(0.05)  # the cancel reaches the executor's future on the loop
        gate.set()
        assert await first == "a"
        failing = service.submit(lambda: 1 / 0, lambda: finished.append("failing"))
        with pytest.raises(ZeroDivisionError):
            await failing
        for _ in range(100):  # the cancelled one's lease comes back on the loop too
            if len(finished) == 3:
                break
            await asyncio.sleep(0.01)

    asyncio.run(scenario())
    assert ran == ["first"]
    assert sorted(finished) == ["failing", "first", "second"]
