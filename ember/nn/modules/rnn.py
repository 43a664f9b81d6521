"""Recurrent layers: RNN, LSTM, GRU and their single-step cells (torch.nn's).

Parameter names, shapes and gate layouts are torch's (``weight_ih_l0``,
``weight_hh_l0_reverse``, ...; LSTM gates i, f, g, o; GRU gates r, z, n), so
torch state dicts load unchanged.  Each layer and direction runs as one
fused Op (``ember.nn.functional.rnn``): the input projection for the whole
sequence in one matmul, then the recurrence with a hand-written BPTT.
"""
import math
import numbers
import warnings

import numpy as np

from ...backends import namespace
from .. import functional as F
from .. import init
from ..functional import rnn as _R
from ..parameter import Parameter
from ..utils.rnn import PackedSequence, _packed_index
from .module import Module
from .utils import _empty, _from_host

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]


def _apply_permutation(tensor, permutation, dim=1):
    return tensor.index_select(dim, permutation)


class RNNBase(Module):
    """Shared machinery of RNN / LSTM / GRU: parameters, checks, the layer loop.

    ``mode`` is 'LSTM', 'GRU', 'RNN_TANH' or 'RNN_RELU'.
    """

    __constants__ = ["mode", "input_size", "hidden_size", "num_layers", "bias", "batch_first",
                     "dropout", "bidirectional", "proj_size"]

    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, proj_size=0, device=None,
                 dtype=None):
        super().__init__()
        if (not isinstance(dropout, numbers.Number) or isinstance(dropout, bool)
                or not 0 <= dropout <= 1):
            raise ValueError("dropout should be a number in range [0, 1] representing the "
                             "probability of an element being zeroed")
        if dropout > 0 and num_layers == 1:
            warnings.warn("dropout option adds dropout after all but last recurrent layer, so "
                          "non-zero dropout expects num_layers greater than 1, but got "
                          f"dropout={dropout} and num_layers={num_layers}", stacklevel=3)
        if not isinstance(bias, bool):
            raise TypeError(f"bias should be of type bool, got: {type(bias).__name__}")
        if not isinstance(batch_first, bool):
            raise TypeError(f"batch_first should be of type bool, got: "
                            f"{type(batch_first).__name__}")
        if not isinstance(input_size, int):
            raise TypeError(f"input_size should be of type int, got: {type(input_size).__name__}")
        if input_size <= 0:
            raise ValueError("input_size must be greater than zero")
        if not isinstance(hidden_size, int):
            raise TypeError(f"hidden_size should be of type int, got: "
                            f"{type(hidden_size).__name__}")
        if hidden_size <= 0:
            raise ValueError("hidden_size must be greater than zero")
        if num_layers <= 0:
            raise ValueError("num_layers must be greater than zero")
        if proj_size < 0:
            raise ValueError("proj_size should be a positive integer or zero to disable "
                             "projections")
        if proj_size >= hidden_size:
            raise ValueError("proj_size has to be smaller than hidden_size")
        gates = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}.get(mode)
        if gates is None:
            raise ValueError("Unrecognized RNN mode: " + mode)
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size
        D = 2 if bidirectional else 1
        G = gates * hidden_size
        real_hidden = proj_size if proj_size > 0 else hidden_size
        self._flat_weights_names = []
        self._all_weights = []
        for layer in range(num_layers):
            for direction in range(D):
                layer_in = input_size if layer == 0 else real_hidden * D
                sfx = f"_l{layer}" + ("_reverse" if direction == 1 else "")
                shapes = [("weight_ih", (G, layer_in)), ("weight_hh", (G, real_hidden))]
                if bias:
                    shapes += [("bias_ih", (G,)), ("bias_hh", (G,))]
                if proj_size > 0:
                    shapes += [("weight_hr", (proj_size, hidden_size))]
                names = []
                for base, shape in shapes:
                    setattr(self, base + sfx, Parameter(_empty(shape, device, dtype)))
                    names.append(base + sfx)
                self._flat_weights_names.extend(names)
                self._all_weights.append(names)
        self.reset_parameters()

    # ---- parameters -------------------------------------------------------------------
    @property
    def _flat_weights(self):
        return [getattr(self, n, None) for n in self._flat_weights_names]

    @property
    def all_weights(self):
        """Per layer and direction, the list of its parameters (torch's order)."""
        return [[getattr(self, n) for n in names] for names in self._all_weights]

    def flatten_parameters(self):
        """A no-op: there is no cuDNN weight buffer to compact on the CPU."""

    def reset_parameters(self):
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for w in self.parameters():
            init.uniform_(w, -stdv, stdv)

    def _layer_params(self, idx):
        """(w_ih, w_hh, b_ih, b_hh, w_hr) of layer-direction ``idx``."""
        p = self._parameters
        names = self._all_weights[idx]
        w_ih, w_hh = p[names[0]], p[names[1]]
        b_ih = b_hh = w_hr = None
        if self.bias:
            b_ih, b_hh = p[names[2]], p[names[3]]
        if self.proj_size > 0:
            w_hr = p[names[-1]]
        return w_ih, w_hh, b_ih, b_hh, w_hr

    # ---- checks (torch's messages) ----------------------------------------------------
    def check_input(self, input, batch_sizes):
        wdt = self._parameters[self._flat_weights_names[0]].dtype
        if input.dtype != wdt:
            raise ValueError(f"RNN input dtype ({input.dtype}) does not match weight dtype "
                             f"({wdt}). Convert input: input.to({wdt}), or convert model: "
                             f"model.to({input.dtype})")
        expected = 2 if batch_sizes is not None else 3
        if input.dim() != expected:
            raise RuntimeError(f"input must have {expected} dimensions, got {input.dim()}")
        if self.input_size != input.size(-1):
            raise RuntimeError(f"input.size(-1) must be equal to input_size. Expected "
                               f"{self.input_size}, got {input.size(-1)}")

    def get_expected_hidden_size(self, input, batch_sizes):
        if batch_sizes is not None:
            mini_batch = int(batch_sizes[0])
        else:
            mini_batch = input.size(0) if self.batch_first else input.size(1)
        D = 2 if self.bidirectional else 1
        h = self.proj_size if self.proj_size > 0 else self.hidden_size
        return (self.num_layers * D, mini_batch, h)

    def check_hidden_size(self, hx, expected_hidden_size, msg="Expected hidden size {}, got {}"):
        if tuple(hx.size()) != tuple(expected_hidden_size):
            raise RuntimeError(msg.format(tuple(expected_hidden_size), list(hx.size())))

    def check_forward_args(self, input, hidden, batch_sizes):
        self.check_input(input, batch_sizes)
        self.check_hidden_size(hidden, self.get_expected_hidden_size(input, batch_sizes))

    def permute_hidden(self, hx, permutation):
        if permutation is None:
            return hx
        return _apply_permutation(hx, permutation)

    def extra_repr(self):
        s = "{input_size}, {hidden_size}"
        if self.proj_size != 0:
            s += ", proj_size={proj_size}"
        if self.num_layers != 1:
            s += ", num_layers={num_layers}"
        if self.bias is not True:
            s += ", bias={bias}"
        if self.batch_first is not False:
            s += ", batch_first={batch_first}"
        if self.dropout != 0:
            s += ", dropout={dropout}"
        if self.bidirectional is not False:
            s += ", bidirectional={bidirectional}"
        return s.format(**self.__dict__)

    # ---- the computation --------------------------------------------------------------
    def _unpack_input(self, input):
        """-> (x, batch_sizes, sorted_indices, unsorted_indices, packed_index).

        A PackedSequence becomes a zero-padded time-major (T, B, *) tensor
        plus its per-step batch sizes."""
        if not isinstance(input, PackedSequence):
            return input, None, None, None, None
        data, batch_sizes, sorted_indices, unsorted_indices = input
        bs = [int(v) for v in batch_sizes._data]
        T, B = len(bs), (bs[0] if bs else 0)
        t, b = _packed_index(bs)
        n = data.shape[0]
        pos = np.full((T, B), n, dtype=np.int64)
        pos[t, b] = np.arange(n)
        from ... import cat, zeros
        dev = data.device
        x = cat([data, zeros((1,) + tuple(data.shape[1:]), dtype=data.dtype, device=dev)], 0)
        return x[_from_host(pos, dev)], bs, sorted_indices, unsorted_indices, (t, b)

    def _run(self, x, hx, cx, bsz, bf):
        """All layers and directions.  x: (T, B, I) or (B, T, I) (``bf``); hx,
        cx: (L*D, B, *) Tensors or None.  Returns (out, h_n, c_n or None)."""
        from ... import stack, cat
        mode = self.mode
        D = 2 if self.bidirectional else 1
        B = x.shape[0] if bf else x.shape[1]
        P = self.proj_size if self.proj_size > 0 else self.hidden_size
        dt = x._data.dtype
        xp = namespace(x._data)
        zeros_h = xp.zeros((B, P), dt) if hx is None else None
        zeros_c = xp.zeros((B, self.hidden_size), dt) if (mode == "LSTM" and cx is None) else None
        hs, cs = [], []
        layer_in = x
        for layer in range(self.num_layers):
            outs = []
            for d in range(D):
                idx = layer * D + d
                w_ih, w_hh, b_ih, b_hh, w_hr = self._layer_params(idx)
                h0 = zeros_h if hx is None else hx[idx]
                rev = d == 1
                if mode == "LSTM":
                    c0 = zeros_c if cx is None else cx[idx]
                    out, hT, cT = _R._LSTMLayer.apply(layer_in, w_ih, b_ih, h0, c0, w_hh, b_hh,
                                                      w_hr, rev, bsz, bf)
                    cs.append(cT)
                elif mode == "GRU":
                    out, hT = _R._GRULayer.apply(layer_in, w_ih, b_ih, h0, w_hh, b_hh, rev,
                                                 bsz, bf)
                else:
                    out, hT = _R._RNNLayer.apply(layer_in, w_ih, b_ih, h0, w_hh, b_hh,
                                                 mode == "RNN_RELU", rev, bsz, bf)
                outs.append(out)
                hs.append(hT)
            layer_in = outs[0] if D == 1 else cat(outs, -1)
            if self.dropout and self.training and layer < self.num_layers - 1:
                layer_in = F.dropout(layer_in, self.dropout, True)
        h_n = stack(hs, 0)
        c_n = stack(cs, 0) if mode == "LSTM" else None
        return layer_in, h_n, c_n

    def _forward_common(self, input, hx, name, lstm):
        """Input handling shared by RNN / GRU / LSTM (torch's checks and
        unbatched / packed conventions)."""
        x, bsz, sorted_indices, unsorted_indices, pidx = self._unpack_input(input)
        packed = bsz is not None
        is_batched = True
        if packed:
            bf = False
            if hx is not None:
                hx = tuple(self.permute_hidden(h, sorted_indices) for h in hx) if lstm \
                    else self.permute_hidden(hx, sorted_indices)
            self._check_args(input.data, hx, bsz, lstm)
        else:
            bf = self.batch_first
            if x.dim() not in (2, 3):
                if lstm or name == "GRU":
                    raise ValueError(f"{name}: Expected input to be 2D or 3D, got {x.dim()}D "
                                     "instead")
                raise ValueError(f"{name}: Expected input to be 2D or 3D, got {x.dim()}D tensor "
                                 "instead")
            is_batched = x.dim() == 3
            if not is_batched:
                x = x.unsqueeze(0 if bf else 1)
                if hx is not None:
                    if lstm:
                        if hx[0].dim() != 2 or hx[1].dim() != 2:
                            raise RuntimeError(f"For unbatched 2-D input, hx and cx should also "
                                               f"be 2-D but got ({hx[0].dim()}-D, "
                                               f"{hx[1].dim()}-D) tensors")
                        hx = (hx[0].unsqueeze(1), hx[1].unsqueeze(1))
                    else:
                        if hx.dim() != 2:
                            raise RuntimeError(f"For unbatched 2-D input, hx should also be 2-D "
                                               f"but got {hx.dim()}-D tensor")
                        hx = hx.unsqueeze(1)
            elif hx is not None:
                if lstm:
                    if hx[0].dim() != 3 or hx[1].dim() != 3:
                        raise RuntimeError(f"For batched 3-D input, hx and cx should also be 3-D "
                                           f"but got ({hx[0].dim()}-D, {hx[1].dim()}-D) tensors")
                elif hx.dim() != 3:
                    raise RuntimeError(f"For batched 3-D input, hx should also be 3-D but got "
                                       f"{hx.dim()}-D tensor")
            self._check_args(x, hx, None, lstm)
        h0, c0 = (hx if hx is not None else (None, None)) if lstm else (hx, None)
        out, h_n, c_n = self._run(x, h0, c0, bsz, bf)
        hidden = (h_n, c_n) if lstm else h_n
        if packed:
            t, b = (_from_host(i, out.device) for i in pidx)
            out = PackedSequence(out[t, b], input.batch_sizes, sorted_indices, unsorted_indices)
            if unsorted_indices is not None:
                hidden = tuple(self.permute_hidden(h, unsorted_indices) for h in hidden) if lstm \
                    else self.permute_hidden(hidden, unsorted_indices)
            return out, hidden
        if not is_batched:
            out = out.squeeze(0 if bf else 1)
            hidden = (h_n.squeeze(1), c_n.squeeze(1)) if lstm else h_n.squeeze(1)
        return out, hidden

    def _check_args(self, x, hx, bsz, lstm):
        self.check_input(x, bsz)
        if hx is None:
            return
        expected = self.get_expected_hidden_size(x, bsz)
        if lstm:
            self.check_hidden_size(hx[0], expected, "Expected hidden[0] size {}, got {}")
            c_exp = (expected[0], expected[1], self.hidden_size)
            self.check_hidden_size(hx[1], c_exp, "Expected hidden[1] size {}, got {}")
        else:
            self.check_hidden_size(hx, expected)


class RNN(RNNBase):
    """Elman RNN: h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh) (or relu).

    RNN(input_size, hidden_size, num_layers=1, nonlinearity='tanh', bias=True,
    batch_first=False, dropout=0.0, bidirectional=False).  Input (T, B, I),
    (B, T, I) with batch_first, (T, I) unbatched, or a PackedSequence; returns
    (output (T, B, D*H), h_n (L*D, B, H)).
    """

    def __init__(self, *args, **kwargs):
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        if len(args) > 3:
            nonlinearity = args[3]
            args = args[:3] + args[4:]
        else:
            nonlinearity = kwargs.pop("nonlinearity", "tanh")
        if nonlinearity == "tanh":
            mode = "RNN_TANH"
        elif nonlinearity == "relu":
            mode = "RNN_RELU"
        else:
            raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or "
                             "'relu'.")
        super().__init__(mode, *args, **kwargs)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        return self._forward_common(input, hx, "RNN", False)


class LSTM(RNNBase):
    """Long short-term memory.  LSTM(input_size, hidden_size, num_layers=1,
    bias=True, batch_first=False, dropout=0.0, bidirectional=False,
    proj_size=0).  Returns (output, (h_n, c_n)); with proj_size > 0 the
    hidden state is projected to proj_size features by weight_hr.
    """

    def __init__(self, *args, **kwargs):
        super().__init__("LSTM", *args, **kwargs)

    def get_expected_cell_size(self, input, batch_sizes):
        if batch_sizes is not None:
            mini_batch = int(batch_sizes[0])
        else:
            mini_batch = input.size(0) if self.batch_first else input.size(1)
        D = 2 if self.bidirectional else 1
        return (self.num_layers * D, mini_batch, self.hidden_size)

    def forward(self, input, hx=None):
        return self._forward_common(input, hx, "LSTM", True)


class GRU(RNNBase):
    """Gated recurrent unit.  GRU(input_size, hidden_size, num_layers=1,
    bias=True, batch_first=False, dropout=0.0, bidirectional=False).
    Returns (output, h_n)."""

    def __init__(self, *args, **kwargs):
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        super().__init__("GRU", *args, **kwargs)

    def forward(self, input, hx=None):
        return self._forward_common(input, hx, "GRU", False)


# ---- cells ------------------------------------------------------------------------------

class RNNCellBase(Module):
    """Parameters of a single-step cell: weight_ih (G, I), weight_hh (G, H),
    bias_ih, bias_hh (G,), G = num_chunks * hidden_size."""

    __constants__ = ["input_size", "hidden_size", "bias"]

    def __init__(self, input_size, hidden_size, bias, num_chunks, device=None, dtype=None):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        G = num_chunks * hidden_size
        self.weight_ih = Parameter(_empty((G, input_size), device, dtype))
        self.weight_hh = Parameter(_empty((G, hidden_size), device, dtype))
        if bias:
            self.bias_ih = Parameter(_empty((G,), device, dtype))
            self.bias_hh = Parameter(_empty((G,), device, dtype))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def extra_repr(self):
        s = "{input_size}, {hidden_size}"
        if "bias" in self.__dict__ and self.bias is not True:
            s += ", bias={bias}"
        if "nonlinearity" in self.__dict__ and self.nonlinearity != "tanh":
            s += ", nonlinearity={nonlinearity}"
        return s.format(**self.__dict__)

    def reset_parameters(self):
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for w in self.parameters():
            init.uniform_(w, -stdv, stdv)

    def _prepare(self, name, input, states):
        """Check dims, add the batch dim to unbatched input; returns
        (input (B, I), states (B, H) each or zeros, is_batched)."""
        if input.dim() not in (1, 2):
            raise ValueError(f"{name}: Expected input to be 1D or 2D, got {input.dim()}D instead")
        is_batched = input.dim() == 2
        if not is_batched:
            input = input.unsqueeze(0)
        B = input.shape[0]
        xp = namespace(input._data)
        out = []
        for s in states:
            if s is None:
                out.append(xp.zeros((B, self.hidden_size), input._data.dtype))
            else:
                out.append(s if is_batched else s.unsqueeze(0))
        return input, out, is_batched



class RNNCell(RNNCellBase):
    """h' = tanh(W_ih x + b_ih + W_hh h + b_hh) (or relu): input (B, I) or (I,)."""

    __constants__ = ["input_size", "hidden_size", "bias", "nonlinearity"]

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None,
                 dtype=None):
        super().__init__(input_size, hidden_size, bias, 1, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        if hx is not None and hx.dim() not in (1, 2):
            raise ValueError(f"RNNCell: Expected hidden to be 1D or 2D, got {hx.dim()}D instead")
        if self.nonlinearity not in ("tanh", "relu"):
            raise RuntimeError(f"Unknown nonlinearity: {self.nonlinearity}")
        x, (h,), batched = self._prepare("RNNCell", input, (hx,))
        _, h1 = _R._RNNLayer.apply(x.unsqueeze(0), self.weight_ih, self.bias_ih, h,
                                   self.weight_hh, self.bias_hh, self.nonlinearity == "relu",
                                   False, None, False)
        return h1 if batched else h1.squeeze(0)


class LSTMCell(RNNCellBase):
    """One LSTM step: (h', c') from input (B, I) or (I,) and (h, c)."""

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, 4, device, dtype)

    def forward(self, input, hx=None):
        if hx is not None:
            for idx, value in enumerate(hx):
                if value.dim() not in (1, 2):
                    raise ValueError(f"LSTMCell: Expected hx[{idx}] to be 1D or 2D, got "
                                     f"{value.dim()}D instead")
        x, (h, c), batched = self._prepare("LSTMCell", input,
                                           (None, None) if hx is None else hx)
        _, h1, c1 = _R._LSTMLayer.apply(x.unsqueeze(0), self.weight_ih, self.bias_ih, h, c,
                                        self.weight_hh, self.bias_hh, None, False, None, False)
        if not batched:
            return h1.squeeze(0), c1.squeeze(0)
        return h1, c1


class GRUCell(RNNCellBase):
    """One GRU step: h' from input (B, I) or (I,) and h."""

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, 3, device, dtype)

    def forward(self, input, hx=None):
        if hx is not None and hx.dim() not in (1, 2):
            raise ValueError(f"GRUCell: Expected hidden to be 1D or 2D, got {hx.dim()}D instead")
        x, (h,), batched = self._prepare("GRUCell", input, (hx,))
        _, h1 = _R._GRULayer.apply(x.unsqueeze(0), self.weight_ih, self.bias_ih, h,
                                   self.weight_hh, self.bias_hh, False, None, False)
        return h1 if batched else h1.squeeze(0)
