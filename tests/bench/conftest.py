"""Fixtures for the bench tests."""

from __future__ import annotations

from typing import Any

import pytest
from bench_helpers import FAST


@pytest.fixture
def fast() -> dict[str, Any]:
    return dict(FAST)
