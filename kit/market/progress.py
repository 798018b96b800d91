"""Progress bars for long loads: a widget in Jupyter, text in a terminal, and
nothing at all in a log file or under papermill's captured stderr.

:func:`auto_progress` wraps ``tqdm.auto`` and switches the bar off unless a
person can see it (stderr is a terminal, or the code runs in a notebook
kernel). Anything with ``update(n)`` and ``close()`` can stand in for it, so
tests and callers inject their own.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Protocol


class ProgressBar(Protocol):
    def update(self, n: float = 1) -> object: ...

    def close(self) -> None: ...


ProgressFactory = Callable[[int, str], ProgressBar]
"""Makes a bar from a total and a short description."""


class NoProgress:
    """A bar that shows nothing."""

    def update(self, n: float = 1) -> object:
        return None

    def close(self) -> None:
        return None


def no_progress(total: int, desc: str) -> ProgressBar:
    return NoProgress()


def in_notebook() -> bool:
    """True inside a Jupyter kernel (where ``tqdm.auto`` draws a widget)."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    shell = ipython.get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def visible() -> bool:
    """Whether a person can see a bar: a notebook, or stderr on a terminal."""
    if in_notebook():
        return True
    stream = sys.stderr
    return stream is not None and stream.isatty()


def auto_progress(total: int, desc: str) -> ProgressBar:
    """A ``tqdm.auto`` bar, disabled when nobody can see it."""
    # Imported on use (in a notebook it loads ipywidgets). tqdm ships no type
    # information: the bar is used through ProgressBar only.
    from tqdm.auto import tqdm  # type: ignore[import-untyped]  # noqa: PLC0415

    bar: ProgressBar = tqdm(
        total=total, desc=desc, unit="symbol", disable=not visible()
    )
    return bar
