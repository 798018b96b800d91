"""The official smartapi-python SDK, imported safely, as a referee.

The kit does not use the SDK. Conformance tests and benchmarks compare the kit
against it, and importing it as it is has side effects (SMARTAPI.md §1): its class
body calls ``requests.get("https://api.ipify.org")`` with no timeout, and each
client it builds creates ``./logs/<date>/app.log`` in the working directory and
points the global logzero logger at it. Here the import runs with HTTP disabled,
and every client is built inside a private working directory that is removed when
the process exits.

Install it with the ``test`` extra (``pip install -e .[test]``).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import requests

_workdir: Path | None = None


def _private_workdir() -> Path:
    global _workdir  # noqa: PLW0603 -- one directory for the whole process
    if _workdir is None:
        _workdir = Path(tempfile.mkdtemp(prefix="kit-sdk-"))
        atexit.register(shutil.rmtree, _workdir, ignore_errors=True)
    return _workdir


@contextlib.contextmanager
def _inside_workdir() -> Iterator[None]:
    previous = Path.cwd()
    os.chdir(_private_workdir())
    try:
        yield
    finally:
        os.chdir(previous)


def _refuse_network(*args: Any, **kwargs: Any) -> Any:
    raise requests.ConnectionError("network disabled while importing the SDK")


def import_sdk() -> Any:
    """Import and return the ``SmartApi`` package without its network lookup.

    The SDK logs the refused lookup at ERROR through logzero; that one expected
    line is kept quiet.
    """
    import logzero  # noqa: PLC0415 -- the SDK's own logging, present with the SDK

    level = logzero.logger.level
    logzero.loglevel(logging.CRITICAL)
    try:
        with (
            _inside_workdir(),
            mock.patch("requests.get", _refuse_network),
            mock.patch("requests.request", _refuse_network),
        ):
            import SmartApi  # noqa: PLC0415 -- imported on demand, patches on
            import SmartApi.smartWebSocketV2  # noqa: PLC0415
    finally:
        logzero.loglevel(level)
    return SmartApi


def sdk_websocket() -> Any:
    """A ``SmartWebSocketV2`` with dummy credentials, for its binary parser."""
    sdk = import_sdk()
    with _inside_workdir():
        return sdk.smartWebSocketV2.SmartWebSocketV2(
            "jwt", "api-key", "client-code", "feed-token"
        )


def sdk_connect(root: str, **kwargs: Any) -> Any:
    """A ``SmartConnect`` talking to ``root`` (the simulator's URL)."""
    sdk = import_sdk()
    with _inside_workdir():
        return sdk.SmartConnect(root=root, **kwargs)
