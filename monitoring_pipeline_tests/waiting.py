"""Waiting for asynchronous effects (batch uploads, delayed Pulls, starting servers) without fixed sleeps."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(
    predicate: Callable[[], T],
    timeout: float = 10.0,
    interval: float = 0.1,
    ignore: tuple[type[BaseException], ...] = (),
) -> T:
    """Call ``predicate`` until it returns something truthy or ``timeout`` passes; return its last value.

    Exceptions of the ``ignore`` types (say, a server not listening yet) count as "not yet".
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = predicate()
        except ignore:
            value = None  # type: ignore[assignment]
        if value or time.monotonic() >= deadline:
            return value  # type: ignore[return-value]
        time.sleep(interval)
