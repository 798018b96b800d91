"""The process figures of a health sample.

:func:`sample_process` reads the bot's own process with psutil: resident
memory, the machine's memory, open file descriptors, and the Python threads by
name.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

import psutil

_logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProcessReading:
    """One look at the process; ``open_files`` None where it cannot be read."""

    rss_bytes: int
    threads: int
    thread_names: tuple[str, ...]
    open_files: int | None = None
    memory_total_bytes: int | None = None


def sample_process() -> ProcessReading:
    """The bot's process now (psutil); the threads are Python's, by name."""
    process = psutil.Process()
    rss_bytes = process.memory_info().rss
    try:
        open_files: int | None = process.num_fds()
    except (AttributeError, psutil.Error):  # num_fds is POSIX only
        open_files = None
    names = tuple(thread.name for thread in threading.enumerate())
    return ProcessReading(
        rss_bytes=int(rss_bytes),
        threads=len(names),
        thread_names=names,
        open_files=open_files,
        memory_total_bytes=int(psutil.virtual_memory().total),
    )
