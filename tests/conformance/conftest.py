"""The official SDK as referee: imported without its network lookup."""

from __future__ import annotations

from typing import Any

import pytest

from kit.sdk_referee import sdk_websocket


@pytest.fixture(scope="session")
def sdk_parse() -> Any:
    """``SmartWebSocketV2._parse_binary_data`` of smartapi-python, unchanged."""
    return sdk_websocket()._parse_binary_data
