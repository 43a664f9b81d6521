"""ember.fft, stft/istft and the window functions against torch: values, dtypes,
gradients (the half-spectrum weighting of rfft/irfft included), gradcheck and errors."""
import warnings

import numpy as np
import pytest
import torch

import ember
from ember.autograd import gradcheck, gradgradcheck
from helpers import check, rand, assert_close

NORMS = [None, "ortho", "forward"]


def c(*shape, dtype=np.complex128, seed=0):
    return rand(*shape, dtype=dtype, seed=seed)


# ---- values, dtypes and gradients ----------------------------------------------------------

ONE_D = [
    ("fft", {}), ("fft", {"n": 5}), ("fft", {"n": 11, "dim": 0}), ("ifft", {}),
    ("ifft", {"n": 6}), ("rfft", {}), ("rfft", {"n": 7}), ("rfft", {"dim": 0}),
    ("ihfft", {}), ("ihfft", {"n": 5}),
]


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("name,kw", ONE_D)
def test_one_dim_real_input(name, kw, norm):
    check(lambda L, x: getattr(L.fft, name)(x, norm=norm, **kw), rand(3, 8))


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("name,kw", [
    ("fft", {}), ("fft", {"n": 5}), ("ifft", {"n": 10}), ("irfft", {}), ("irfft", {"n": 9}),
    ("irfft", {"n": 4}), ("irfft", {"n": 14}), ("hfft", {}), ("hfft", {"n": 7})])
def test_one_dim_complex_input(name, kw, norm):
    check(lambda L, x: getattr(L.fft, name)(x, norm=norm, **kw), c(3, 5))


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("name,kw", [
    ("fft2", {}), ("ifft2", {"s": (4, 6)}), ("rfft2", {}), ("rfft2", {"s": (2, 9)}),
    ("fftn", {}), ("fftn", {"s": (4,)}), ("fftn", {"dim": (0, 2)}), ("ifftn", {"s": (3, 2, 5)}),
    ("rfftn", {}), ("rfftn", {"s": (4, -1), "dim": (0, 1)}), ("rfftn", {"dim": (2, 0)}),
    ("ihfft2", {}), ("ihfftn", {"s": (3, 8)}), ("ihfftn", {"dim": (0, 2)}),
])
def test_n_dim_real_input(name, kw, norm):
    check(lambda L, x: getattr(L.fft, name)(x, norm=norm, **kw), rand(2, 3, 6))


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("name,kw", [
    ("fft2", {}), ("irfft2", {}), ("irfft2", {"s": (3, 7)}), ("irfftn", {}),
    ("irfftn", {"s": (4, 8)}), ("irfftn", {"dim": (0, 2)}), ("ifftn", {"dim": (1,)}),
    ("hfft2", {}), ("hfftn", {"s": (3, 8)}), ("hfftn", {"dim": (0, 2)}),
])
def test_n_dim_complex_input(name, kw, norm):
    check(lambda L, x: getattr(L.fft, name)(x, norm=norm, **kw), c(2, 3, 5))


@pytest.mark.parametrize("name,make", [
    ("fft", lambda: rand(8, dtype=np.float32)), ("rfft", lambda: rand(8, dtype=np.float32)),
    ("ifft", lambda: c(8, dtype=np.complex64)), ("irfft", lambda: c(5, dtype=np.complex64)),
    ("hfft", lambda: c(5, dtype=np.complex64)), ("ihfft", lambda: rand(8, dtype=np.float32)),
    ("fft2", lambda: rand(4, 4, dtype=np.float32)), ("irfftn", lambda: c(3, 3, dtype=np.complex64)),
])
def test_single_precision_stays_single(name, make):
    # float32 in, complex64 out (and back), as torch; NumPy's FFT keeps single precision
    check(lambda L, x: getattr(L.fft, name)(x), make())


def test_integer_input_becomes_the_default_float():
    assert_close(ember.fft.fft(ember.arange(4)), torch.fft.fft(torch.arange(4)))
    assert_close(ember.fft.rfft(ember.arange(6)), torch.fft.rfft(torch.arange(6)))


@pytest.mark.parametrize("fn", [
    lambda x: ember.fft.fft(x, norm="ortho"), lambda x: ember.fft.rfft(x, n=7),
    lambda x: ember.fft.ihfft(x), lambda x: ember.fft.rfft2(x.reshape(2, 3)),
    lambda x: ember.fft.irfft(ember.fft.rfft(x) * (1 + 1j), n=5),
])
def test_gradcheck_real_input(fn):
    x = ember.tensor(rand(6)).requires_grad_()
    assert gradcheck(fn, (x,))


@pytest.mark.parametrize("fn", [
    lambda x: ember.fft.ifft(x, n=5), lambda x: ember.fft.irfft(x),
    lambda x: ember.fft.irfft(x, n=7, norm="forward"), lambda x: ember.fft.hfft(x, n=6),
    lambda x: ember.fft.fftn(x.reshape(2, 2)), lambda x: ember.fft.irfftn(x.reshape(2, 2)),
])
def test_gradcheck_complex_input(fn):
    x = ember.tensor(c(4)).requires_grad_()
    assert gradcheck(fn, (x,))


def test_double_backward():
    x = ember.tensor(rand(6)).requires_grad_()
    assert gradgradcheck(lambda t: ember.fft.rfft(t, norm="ortho") * ember.fft.rfft(t), (x,))
    y = ember.tensor(c(4)).requires_grad_()
    assert gradgradcheck(lambda t: ember.fft.irfft(t * t, n=5), (y,))


def test_round_trips():
    x = rand(4, 10)
    e = ember.tensor(x)
    np.testing.assert_allclose(ember.fft.irfft(ember.fft.rfft(e), n=10).numpy(), x, atol=1e-12)
    np.testing.assert_allclose(ember.fft.ifftn(ember.fft.fftn(e)).real.numpy(), x, atol=1e-12)
    np.testing.assert_allclose(ember.fft.hfft(ember.fft.ihfft(e), n=10).numpy(), x, atol=1e-12)


# ---- frequencies and shifts ------------------------------------------------------------------

@pytest.mark.parametrize("n,d", [(1, 1.0), (5, 0.1), (8, 1.0), (7, 2.5)])
def test_frequencies(n, d):
    assert_close(ember.fft.fftfreq(n, d), torch.fft.fftfreq(n, d))
    assert_close(ember.fft.rfftfreq(n, d), torch.fft.rfftfreq(n, d))
    assert_close(ember.fft.fftfreq(n, d, dtype=ember.float64),
                 torch.fft.fftfreq(n, d, dtype=torch.float64))


@pytest.mark.parametrize("dim", [None, 0, 1, (0, 1), -1])
def test_shifts(dim):
    check(lambda L, x: L.fft.fftshift(x, dim), rand(3, 5))
    check(lambda L, x: L.fft.ifftshift(x, dim), rand(4, 5))
    assert_close(ember.fft.fftshift(ember.arange(6).reshape(2, 3), dim),
                 torch.fft.fftshift(torch.arange(6).reshape(2, 3), dim))


# ---- errors -------------------------------------------------------------------------------------

def _same_error(fn):
    with pytest.raises(Exception) as te:
        fn(torch)
    with pytest.raises(type(te.value)) as ee:
        fn(ember)
    assert str(ee.value) == str(te.value), (ee.value, te.value)


@pytest.mark.parametrize("fn", [
    lambda L: L.fft.fft(L.ones(4), norm="bad"), lambda L: L.fft.fft(L.ones(4), n=0),
    lambda L: L.fft.irfft(L.ones(1, dtype=L.complex64)), lambda L: L.fft.fft(L.ones(4), dim=3),
    lambda L: L.fft.fft2(L.ones(4)), lambda L: L.fft.rfft(L.ones(3, dtype=L.complex64)),
    lambda L: L.fft.ihfft(L.ones(3, dtype=L.complex64)),
    lambda L: L.fft.fftn(L.ones(2, 3), s=(4, 5), dim=(0,)),
    lambda L: L.fft.fftn(L.ones(2, 3), dim=(0, 0)), lambda L: L.fft.fft(L.tensor(1.0)),
    lambda L: L.fft.fft(L.ones(3, dtype=L.float16)),
])
def test_errors_match_torch(fn):
    _same_error(fn)


# ---- stft / istft --------------------------------------------------------------------------

def _quiet(fn):
    def run(L, *a):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn(L, *a)
    return run


@pytest.mark.parametrize("fn", [
    lambda L, x, w: L.stft(x, 16, window=w, return_complex=True),
    lambda L, x, w: L.stft(x[0], 16, hop_length=5, window=w, center=False, normalized=True,
                           return_complex=True),
    lambda L, x, w: L.stft(x, 16, window=w, onesided=False, pad_mode="constant",
                           return_complex=True),
    lambda L, x, w: L.stft(x, 16, window=w, pad_mode="replicate", return_complex=False),
    lambda L, x, w: L.stft(x, 16, hop_length=3, win_length=9, window=w[:9], pad_mode="circular",
                           return_complex=True),
    lambda L, x, w: x.stft(12, window=w[:12], return_complex=True),
])
def test_stft(fn):
    check(_quiet(fn), rand(2, 40), np.hanning(16))


def test_stft_without_window_warns():
    x = rand(30)
    with pytest.warns(UserWarning, match="A window was not provided"):
        e = ember.stft(ember.tensor(x), 8, return_complex=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert_close(e, torch.stft(torch.tensor(x), 8, return_complex=True))


@pytest.mark.parametrize("fn", [
    lambda L, s, w: L.istft(s, 16, window=w),
    lambda L, s, w: L.istft(s, 16, hop_length=4, window=w, length=45),
    lambda L, s, w: L.istft(s[0], 16, window=w, length=20),
    lambda L, s, w: L.istft(s[0], 16, window=w, normalized=True, center=False),
    lambda L, s, w: s.istft(16, window=w, length=40),
])
def test_istft(fn):
    window = torch.hann_window(16, dtype=torch.float64)
    spec = torch.stft(torch.tensor(rand(2, 40)), 16, window=window, return_complex=True).numpy()
    check(fn, spec, np.hanning(16) + 0.1)


def test_stft_istft_round_trip_and_gradcheck():
    x = ember.tensor(rand(2, 40))
    w = ember.hann_window(16, dtype=ember.float64)
    s = ember.stft(x, 16, hop_length=4, window=w, return_complex=True)
    np.testing.assert_allclose(ember.istft(s, 16, hop_length=4, window=w, length=40).numpy(),
                               x.numpy(), atol=1e-12)
    xs = ember.tensor(rand(24)).requires_grad_()
    assert gradcheck(lambda t: ember.stft(t, 8, hop_length=4, window=w[::2], return_complex=True),
                     (xs,))


@pytest.mark.filterwarnings("ignore:A window was not provided")
@pytest.mark.parametrize("fn", [
    lambda L: L.stft(L.ones(20), 8),
    lambda L: L.stft(L.ones(2, 2, 5), 4, return_complex=True),
    lambda L: L.istft(L.ones(5, 3), 8),
])
def test_stft_errors(fn):
    with pytest.raises(Exception) as te:
        fn(torch)
    with pytest.raises(type(te.value)):
        fn(ember)


@pytest.mark.parametrize("name", ["hann_window", "hamming_window", "blackman_window",
                                  "bartlett_window"])
@pytest.mark.parametrize("n", [0, 1, 5, 8])
@pytest.mark.parametrize("periodic", [True, False])
def test_windows(name, n, periodic):
    assert_close(getattr(ember, name)(n, periodic), getattr(torch, name)(n, periodic))
    assert_close(getattr(ember, name)(n, periodic, dtype=ember.float64),
                 getattr(torch, name)(n, periodic, dtype=torch.float64))
