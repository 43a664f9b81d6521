import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

import numpy as np
import pytest

import ember


@pytest.fixture(autouse=True)
def _reset_state():
    """Each test starts with the default dtype, grad mode on, a fixed seed."""
    ember.set_default_dtype(ember.float32)
    ember.manual_seed(0)
    np.random.seed(0)
    yield
    ember.set_default_dtype(ember.float32)
    ember.autograd.grad_mode.state.enabled = True
    ember.autograd.grad_mode.state.anomaly = False
