"""Random numbers: a global Generator, ``manual_seed``, and the sampling factories.

Distributions match torch's (the bit streams differ: Ember draws from NumPy's
PCG64).  ``manual_seed`` makes runs repeatable; a ``Generator`` object can be
passed to any sampling function through ``generator=``.
"""
import contextlib
import threading

import numpy as np

from ._bfloat16 import is_float as _isf

from . import _dtype as D
from ._tensor_base import TensorBase, _wrap, _check_device, _index_of
from ._creation import _finish, _like_device, _size_arg
from ._errors import allocates
from .backends import backend_of


class Generator:
    """An independent random stream (torch.Generator).

    Threads may share one, as they share torch's default generator: each
    draw is atomic (NumPy's generator holds its own lock while it draws), and
    ``get_state``/``set_state`` take that same lock, so they never see or
    leave a half-advanced state.  Which thread gets which numbers depends on
    scheduling, as in torch; give each thread its own Generator for
    repeatable streams.
    """

    def __init__(self, device="cpu"):
        _check_device(device)
        self._seed = 67280421310721
        self._rng = np.random.default_rng(self._seed)

    @property
    def device(self):
        from ._tensor_base import _CPU
        return _CPU

    def manual_seed(self, seed):
        seed = int(seed)
        if seed < -0x8000_0000_0000_0000 or seed > 0xFFFF_FFFF_FFFF_FFFF:
            raise RuntimeError(f"Overflow when unpacking long: seed {seed} is out of range")
        self._seed = seed & 0xFFFF_FFFF_FFFF_FFFF
        self._rng = np.random.default_rng(self._seed)
        return self

    def seed(self):
        s = fresh_seed()
        self.manual_seed(s)
        return s

    def initial_seed(self):
        return self._seed

    def get_state(self):
        """The generator state as a uint8 tensor (round-trips through set_state)."""
        import json
        bits = self._rng.bit_generator
        with bits.lock:
            state = bits.state
        s = json.dumps(state).encode()
        return _wrap(np.frombuffer(s, dtype=np.uint8).copy())

    def set_state(self, new_state):
        import json
        arr = new_state._data if isinstance(new_state, TensorBase) else np.asarray(new_state)
        state = json.loads(arr.astype(np.uint8).tobytes().decode())
        bits = self._rng.bit_generator
        with bits.lock:
            bits.state = state
        return self


default_generator = Generator()


def _rng(generator):
    return (generator or default_generator)._rng


def manual_seed(seed):
    """Seed the global generator and every device's (as torch's seeds CUDA's
    too); returns the global one."""
    g = default_generator.manual_seed(seed)
    _seed_all_devices(g.initial_seed())
    return g


def seed():
    s = default_generator.seed()
    _seed_all_devices(s)
    return s


def fresh_seed():
    """A random 64-bit seed (what ``seed()`` uses)."""
    return int(np.random.SeedSequence().entropy) & 0xFFFF_FFFF_FFFF_FFFF


# ---- device generators ------------------------------------------------------------------
# A device with its own generator (CUDA: CuPy's, drawing on the GPU) gets one per
# device number, made from its seed on its first draw.  The seeds are plain numbers
# kept here, so seeding never imports CuPy: ember.manual_seed seeds every device,
# ember.cuda.manual_seed the current one, ember.cuda.manual_seed_all all of them.

_DEFAULT_SEED = 67280421310721
_device_base_seed = {}      # device type -> the seed of all its devices (manual_seed_all)
_device_seeds = {}          # (device type, index) -> a seed given to that device alone
_device_rngs = {}           # (device type, index) -> generator made by its runtime


def _seed_all_devices(seed):
    _device_base_seed.clear()
    _device_seeds.clear()
    _device_rngs.clear()
    _device_base_seed[None] = seed


def seed_device(name, seed, index):
    """Seed device ``index`` of type ``name`` (None: all its devices)."""
    seed &= 0xFFFF_FFFF_FFFF_FFFF
    if index is None:
        _device_base_seed[name] = seed
        for key in [k for k in _device_seeds if k[0] == name]:
            del _device_seeds[key]
        for key in [k for k in _device_rngs if k[0] == name]:
            del _device_rngs[key]
    else:
        _device_seeds[(name, index)] = seed
        _device_rngs.pop((name, index), None)


def device_generators_made(name):
    """Whether device type ``name`` has drawn numbers (so it has a current device)."""
    return any(k[0] == name for k in _device_rngs)


def device_seed(name, index):
    s = _device_seeds.get((name, index))
    if s is None:
        s = _device_base_seed.get(name, _device_base_seed.get(None, _DEFAULT_SEED))
    return s


class _HostDraws(threading.local):
    depth = 0


_host_draws = _HostDraws()


@contextlib.contextmanager
def host_draws():
    """Within: every draw, for any device, comes from the host's global
    generator (and is copied to the device).  ``utils.checkpoint`` runs its
    segments so: it saves and replays the host generator's state only, and a
    recomputed dropout mask must be the one the forward drew."""
    _host_draws.depth += 1
    try:
        yield
    finally:
        _host_draws.depth -= 1


def device_rng(backend, index=None):
    """The generator drawing ``backend``'s arrays on device ``index`` (None: the
    current device), made on first use; None when the backend has none, or
    within ``host_draws()`` (the numbers are then drawn on the host and copied)."""
    rt = backend.runtime
    if rt is None or not hasattr(rt, "make_rng") or _host_draws.depth:
        return None
    if index is None:
        index = rt.current_device()
    key = (backend.name, index)
    g = _device_rngs.get(key)
    if g is None:
        with rt.using(index):
            g = _device_rngs[key] = rt.make_rng(device_seed(backend.name, index))
    return g


def _device_draw(device, generator):
    """(backend, device generator) when numbers for ``device`` (None: the default
    device) should be drawn there: a device with a generator of its own and no
    ``generator=`` given (a Generator object is the host's: its numbers are
    drawn on the host and copied, so its stream stays what it is)."""
    if generator is not None:
        return None, None
    b = _check_device(device)
    if b is None:
        return None, None
    idx = _index_of(device, b) if device is not None else None
    return b, device_rng(b, idx)


def _float_draw(g, fn, shape, dt):
    """A device draw of float dtype ``dt`` (CuPy draws float32 or float64)."""
    if dt.np == np.float32 or dt.np == np.float64:
        return fn(shape, dtype=dt.np)
    return fn(shape, dtype=np.float32).astype(dt.np)


def uniform_array(backend, shape, dtype=np.float32):
    """Uniform [0, 1) draws of ``shape`` as an array of ``backend`` (None: the
    CPU), from the global stream: drawn on the device by its own generator
    where it has one (CUDA), else on the host and copied (dropout's masks)."""
    if backend is not None and backend.runtime is not None:
        g = device_rng(backend)
        if g is not None:
            return g.random(shape, dtype=dtype)
    r = default_generator._rng.random(shape, dtype=dtype)
    return r if backend is None else backend.from_host(r)


def _wrap_new(arr, requires_grad):
    t = _wrap(arr)
    if requires_grad:
        t.requires_grad_(True)
    return t


def initial_seed():
    return default_generator.initial_seed()


def get_rng_state():
    return default_generator.get_state()


def set_rng_state(new_state):
    default_generator.set_state(new_state)


def _size(size):
    from ._creation import _size as s
    return s(size)



_tname = D.scalar_name_of           # torch's scalar-type name of a NumPy dtype ("Float")


def _fdtype(dtype, kernel="check_uniform_bounds", complex_ok=False):
    dt = D.to_dtype(dtype) if dtype is not None else D.get_default_dtype()
    if not dt.is_floating_point and not (complex_ok and dt.is_complex):
        raise NotImplementedError(f"\"{kernel}\" not implemented for '{_tname(dt.np)}'")
    return dt


def _host(t):
    """A tensor's values in host memory: draws are made there, with NumPy's
    generator, whatever the device (results then go to the tensor's device)."""
    return t.numpy(force=True)


@allocates
def rand(*args, size=None, generator=None, out=None, dtype=None, layout=None, device=None,
         requires_grad=False, pin_memory=False):
    """Uniform on [0, 1); the shape positionally or as ``size=``."""
    _check_device(device)
    dt = _fdtype(dtype, complex_ok=True)
    shape = _size_arg(args, size, "rand")
    b, g = _device_draw(device, generator)
    if g is not None and not dt.is_complex:
        return _wrap_new(_float_draw(g, g.random, shape, dt), requires_grad)
    if dt.is_complex:       # (both parts uniform on [0, 1), as torch)
        pair = _rng(generator).random(tuple(shape) + (2,), dtype=np.float64)
        return _finish(_as_complex(pair, dt), requires_grad, device)
    return _finish(_rng(generator).random(shape, dtype=np.float64).astype(dt.np),
                   requires_grad, device)


def _as_complex(pair, dt):
    """(..., 2) float64 draws as complex numbers of dtype ``dt``."""
    return pair.astype(dt.to_real().np).view(dt.np)[..., 0]


@allocates
def randn(*args, size=None, generator=None, out=None, dtype=None, layout=None, device=None,
          requires_grad=False, pin_memory=False):
    """Standard normal; the shape positionally or as ``size=``."""
    _check_device(device)
    dt = _fdtype(dtype, "normal_kernel_cpu", complex_ok=True)
    shape = _size_arg(args, size, "randn")
    b, g = _device_draw(device, generator)
    if g is not None and not dt.is_complex:
        return _wrap_new(_float_draw(g, g.standard_normal, shape, dt), requires_grad)
    if dt.is_complex:       # (variance 1 in all: each part has variance 1/2, as torch)
        pair = _rng(generator).standard_normal(tuple(shape) + (2,)) * 0.5 ** 0.5
        return _finish(_as_complex(pair, dt), requires_grad, device)
    return _finish(_rng(generator).standard_normal(shape).astype(dt.np), requires_grad, device)


@allocates
def randint(low=0, high=None, size=None, *, generator=None, out=None, dtype=None, layout=None,
            device=None, requires_grad=False):
    """Integers uniform on [low, high); ``randint(high, size)`` also works."""
    _check_device(device)
    if size is None:
        if isinstance(high, (tuple, list)):
            low, high, size = 0, low, high
        else:
            raise TypeError("randint() missing required argument 'size'")
    if high is None:
        low, high = 0, low
    if high <= low:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}")
    dt = D.to_dtype(dtype) or D.int64
    b, g = _device_draw(device, generator)
    if g is not None:
        return _wrap_new(g.integers(low, high, size=_size((size,)), dtype=np.int64)
                         .astype(dt.np), requires_grad)
    return _finish(_rng(generator).integers(low, high, size=_size((size,)), dtype=np.int64)
                   .astype(dt.np), requires_grad, device)


@allocates
def randperm(n, *, generator=None, out=None, dtype=None, layout=None, device=None,
             requires_grad=False, pin_memory=False):
    _check_device(device)
    if n < 0:
        raise RuntimeError(f"n must be non-negative, got{n}")
    dt = D.to_dtype(dtype) or D.int64
    return _finish(_rng(generator).permutation(n).astype(dt.np), requires_grad, device)


def rand_like(input, *, dtype=None, layout=None, device=None, requires_grad=False, memory_format=None):
    return rand(*input._data.shape, dtype=dtype or input.dtype, requires_grad=requires_grad,
                device=_like_device(input, device))


def randn_like(input, *, dtype=None, layout=None, device=None, requires_grad=False, memory_format=None):
    return randn(*input._data.shape, dtype=dtype or input.dtype, requires_grad=requires_grad,
                 device=_like_device(input, device))


def randint_like(input, low=0, high=None, *, dtype=None, layout=None, device=None,
                 requires_grad=False, memory_format=None):
    if high is None:
        low, high = 0, low
    return randint(low, high, input._data.shape, dtype=dtype or input.dtype,
                   device=_like_device(input, device))


@allocates
def normal(mean=0.0, std=1.0, size=None, *, generator=None, out=None, dtype=None, layout=None,
           device=None, requires_grad=False):
    """Normal samples; ``mean``/``std`` may be tensors (broadcast) or numbers."""
    _check_device(device)
    rng = _rng(generator)
    mt, st = isinstance(mean, TensorBase), isinstance(std, TensorBase)
    if isinstance(std, (int, float)) and std < 0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {std}")
    if st and (_host(std) < 0).any():
        raise RuntimeError("normal expects all elements of std >= 0.0")
    if mt or st:
        m = _host(mean) if mt else mean
        s = _host(std) if st else std
        shape = np.broadcast_shapes(np.shape(m), np.shape(s))
        like = mean if mt else std
        arr = (m + s * rng.standard_normal(shape)).astype(like._data.dtype)
        return _finish(arr, requires_grad, like.device if device is None else device)
    if size is None:
        raise TypeError("normal() missing required argument 'size' when mean and std are numbers")
    dt = _fdtype(dtype, "normal_kernel_cpu")
    b, g = _device_draw(device, generator)
    if g is not None:
        z = _float_draw(g, g.standard_normal, _size((size,)), dt)
        return _wrap_new((mean + std * z).astype(dt.np), requires_grad)
    arr = (mean + std * rng.standard_normal(_size((size,)))).astype(dt.np)
    return _finish(arr, requires_grad, device)


def bernoulli(input, p=None, *, generator=None, out=None):
    """1 with probability ``input`` (or ``p``), else 0, in input's dtype."""
    prob = _host(input) if p is None else np.broadcast_to(
        _host(p) if isinstance(p, TensorBase) else p, input._data.shape)
    if np.any((prob < 0) | (prob > 1)):
        raise RuntimeError("Expected p_in >= 0 && p_in <= 1 to be true, but got false.")
    draw = _rng(generator).random(input._data.shape)
    return _finish((draw < prob).astype(input._data.dtype), False, input.device)


def poisson(input, generator=None):
    """Samples of Poisson(rate) for each rate in ``input`` (non-negative)."""
    lam = _host(input)
    if lam.size and not (lam >= 0).all():  # (NaN fails too)
        raise RuntimeError("invalid Poisson rate, expected rate to be non-negative")
    return _finish(_rng(generator).poisson(lam).astype(lam.dtype), False, input.device)


def multinomial(input, num_samples, replacement=False, *, generator=None, out=None):
    """Draw category indices from rows of non-negative weights (int64)."""
    w = _host(input).astype(np.float64)
    if w.ndim not in (1, 2):
        raise RuntimeError("prob_dist must be 1 or 2 dim")
    if np.any(w < 0) or not np.all(np.isfinite(w)):
        raise RuntimeError("probability tensor contains either `inf`, `nan` or element < 0")
    rows = w.reshape(-1, w.shape[-1])
    ncat = rows.shape[1]
    if not replacement and num_samples > ncat:
        raise RuntimeError("cannot sample n_sample > prob_dist.size(-1) samples without replacement")
    if num_samples <= 0:
        raise RuntimeError("cannot sample n_sample <= 0 samples")
    rng = _rng(generator)
    out = np.empty((rows.shape[0], num_samples), dtype=np.int64)
    for i, r in enumerate(rows):
        s = r.sum()
        if s <= 0:
            raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
        p = r / s
        if replacement:
            out[i] = rng.choice(ncat, size=num_samples, replace=True, p=p)
        else:
            # Gumbel top-k: sampling without replacement proportional to weights
            with np.errstate(divide="ignore"):
                keys = np.log(p) - np.log(-np.log(rng.random(ncat)))
            out[i] = np.argsort(-keys, kind="stable")[:num_samples]
    return _finish(out.reshape(w.shape[:-1] + (num_samples,)), False, input.device)


# ---- in-place sampling methods (Tensor.normal_, uniform_, ...) ------------------------

def _fill_sample(t, sample, name):
    """Overwrite ``t`` with ``sample`` (an ndarray of t's shape) in place."""
    from .ops.inplace import check_inplace
    check_inplace(t)
    if t.requires_grad and t.grad_fn is not None and _gm_enabled():
        raise RuntimeError(f"{name}: in-place sampling on a tensor that is part of a graph "
                           "is not supported; do it under ember.no_grad()")
    b = backend_of(t._data)
    t._data[...] = sample if type(sample) in b.array_types else b.from_host(np.asarray(sample))
    t._vc[0] += 1
    return t


def _own_rng(t, generator):
    """The generator of ``t``'s device when it has one and no ``generator=`` is given."""
    if generator is not None or type(t._data) is np.ndarray:
        return None
    b = backend_of(t._data)
    rt = b.runtime
    return device_rng(b, rt.index_of(t._data)) if rt is not None else None


def _gm_enabled():
    from .autograd.grad_mode import state
    return state.enabled


def _float_only(t, name):
    if not _isf(t._data.dtype):
        raise NotImplementedError(f"\"{name}\" not implemented for '{_tname(t._data.dtype)}'")


def normal_(self, mean=0.0, std=1.0, *, generator=None):
    """Fill with samples of N(mean, std^2)."""
    _float_only(self, "normal_kernel_cpu")
    if std < 0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {std}")
    g = _own_rng(self, generator)
    if g is not None:
        z = _float_draw(g, g.standard_normal, self._data.shape, self.dtype)
        return _fill_sample(self, mean + std * z, "normal_")
    s = mean + std * _rng(generator).standard_normal(self._data.shape)
    return _fill_sample(self, s, "normal_")


def uniform_(self, a=0.0, b=1.0, *, generator=None):
    """Fill with samples of U[a, b)."""
    _float_only(self, "check_uniform_bounds")
    if a > b:
        raise RuntimeError(f"uniform_ expects to return a [from, to) range, but found from={a} > to={b}")
    g = _own_rng(self, generator)
    if g is not None:
        u = _float_draw(g, g.random, self._data.shape, self.dtype)
        return _fill_sample(self, a + (b - a) * u, "uniform_")
    return _fill_sample(self, _rng(generator).uniform(a, b, self._data.shape), "uniform_")


def exponential_(self, lambd=1.0, *, generator=None):
    _float_only(self, "exponential_cpu")
    if lambd <= 0:
        raise RuntimeError(f"exponential_ expects lambda > 0.0, but found lambda={lambd}")
    return _fill_sample(self, _rng(generator).exponential(1.0 / lambd, self._data.shape),
                        "exponential_")


def cauchy_(self, median=0.0, sigma=1.0, *, generator=None):
    _float_only(self, "cauchy_cpu")
    return _fill_sample(self, median + sigma * _rng(generator).standard_cauchy(self._data.shape),
                        "cauchy_")


def log_normal_(self, mean=1.0, std=2.0, *, generator=None):
    _float_only(self, "log_normal_cpu")
    return _fill_sample(self, _rng(generator).lognormal(mean, std, self._data.shape), "log_normal_")


def geometric_(self, p, *, generator=None):
    return _fill_sample(self, _rng(generator).geometric(p, self._data.shape), "geometric_")


def bernoulli_(self, p=0.5, *, generator=None):
    prob = _host(p) if isinstance(p, TensorBase) else p
    draw = _rng(generator).random(self._data.shape)
    return _fill_sample(self, draw < prob, "bernoulli_")


def random_(self, from_=0, to=None, *, generator=None):
    """Integers uniform on [from, to); ``random_(to)`` means [0, to); no bounds:
    [0, 2**mantissa] for floats, the dtype's range for ints."""
    if to is None:
        if from_ == 0:
            kind = self._data.dtype
            to = (2 ** (np.finfo(kind).nmant + 1) if kind.kind == "f"
                  else (2 if kind == np.bool_ else int(np.iinfo(kind).max) + 1))
        else:
            from_, to = 0, from_
    if from_ >= to:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={from_} "
                           f">= to={to}")
    return _fill_sample(self, _rng(generator).integers(from_, to, self._data.shape), "random_")


