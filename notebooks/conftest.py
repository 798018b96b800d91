"""The notebooks are tests too: nbval runs each of them (``--nbval-lax``, set
in pyproject.toml) and compares the cells marked ``# NBVAL_CHECK_OUTPUT``."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.suffix == ".ipynb":
            item.add_marker(pytest.mark.notebook)
