"""A small thread-safe LRU cache bounded by bytes, for decoded row groups.

A nested OME-Arrow image lives in one Parquet cell, so showing one plane means
decoding the row group that holds it. The cache keeps that work from being
repeated for every plane, row or dask block that falls in the same group.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

DEFAULT_CACHE_BYTES = 512 * 2**20


def _nbytes(value: Any) -> int:
    size = getattr(value, "nbytes", None)
    if size is None:
        size = getattr(value, "get_total_buffer_size", lambda: 0)()
    return int(size)


class ByteLRU:
    """Least-recently-used mapping that evicts once ``max_bytes`` is exceeded.

    An item larger than the whole budget is returned but not kept.
    """

    def __init__(self, max_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self.max_bytes = int(max_bytes)
        self._items: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.RLock()
        self._loading: dict[Hashable, threading.Lock] = {}
        self.hits = 0
        self.misses = 0

    @property
    def current_bytes(self) -> int:
        """Bytes held right now."""
        return self._bytes

    def get_or_load(
        self, key: Hashable, load: Callable[[], Any], *, keep: bool = True
    ) -> Any:
        """Return the cached value for ``key``, calling ``load`` once on a miss.

        Threads asking for the same key wait for one load; different keys load
        in parallel (the global lock is not held while loading). With
        ``keep=False`` a cached value is still used, but a loaded one is not
        kept (for reads whose result is cached elsewhere, e.g. by dask).
        """
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self.hits += 1
                return self._items[key][0]
            key_lock = self._loading.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                if key in self._items:
                    self._items.move_to_end(key)
                    self.hits += 1
                    return self._items[key][0]
                self.misses += 1
            try:
                value = load()
            finally:
                with self._lock:
                    self._loading.pop(key, None)
            size = _nbytes(value)
            with self._lock:
                if keep and size <= self.max_bytes:
                    self._items[key] = (value, size)
                    self._bytes += size
                    self._evict()
            return value

    def resize(self, max_bytes: int) -> None:
        """Change the budget, evicting at once if needed."""
        with self._lock:
            self.max_bytes = int(max_bytes)
            self._evict()

    def clear(self) -> None:
        """Drop every item."""
        with self._lock:
            self._items.clear()
            self._bytes = 0

    def _evict(self) -> None:
        while self._bytes > self.max_bytes and self._items:
            _, (_, size) = self._items.popitem(last=False)
            self._bytes -= size


#: The process-wide cache of decoded row groups.
ROW_GROUP_CACHE = ByteLRU()


def set_cache_size(max_bytes: int) -> None:
    """Set how many bytes of decoded row groups arrowscope keeps in memory."""
    ROW_GROUP_CACHE.resize(max_bytes)


def give_back_memory() -> None:
    """Return memory that was freed but kept by the allocators to the system:
    Arrow's pool (mimalloc or jemalloc keep freed pages for reuse) and glibc's
    malloc (each thread's arena keeps what it freed). Opening a JUMP-sized
    table frees a few hundred megabytes of temporaries that would otherwise
    stay resident for the whole session."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim() -> Any:
    """glibc's ``malloc_trim``, looked up once (``find_library`` may run a
    subprocess); None where the C library has none (macOS, Windows, musl)."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    return None if name is None else getattr(ctypes.CDLL(name), "malloc_trim", None)
