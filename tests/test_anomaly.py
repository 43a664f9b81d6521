"""Anomaly detection: a NaN made in backward raises, naming the op and where
its forward ran.

As in torch, only NaN is checked (an infinite gradient, e.g. sqrt at 0, is
legitimate and passes); the error is
"Function 'SqrtBackward0' returned nan values in its 0th output." and the
forward's stack follows in the message (torch prints it as a warning; Ember
warns the same way too).
"""
import warnings

import numpy as np
import pytest
import torch

import ember

# Each case: how a NaN arises in backward at x = [0, 1]; torch and Ember must
# name the same op and output.
CASES = {
    "sqrt at 0 (0 * inf)": lambda L, x: (x.sqrt() * 0).sum(),
    "log at 0 via pow": lambda L, x: x.pow(2).log().sum(),
    "x / x at 0": lambda L, x: (x / x).sum(),
    "0 / x at 0": lambda L, x: (0 / x).sum(),
    "log at 0 times 0": lambda L, x: (x.log() * 0).sum(),
    "x log x at 0": lambda L, x: (x * x.log()).sum(),
    "exp overflow times 0": lambda L, x: ((x + 1000).exp() * 0).sum(),
}


def _anomaly_error(lib, f):
    x = lib.tensor([0.0, 1.0], requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with lib.autograd.detect_anomaly():
            loss = f(lib, x)
            with pytest.raises(RuntimeError) as info:
                loss.backward()
    return str(info.value)


@pytest.mark.parametrize("case", sorted(CASES))
def test_nan_in_backward_names_the_op_like_torch(case):
    f = CASES[case]
    t = _anomaly_error(torch, f)
    e = _anomaly_error(ember, f)
    assert e.split("\n")[0] == t.split("\n")[0]
    assert "returned nan values in its" in e


def _forward_here(x):
    return x.sqrt() * 0          # the line the report must point at


def test_error_carries_the_forward_stack_and_warns_it():
    x = ember.tensor([0.0, 4.0], requires_grad=True)
    with pytest.warns(UserWarning, match="Anomaly Detection has been enabled"):
        with ember.autograd.detect_anomaly():
            y = _forward_here(x).sum()
            with pytest.warns(UserWarning, match=r"Error detected in SqrtBackward0\. Traceback "
                                                 r"of forward call that caused the error"):
                with pytest.raises(RuntimeError) as info:
                    y.backward()
    msg = str(info.value)
    assert msg.startswith("Function 'SqrtBackward0' returned nan values in its 0th output.")
    assert "_forward_here" in msg and "return x.sqrt() * 0" in msg and "test_anomaly.py" in msg
    # the stack ends at the user's call, not inside Ember
    last = [line for line in msg.splitlines() if line.strip().startswith("File")][-1]
    assert "test_anomaly.py" in last


def test_infinite_gradient_is_not_an_anomaly():
    """torch checks NaN only: sqrt at 0 has an infinite gradient, legitimately."""
    for lib in (torch, ember):
        x = lib.tensor([0.0, 1.0], requires_grad=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with lib.autograd.detect_anomaly():
                x.sqrt().sum().backward()
        assert np.isinf(x.grad.numpy()[0])


def test_custom_function_nan_is_caught():
    class Bad(ember.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * float("nan")

    x = ember.tensor([1.0, 2.0], requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with ember.autograd.detect_anomaly():
            y = Bad.apply(x)
            with pytest.raises(RuntimeError, match=r"Function 'BadBackward' returned nan values "
                                                   r"in its 0th output\.") as info:
                y.sum().backward()
    assert "Bad.apply(x)" in str(info.value)


def test_custom_function_second_output_index():
    class Two(ember.autograd.Function):
        @staticmethod
        def forward(ctx, a, b):
            return a + b

        @staticmethod
        def backward(ctx, g):
            return g, g * float("nan")

    a = ember.tensor([1.0], requires_grad=True)
    b = ember.tensor([1.0], requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with ember.autograd.detect_anomaly():
            with pytest.raises(RuntimeError, match="returned nan values in its 1th output"):
                Two.apply(a, b).sum().backward()


def test_without_anomaly_mode_nan_passes_silently():
    x = ember.tensor([0.0, 1.0], requires_grad=True)
    (x.sqrt() * 0).sum().backward()
    assert np.isnan(x.grad.numpy()[0])


def test_check_nan_false_disables_the_check():
    for lib in (torch, ember):
        x = lib.tensor([0.0, 1.0], requires_grad=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with lib.autograd.detect_anomaly(check_nan=False):
                assert lib.is_anomaly_enabled() and not lib.is_anomaly_check_nan_enabled()
                (x.sqrt() * 0).sum().backward()
        assert np.isnan(x.grad.numpy()[0])
        assert not lib.is_anomaly_enabled() and lib.is_anomaly_check_nan_enabled()


def test_set_detect_anomaly_as_function_and_context_manager():
    x = ember.tensor([0.0], requires_grad=True)
    ember.autograd.set_detect_anomaly(True)
    try:
        assert ember.is_anomaly_enabled()
        with pytest.raises(RuntimeError, match="SqrtBackward0"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            (x.sqrt() * 0).sum().backward()
    finally:
        ember.autograd.set_detect_anomaly(False)
    assert not ember.is_anomaly_enabled()
    with ember.autograd.set_detect_anomaly(True, check_nan=False):
        assert ember.is_anomaly_enabled() and not ember.is_anomaly_check_nan_enabled()
        (x.sqrt() * 0).sum().backward()   # no check
    assert not ember.is_anomaly_enabled() and ember.is_anomaly_check_nan_enabled()
    ember.set_anomaly_enabled(True, check_nan=False)
    assert ember.is_anomaly_enabled() and not ember.is_anomaly_check_nan_enabled()
    ember.set_anomaly_enabled(False)
    assert not ember.is_anomaly_enabled()


def test_detect_anomaly_as_decorator():
    @ember.autograd.detect_anomaly()
    def train_step(x):
        assert ember.is_anomaly_enabled()
        (x.log() * 0).sum().backward()

    x = ember.tensor([0.0, 1.0], requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(RuntimeError, match="Function 'LogBackward0' returned nan"):
            train_step(x)
    assert not ember.is_anomaly_enabled()


def test_state_restored_after_an_error_inside():
    with pytest.raises(ValueError), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with ember.autograd.detect_anomaly():
            raise ValueError("boom")
    assert not ember.is_anomaly_enabled()


def test_other_backward_errors_report_the_forward_stack():
    """Any error in a backward (here a stale saved tensor) names where the
    forward ran, as torch's "Error detected in ..." warning does."""
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with ember.autograd.detect_anomaly():
            y = x * 2
            z = y.exp()
            z.add_(1)
            with pytest.raises(RuntimeError, match="modified by an inplace operation"):
                z.sum().backward()
    msgs = [str(w.message) for w in caught]
    assert any("Error detected in ExpBackward0" in m and "z = y.exp()" in m for m in msgs)


def test_double_backward_under_anomaly():
    x = ember.tensor([0.5, 1.0], dtype=ember.float64, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with ember.autograd.detect_anomaly():
            g, = ember.autograd.grad((x ** 3).sum(), x, create_graph=True)
            g2, = ember.autograd.grad(g.sum(), x)
    np.testing.assert_allclose(g2.numpy(), 6 * x.detach().numpy())


def test_nodes_made_before_enabling_say_so():
    x = ember.tensor([0.0], requires_grad=True)
    y = (x.sqrt() * 0).sum()              # recorded without anomaly mode
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with ember.autograd.detect_anomaly():
            with pytest.raises(RuntimeError, match="not recorded"):
                y.backward()
