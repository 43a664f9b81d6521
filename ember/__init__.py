"""Ember: a deep learning framework on NumPy whose public API is PyTorch's.

``import ember as torch`` runs torch code for everything Ember covers.
"""
from .backends.cpu import get_num_threads, set_num_threads  # noqa: E402

from . import _dtype
from ._dtype import (dtype, float16, half, float32, float64, double, int8, int16, short, int32,
                     int64, long, uint8, bool, bfloat16, get_default_dtype, set_default_dtype,
                     promote_types, result_type, can_cast, finfo, iinfo)
from ._dtype import float, int  # noqa: F401  (torch exposes these names too)
from ._dtype import complex64, cfloat, complex128, cdouble  # noqa: F401  (complex dtypes)
from ._tensor import Tensor
from ._tensor_base import Size, device, is_tensor, set_default_device, get_default_device
from ._printing import set_printoptions
from .autograd import no_grad, enable_grad, set_grad_enabled, inference_mode
from .autograd.grad_mode import is_grad_enabled, is_inference_mode_enabled
from .autograd.anomaly import (is_anomaly_enabled, is_anomaly_check_nan_enabled,
                               set_anomaly_enabled)
from . import autograd
from ._creation import (tensor, as_tensor, asarray, from_numpy, zeros, ones, empty, full,
                        zeros_like, ones_like, empty_like, full_like, arange, linspace,
                        logspace, eye, scalar_tensor)
from . import random
from .random import (manual_seed, seed, initial_seed, get_rng_state, set_rng_state, Generator,
                     default_generator, rand, randn, randint, randperm, rand_like, randn_like,
                     randint_like, normal, bernoulli, multinomial, poisson)
from . import ops
from .ops import _MODULES as _op_modules
from . import cuda, backends, viz, scalar, datasets, text
from . import accelerator  # noqa: E402
from ._legacy import (FloatTensor, DoubleTensor, HalfTensor, LongTensor, IntTensor,  # noqa: E402
                      ShortTensor, CharTensor, ByteTensor, BoolTensor)
from ._legacy import Variable as _Variable  # noqa: E402
autograd.Variable = _Variable          # (it makes Tensors, a layer above autograd)
autograd.__all__.append("Variable")
from ._runtime import (compile, use_deterministic_algorithms,  # noqa: E402
                       are_deterministic_algorithms_enabled,
                       is_deterministic_algorithms_warn_only_enabled,
                       set_deterministic_debug_mode, get_deterministic_debug_mode)

# Every public op function becomes ember.<name>, as in torch (reporting a
# non-tensor argument with torch's TypeError; see ops/_typecheck.py).
from .ops._typecheck import checked as _checked  # noqa: E402
for _m in _op_modules:
    for _n in ops._public(_m):
        if not _n.startswith("_"):
            _f = getattr(_m, _n)
            globals().setdefault(_n, _checked(_f, _n) if callable(_f) and not isinstance(_f, type)
                                 else _f)
del _m, _n, _f

from .autograd import functional as _autograd_functional  # noqa: E402,F401  (above ops)
from . import linalg  # noqa: E402
from . import fft  # noqa: E402  (torch.fft's transforms)
from ._serialization_hook import save, load  # noqa: E402

__version__ = "0.1.0"


def is_floating_point(input):
    return input.is_floating_point()


def numel(input):
    return input.numel()


# (non-tensor arguments: torch's TypeError, see ops/_typecheck.py)
for _n in ("is_floating_point", "numel", "rand_like", "randn_like", "randint_like", "bernoulli",
           "multinomial", "poisson"):
    globals()[_n] = _checked(globals()[_n], _n)
del _n


def typename(obj):
    return obj.type() if isinstance(obj, Tensor) else type(obj).__name__


def is_nonzero(input):
    if input.numel() != 1:
        raise RuntimeError(f"Boolean value of Tensor with more than one value is ambiguous")
    return builtins_bool(input.item())


import builtins as _builtins  # noqa: E402
builtins_bool = _builtins.bool

from ._layout import (layout, strided, sparse_coo, sparse_csr, sparse_csc,  # noqa: E402,F401
                      sparse_bsr, sparse_bsc)
contiguous_format = preserve_format = channels_last = None

from . import optim  # noqa: E402

from . import nn  # noqa: E402
nn.functional._export_toplevel(globals())
from . import _extras  # noqa: E402  (compositions: block_diag, cdist, windows, ...)
_extras.install(globals())

from . import utils  # noqa: E402
from .utils.dlpack import from_dlpack  # noqa: E402
from . import func  # noqa: E402
from . import special  # noqa: E402
from . import testing  # noqa: E402
from .func import vmap  # noqa: E402

# torch.distributed's API over MPI; mpi4py itself loads only at init_process_group.
from . import distributed  # noqa: E402
from . import multiprocessing  # noqa: E402  (spawn, over mpiexec)
from . import profiler  # noqa: E402
from . import sparse  # noqa: E402  (torch.sparse: mm, addmm, sum)

# mixed precision: ember.autocast("cpu", dtype=ember.bfloat16), ember.amp.GradScaler
from . import amp, cpu  # noqa: E402
from .amp import (autocast, is_autocast_available, is_autocast_enabled,  # noqa: E402
                  get_autocast_dtype, set_autocast_enabled, set_autocast_dtype)


def __getattr__(name):
    """Submodules written on top of the whole public API (as a user's code
    would be: ``import ember``) load on first use, so ``ember.distributions``
    works after a plain ``import ember`` without the package importing them
    while it is still being built."""
    if name in ("distributions", "onnx"):
        import importlib
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'ember' has no attribute '{name}'")
