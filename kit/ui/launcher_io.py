"""What a ``kit notebook run`` does around papermill: its log, its signals, the
optional packages it needs, and the few touches to an output notebook.

Kept apart from :mod:`kit.ui.launcher` so the run's logic reads on its own;
nothing here decides anything about a run.
"""

from __future__ import annotations

import importlib
import json
import logging
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from time import struct_time
from types import FrameType, ModuleType
from typing import Any, TextIO

from kit import logsafe
from kit.clock import IST
from kit.errors import ConfigurationError

PAPERMILL_LOGGER = "papermill"
_LOG_FORMAT = "%(asctime)s.%(msecs)03d IST %(levelname)s %(name)s: %(message)s"


# The optional packages.


def import_papermill() -> ModuleType:
    """papermill, or exit 2 saying how to install it (``kit[notebook]``)."""
    try:
        return importlib.import_module("papermill")
    except ImportError:
        raise ConfigurationError(
            "papermill is not installed: pip install 'kit[notebook]'", field="notebook"
        ) from None


def check_kernel(name: str) -> None:
    """Refuse (exit 2) a kernel Jupyter does not know, before a run begins."""
    from jupyter_client.kernelspec import (  # noqa: PLC0415 -- optional
        KernelSpecManager,
        NoSuchKernel,
    )

    try:
        KernelSpecManager().get_kernel_spec(name)
    except NoSuchKernel:
        raise ConfigurationError(
            f"no Jupyter kernel named {name!r} (jupyter kernelspec list)",
            field="kernel",
        ) from None


def widget_state_switch() -> dict[str, Any]:
    """``store_widget_state=False`` where nbclient has it (0.6 and later).

    papermill passes extra keywords to nbclient's NotebookClient, and a
    FigureWidget's stored state (plotly.js, about 5 MB) is worth leaving out.
    """
    from nbclient import NotebookClient  # noqa: PLC0415 -- optional

    if "store_widget_state" in NotebookClient.class_trait_names():
        return {"store_widget_state": False}
    return {}


# The output notebook.


def mark_outcome(output: Path, outcome: str) -> None:
    """Write how the run ended into the notebook's ``metadata.kit.outcome``.

    papermill marks a cell whose kernel died, or that a signal stopped,
    "completed"; this says what happened. Written whole, then renamed, so an
    interruption leaves the previous file.
    """
    try:
        content = json.loads(output.read_text(encoding="utf-8"))
        content["metadata"].setdefault("kit", {})["outcome"] = outcome
        text = json.dumps(content, indent=1, ensure_ascii=False) + "\n"
        partial = output.with_name(f"{output.name}.partial")
        partial.write_text(text, encoding="utf-8")
        partial.replace(output)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        logging.getLogger(__name__).warning("Could not mark %s: %s", output, exc)


def finalised(output: Path) -> bool:
    """Whether papermill finished ``output``: its ``end_time`` is set."""
    try:
        metadata = json.loads(output.read_text(encoding="utf-8"))["metadata"]
        return bool(metadata["papermill"]["end_time"])
    except (OSError, ValueError, KeyError, TypeError):
        return False


# Logging and signals, for the length of a run.


@contextmanager
def run_log(path: Path, console: TextIO, launcher: logging.Logger) -> Iterator[None]:
    """``launcher``'s lines to ``path`` and ``console``; papermill's (with
    what the cells print) to ``path`` only. Every line is masked, times are IST
    (the run's folder is an IST day). Loggers are restored afterwards."""
    masking = logsafe.SecretFilter()
    to_file = logging.FileHandler(path, encoding="utf-8")
    to_console = logging.StreamHandler(console)
    formatter = logging.Formatter(_LOG_FORMAT, datefmt="%Y-%m-%d %H:%M:%S")
    formatter.converter = _ist
    for each in (to_file, to_console):
        each.setFormatter(formatter)
        each.addFilter(masking)

    wiring: list[tuple[logging.Logger, list[logging.Handler]]] = [
        (launcher, [to_file, to_console]),
        (logging.getLogger(PAPERMILL_LOGGER), [to_file]),
    ]
    saved = [(logger, logger.level, logger.propagate) for logger, _ in wiring]
    for logger, handlers in wiring:
        logger.setLevel(logging.INFO)
        logger.propagate = False
        for handler in handlers:
            logger.addHandler(handler)
    try:
        yield
    finally:
        for logger, handlers in wiring:
            for handler in handlers:
                logger.removeHandler(handler)
        for logger, level, propagate in saved:
            logger.setLevel(level)
            logger.propagate = propagate
        to_file.close()


def _ist(seconds: float | None) -> struct_time:
    return datetime.fromtimestamp(seconds or 0.0, IST).timetuple()


class Stop:
    """The signal that stopped the run. The first SIGTERM or SIGINT raises
    KeyboardInterrupt, which papermill answers with a final save; later ones,
    and any after :attr:`armed` is cleared, are ignored so that save and the
    kernel's shutdown can finish."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.armed = True

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None or not self.armed:
            return
        self.signum = signum
        raise KeyboardInterrupt


@contextmanager
def signals_as_interrupt() -> Iterator[Stop]:
    """SIGTERM and SIGINT as KeyboardInterrupt until the block ends (in the
    main thread only; elsewhere signals stay as they are)."""
    stop = Stop()
    previous: dict[signal.Signals, Any] = {}
    try:
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, stop)
    except ValueError:
        pass
    try:
        yield stop
    finally:
        stop.armed = False
        for signum, handler in previous.items():
            signal.signal(signum, handler)
