"""Fixtures for the chatd integration tests.

  svc     a fresh redis-server + one chatd for this test (use for anything
          that queues parents or changes state)
  svc2    a fresh redis-server + two chatd processes on it (same data dir)
  shared  one redis-server + chatd per module, for read-only tests (HTTP,
          command line); clients opened through it are closed after each test

Environment: CHATD_BIN (default bin/chatd, relative to the repo root).
On failure the tail of every chatd log is printed.
"""

import pytest
import pytest_asyncio

from harness import Service


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def _failed(request):
    for when in ("setup", "call"):
        rep = getattr(request.node, "rep_" + when, None)
        if rep is not None and rep.failed:
            return True
    return False


async def _service(request, n):
    s = Service(nchatd=n)
    try:
        s.start()
    except Exception:
        print(s.logs())
        s.stop()
        raise
    try:
        yield s
    finally:
        await s.close(failed=_failed(request))


@pytest_asyncio.fixture
async def svc(request):
    async for s in _service(request, 1):
        yield s


@pytest_asyncio.fixture
async def svc2(request):
    async for s in _service(request, 2):
        yield s


@pytest.fixture(scope="module")
def shared_service():
    s = Service(nchatd=1)
    try:
        s.start()
    except Exception:
        print(s.logs())
        s.stop()
        raise
    yield s
    s.stop()
    s.cleanup()


@pytest_asyncio.fixture
async def shared(request, shared_service):
    yield shared_service
    await shared_service.close_clients()
    if _failed(request):
        print(shared_service.logs())


@pytest.fixture
def shared_sync(request, shared_service):
    """The module's service for synchronous (HTTP, CLI) tests."""
    yield shared_service
    if _failed(request):
        print(shared_service.logs())
