"""Long work started from a page runs in a background thread of the server process; its progress lives in
the database (the run record), so a page can poll it and a restarted server can resume it."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger("barq.jobs")
_threads: dict[str, threading.Thread] = {}
_lock = threading.Lock()


def start(key: str, work: Callable[[], object]) -> bool:
    """Run ``work`` in a thread unless one with the same key is alive. Returns whether it started."""
    with _lock:
        current = _threads.get(key)
        if current is not None and current.is_alive():
            return False

        def runner() -> None:
            try:
                work()
            except Exception:  # the run record keeps its state; the page offers to resume
                log.exception("background job %s failed", key)

        thread = threading.Thread(target=runner, name=f"barq-{key}", daemon=True)
        _threads[key] = thread
        thread.start()
        return True


def is_running(key: str) -> bool:
    with _lock:
        thread = _threads.get(key)
        return thread is not None and thread.is_alive()


def wait(key: str, timeout: float | None = None) -> None:
    with _lock:
        thread = _threads.get(key)
    if thread is not None:
        thread.join(timeout)
