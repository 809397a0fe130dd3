"""Fixtures for the op tests (the harness itself is in harness.py)."""

import numpy as np
import pytest


@pytest.fixture(params=[np.float64, np.float32], ids=["float64", "float32"])
def dtype(request):
    return request.param
