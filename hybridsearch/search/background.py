"""One call run in a background thread, its result (or its exception) collected later.

The planner encodes a query while the BM25 leg runs (:mod:`hybridsearch.search.planner`).
``concurrent.futures`` would do the same through an executor that someone must own and shut
down; one short-lived thread per search needs neither, and starting it costs ~0.1 ms against
the ~10 ms each side saves at a million passages.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

__all__ = ["InBackground"]

T = TypeVar("T")


class InBackground(Generic[T]):
    """Start ``function(*args)`` in a daemon thread now; :meth:`result` waits for it.

    Example:
        >>> task = InBackground(sum, [1, 2, 3])
        >>> task.result()
        6
    """

    def __init__(self, function: Callable[..., T], *args: Any) -> None:
        self._value: T | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(function, args), daemon=True)
        self._thread.start()

    def _run(self, function: Callable[..., T], args: tuple[Any, ...]) -> None:
        try:
            self._value = function(*args)
        except BaseException as error:  # handed to the caller by result()
            self._error = error

    def result(self) -> T:
        """The call's return value, once it has finished; re-raises what it raised."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]
