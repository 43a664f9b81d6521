"""The lazy layers: Linear, convolutions and norms whose input size (features
or channels) is read from the first batch (see ``lazy.LazyModuleMixin``).

Each is its plain layer built with size 0, whose parameters (and running
statistics) are then replaced by uninitialized ones; the first forward
materialises them, runs the plain layer's initialisation and turns the
module into the plain class.
"""
from ... import _dtype as D
from ..._creation import tensor
from ...autograd.grad_mode import no_grad
from ..parameter import UninitializedBuffer, UninitializedParameter
from .batchnorm import BatchNorm1d, BatchNorm2d, BatchNorm3d
from .conv import Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d
from .lazy import LazyModuleMixin
from .linear import Linear
from .normalization import InstanceNorm1d, InstanceNorm2d, InstanceNorm3d

__all__ = ["LazyLinear", "LazyConv1d", "LazyConv2d", "LazyConv3d", "LazyConvTranspose1d",
           "LazyConvTranspose2d", "LazyConvTranspose3d", "LazyBatchNorm1d", "LazyBatchNorm2d",
           "LazyBatchNorm3d", "LazyInstanceNorm1d", "LazyInstanceNorm2d", "LazyInstanceNorm3d"]


class LazyLinear(LazyModuleMixin, Linear):
    """A Linear layer whose ``in_features`` is the last size of its first input."""

    cls_to_become = Linear

    def __init__(self, out_features, bias=True, device=None, dtype=None):
        super().__init__(0, 0, False, device, dtype)
        self.weight = UninitializedParameter(device=device, dtype=dtype)
        self.out_features = out_features
        if bias:
            self.bias = UninitializedParameter(device=device, dtype=dtype)

    def reset_parameters(self):
        if not self.has_uninitialized_params() and self.in_features != 0:
            super().reset_parameters()

    def initialize_parameters(self, input):
        if self.has_uninitialized_params():
            with no_grad():
                self.in_features = input.shape[-1]
                self.weight.materialize((self.out_features, self.in_features))
                if self.bias is not None:
                    self.bias.materialize((self.out_features,))
                self.reset_parameters()


class _LazyConvMixin(LazyModuleMixin):
    """Shared by the lazy convolutions: ``in_channels`` from the first input."""

    def _lazy_setup(self, out_channels, bias, device, dtype):
        self.weight = UninitializedParameter(device=device, dtype=dtype)
        self.out_channels = out_channels
        if bias:
            self.bias = UninitializedParameter(device=device, dtype=dtype)

    def reset_parameters(self):
        if not self.has_uninitialized_params() and self.in_channels != 0:
            super().reset_parameters()

    def _get_in_channels(self, input):
        spatial = len(self.kernel_size)
        unbatched, batched = spatial + 1, spatial + 2
        if input.dim() not in (unbatched, batched):
            raise RuntimeError(f"Expected {unbatched}D (unbatched) or {batched}D (batched) input "
                               f"to {type(self).__name__}, but got input of size: {input.shape}")
        return input.shape[1] if input.dim() == batched else input.shape[0]

    def initialize_parameters(self, input, *args, **kwargs):
        if self.has_uninitialized_params():
            self.in_channels = self._get_in_channels(input)
            if self.in_channels % self.groups != 0:
                raise ValueError("in_channels must be divisible by groups")
            k = tuple(self.kernel_size)
            with no_grad():
                if self.transposed:
                    self.weight.materialize((self.in_channels, self.out_channels // self.groups)
                                            + k)
                else:
                    self.weight.materialize((self.out_channels, self.in_channels // self.groups)
                                            + k)
                if self.bias is not None:
                    self.bias.materialize((self.out_channels,))
                self.reset_parameters()


def _lazy_conv(name, plain, doc):
    def __init__(self, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", device=None, dtype=None):
        plain.__init__(self, 0, 0, kernel_size, stride, padding, dilation, groups, False,
                       padding_mode, device, dtype)
        LazyModuleMixin._hook_up(self)
        self._lazy_setup(out_channels, bias, device, dtype)
    return type(name, (_LazyConvMixin, plain), {"__init__": __init__, "cls_to_become": plain,
                                                "__doc__": doc, "__module__": __name__})


def _lazy_conv_transpose(name, plain, doc):
    def __init__(self, out_channels, kernel_size, stride=1, padding=0, output_padding=0,
                 groups=1, bias=True, dilation=1, padding_mode="zeros", device=None, dtype=None):
        plain.__init__(self, 0, 0, kernel_size, stride, padding, output_padding, groups, False,
                       dilation, padding_mode, device, dtype)
        LazyModuleMixin._hook_up(self)
        self._lazy_setup(out_channels, bias, device, dtype)
    return type(name, (_LazyConvMixin, plain), {"__init__": __init__, "cls_to_become": plain,
                                                "__doc__": doc, "__module__": __name__})


LazyConv1d = _lazy_conv("LazyConv1d", Conv1d, "A Conv1d whose in_channels comes from its "
                                               "first input.")
LazyConv2d = _lazy_conv("LazyConv2d", Conv2d, "A Conv2d whose in_channels comes from its "
                                               "first input.")
LazyConv3d = _lazy_conv("LazyConv3d", Conv3d, "A Conv3d whose in_channels comes from its "
                                               "first input.")
LazyConvTranspose1d = _lazy_conv_transpose("LazyConvTranspose1d", ConvTranspose1d,
                                           "A ConvTranspose1d whose in_channels comes from its "
                                           "first input.")
LazyConvTranspose2d = _lazy_conv_transpose("LazyConvTranspose2d", ConvTranspose2d,
                                           "A ConvTranspose2d whose in_channels comes from its "
                                           "first input.")
LazyConvTranspose3d = _lazy_conv_transpose("LazyConvTranspose3d", ConvTranspose3d,
                                           "A ConvTranspose3d whose in_channels comes from its "
                                           "first input.")


class _LazyNormMixin(LazyModuleMixin):
    """Shared by the lazy batch and instance norms: ``num_features`` from the
    first input's dimension 1 (as torch)."""

    def _lazy_setup(self, affine, track_running_stats, device, dtype):
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = UninitializedParameter(device=device, dtype=dtype)
            self.bias = UninitializedParameter(device=device, dtype=dtype)
        if track_running_stats:
            self.running_mean = UninitializedBuffer(device=device, dtype=dtype)
            self.running_var = UninitializedBuffer(device=device, dtype=dtype)
            self.num_batches_tracked = tensor(0, dtype=D.int64, device=device)

    def reset_parameters(self):
        if not self.has_uninitialized_params() and self.num_features != 0:
            super().reset_parameters()

    def initialize_parameters(self, input):
        if self.has_uninitialized_params():
            self.num_features = input.shape[1]
            with no_grad():
                if self.affine:
                    self.weight.materialize((self.num_features,))
                    self.bias.materialize((self.num_features,))
                if self.track_running_stats:
                    self.running_mean.materialize((self.num_features,))
                    self.running_var.materialize((self.num_features,))
                self.reset_parameters()


def _lazy_norm(name, plain, affine, track, doc):
    def __init__(self, eps=1e-5, momentum=0.1, affine=affine, track_running_stats=track,
                 device=None, dtype=None):
        plain.__init__(self, 0, eps, momentum, False, False, device, dtype)
        LazyModuleMixin._hook_up(self)
        self._lazy_setup(affine, track_running_stats, device, dtype)
    return type(name, (_LazyNormMixin, plain), {"__init__": __init__, "cls_to_become": plain,
                                                "__doc__": doc, "__module__": __name__})


# (torch's lazy instance norms default to affine=True, track_running_stats=True,
# unlike the plain ones)
_BN = "A {} whose num_features comes from its first input."
LazyBatchNorm1d = _lazy_norm("LazyBatchNorm1d", BatchNorm1d, True, True, _BN.format("BatchNorm1d"))
LazyBatchNorm2d = _lazy_norm("LazyBatchNorm2d", BatchNorm2d, True, True, _BN.format("BatchNorm2d"))
LazyBatchNorm3d = _lazy_norm("LazyBatchNorm3d", BatchNorm3d, True, True, _BN.format("BatchNorm3d"))
LazyInstanceNorm1d = _lazy_norm("LazyInstanceNorm1d", InstanceNorm1d, True, True,
                                _BN.format("InstanceNorm1d"))
LazyInstanceNorm2d = _lazy_norm("LazyInstanceNorm2d", InstanceNorm2d, True, True,
                                _BN.format("InstanceNorm2d"))
LazyInstanceNorm3d = _lazy_norm("LazyInstanceNorm3d", InstanceNorm3d, True, True,
                                _BN.format("InstanceNorm3d"))
