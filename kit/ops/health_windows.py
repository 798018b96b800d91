"""Figures the health monitor measures over a window of samples.

:class:`RssTrend` keeps the resident memory samples of the last hour and fits
a line through them by least squares: its slope, in bytes an hour, is the
trend. :class:`ErrorWindow` turns running totals of operations and errors
into the counts of the last minutes.

Neither is locked: one thread (the monitor's) adds and reads.
"""

from __future__ import annotations

from collections import deque

from kit.ops.health_snapshot import ErrorRateHealth
from kit.ops.health_sources import OperationCounts


class RssTrend:
    """Resident memory samples over ``window_s`` and their least-squares slope."""

    def __init__(self, window_s: float, min_span_s: float) -> None:
        if min_span_s > window_s:
            raise ValueError("min_span_s must not exceed window_s")
        self.window_s = window_s
        self.min_span_s = min_span_s
        self._samples: deque[tuple[float, int]] = deque()

    def add(self, at_s: float, rss_bytes: int) -> None:
        """A sample at monotonic time ``at_s``; samples older than the window go."""
        self._samples.append((at_s, rss_bytes))
        while self._samples and self._samples[0][0] < at_s - self.window_s:
            self._samples.popleft()

    def bytes_per_hour(self) -> float | None:
        """The slope of the fit in bytes an hour; None until the samples span
        ``min_span_s`` with at least three of them."""
        samples = list(self._samples)
        if len(samples) < 3 or samples[-1][0] - samples[0][0] < self.min_span_s:
            return None
        return least_squares_slope(samples) * 3600.0


def least_squares_slope(points: list[tuple[float, int]]) -> float:
    """The slope of the least-squares line through ``(x, y)`` points."""
    count = len(points)
    mean_x = sum(x for x, _ in points) / count
    mean_y = sum(y for _, y in points) / count
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    if spread == 0:
        return 0.0
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / spread


class ErrorWindow:
    """Operations and errors over the last ``window_s``, from running totals.

    The counts run from the last sample at or before the window's start; the
    totals are counted from the start of the process, which is their zero, so
    the first figures cover everything since then. Totals that go down (a
    counter reset) start the window afresh.
    """

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._samples: deque[tuple[float, int, int]] = deque()

    def add(self, at_s: float, counts: OperationCounts) -> ErrorRateHealth:
        """The totals at monotonic time ``at_s``; the window's counts."""
        samples = self._samples
        if samples and counts.operations < samples[-1][1]:
            samples.clear()
        if not samples:
            samples.append((at_s, 0, 0))
        samples.append((at_s, counts.operations, counts.errors))
        while len(samples) > 2 and samples[1][0] <= at_s - self.window_s:
            samples.popleft()

        _, first_operations, first_errors = samples[0]
        return ErrorRateHealth(
            errors=counts.errors - first_errors,
            operations=counts.operations - first_operations,
            window_s=self.window_s,
        )
