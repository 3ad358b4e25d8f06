"""Run a generator in a background thread behind a bounded queue.

Decoding (and optical flow) and encoding overlap with the optimisation this way, while the
queue bound keeps memory flat for a video of any length.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")
_END = object()


class BackgroundIterator(Generic[T]):
    """Iterate ``source`` in a daemon thread; items arrive through a queue of ``maxsize``.

    An exception in the thread is re-raised in the consumer, at the point where the item
    would have arrived. :meth:`close` stops the producer early (it is also called when the
    consumer's ``with`` block ends).
    """

    def __init__(self, source: Iterable[T], maxsize: int = 8, name: str = "producer") -> None:
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, maxsize))
        self._stop = threading.Event()
        self._source = source
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            for item in self._source:
                if not self._put(item):
                    return
        except BaseException as error:  # handed to the consumer
            self._put(_Failure(error))
            return
        self._put(_END)

    def __iter__(self) -> Iterator[T]:
        while True:
            item = self._queue.get()
            if item is _END:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item

    def close(self) -> None:
        """Ask the producer to stop and wait for it."""
        self._stop.set()
        self._thread.join(timeout=10)
        close = getattr(self._source, "close", None)
        if close is not None and not self._thread.is_alive():
            close()

    def __enter__(self) -> "BackgroundIterator[T]":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


class BackgroundConsumer(Generic[T]):
    """Feed items to ``consume(iterator)`` running in a daemon thread, through a bounded queue.

    :meth:`put` blocks while the queue is full. :meth:`finish` ends the stream normally and
    waits, re-raising the consumer's exception if it failed; :meth:`abort` ends it without
    the end marker being seen as normal (the consumer's iterator raises ``GeneratorExit``-like
    :class:`Aborted`).
    """

    def __init__(self, consume: Callable[[Iterator[T]], object], maxsize: int = 8, name: str = "consumer") -> None:
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, maxsize))
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(consume,), name=name, daemon=True)
        self._thread.start()

    def _items(self) -> Iterator[T]:
        while True:
            item = self._queue.get()
            if item is _END:
                return
            if item is _ABORT:
                raise Aborted()
            yield item

    def _run(self, consume: Callable[[Iterator[T]], object]) -> None:
        try:
            consume(self._items())
        except Aborted:
            pass
        except BaseException as error:
            self._error = error
            # Drain so a producer blocked on put() wakes up and sees the error.
            while True:
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    break

    def put(self, item: T) -> None:
        """Hand one item to the consumer; raises the consumer's error if it has failed."""
        while True:
            if self._error is not None:
                raise self._error
            if not self._thread.is_alive():
                raise RuntimeError("the consumer thread has stopped")
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def finish(self) -> None:
        """End of stream: wait for the consumer to finish; re-raise its error."""
        if self._thread.is_alive():
            self._queue.put(_END)
            self._thread.join()
        if self._error is not None:
            raise self._error

    def abort(self) -> None:
        """Stop the consumer without finishing (what it was writing is discarded)."""
        if self._thread.is_alive():
            try:
                self._queue.put(_ABORT, timeout=5)
            except queue.Full:
                pass
            self._thread.join(timeout=30)


_ABORT = object()


class Aborted(Exception):
    """Raised inside a :class:`BackgroundConsumer`'s iterator when the producer aborts."""
