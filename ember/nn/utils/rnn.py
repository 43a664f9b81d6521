"""Variable-length sequences: padding and packing (torch.nn.utils.rnn).

A ``PackedSequence`` stores a batch of sequences sorted by length
(decreasing) time step by time step: ``data`` holds, for t = 0, 1, ..., the
``batch_sizes[t]`` sequences still running at step t.  Recurrent layers take
it directly and skip the padding.  Conversions are gathers, so gradients
flow through packing and unpacking.

Index bookkeeping (lengths, batch sizes, permutations) is done on the host
and ``batch_sizes`` / returned lengths live on the CPU, as torch's; the index
maps that gather from the data go to the data's device.
"""
from collections import namedtuple

import numpy as np

from ..._tensor import Tensor

from ..._tensor_base import _wrap
from ..modules.utils import _from_host

__all__ = ["PackedSequence", "invert_permutation", "pack_padded_sequence",
           "pad_packed_sequence", "pad_sequence", "unpad_sequence", "pack_sequence",
           "unpack_sequence"]


def _int_array(x):
    """``x`` (a Tensor on any device, or a sequence) as a host int64 array."""
    if isinstance(x, Tensor):
        return x.numpy(force=True).astype(np.int64, copy=False)
    return np.asarray(x, dtype=np.int64)


def invert_permutation(permutation):
    """The permutation q with q[p[i]] = i (None stays None), on p's device."""
    if permutation is None:
        return None
    p = _int_array(permutation)
    out = np.empty_like(p)
    out[p] = np.arange(p.shape[0], dtype=np.int64)
    return _from_host(out, permutation.device)


_PackedSequenceBase = namedtuple("PackedSequence_",
                                 ["data", "batch_sizes", "sorted_indices", "unsorted_indices"])


class PackedSequence(_PackedSequenceBase):
    """Holds the data and ``batch_sizes`` of a packed batch of sequences.

    Build it with ``pack_padded_sequence`` or ``pack_sequence``, not directly.
    ``sorted_indices`` maps sorted positions to the original batch order
    (None when the input was already sorted); ``unsorted_indices`` inverts it.
    """

    def __new__(cls, data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
        if unsorted_indices is None:
            unsorted_indices = invert_permutation(sorted_indices)
        if batch_sizes is None:      # PackedSequence((data, batch_sizes))
            data, batch_sizes = data[0], data[1]
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def _with_data(self, data):
        """The same sequence with ``data`` replaced; the permutations follow it
        to its device, ``batch_sizes`` stays on the CPU (as torch's)."""
        dev = data.device
        s, u = (None if i is None else i.to(dev) for i in (self.sorted_indices,
                                                          self.unsorted_indices))
        return type(self)(data, self.batch_sizes, s, u)

    def to(self, *args, **kwargs):
        """Like ``Tensor.to`` on ``data`` (the indices keep their dtype)."""
        data = self.data.to(*args, **kwargs)
        return self if data is self.data else self._with_data(data)

    def cpu(self, *args, **kwargs):
        return self.to("cpu")

    def cuda(self, *args, **kwargs):
        return self._with_data(self.data.cuda(*args, **kwargs))

    def double(self):
        return self.to(dtype=_dt("float64"))

    def float(self):
        return self.to(dtype=_dt("float32"))

    def half(self):
        return self.to(dtype=_dt("float16"))

    def long(self):
        return self.to(dtype=_dt("int64"))

    def int(self):
        return self.to(dtype=_dt("int32"))

    def short(self):
        return self.to(dtype=_dt("int16"))

    def char(self):
        return self.to(dtype=_dt("int8"))

    def byte(self):
        return self.to(dtype=_dt("uint8"))

    @property
    def is_cuda(self):
        return self.data.is_cuda

    def is_pinned(self):
        return False


def _dt(name):
    from ... import _dtype as D
    return D.lookup(name)


def _lengths_array(lengths):
    if isinstance(lengths, Tensor):
        return lengths.numpy(force=True).astype(np.int64).reshape(-1)
    return np.asarray(list(lengths), dtype=np.int64).reshape(-1)


def _batch_sizes(lengths):
    """batch_sizes[t] = number of sequences longer than t (lengths sorted decreasing)."""
    T = int(lengths[0]) if lengths.size else 0
    return (lengths[None, :] > np.arange(T)[:, None]).sum(1).astype(np.int64)


def _packed_index(batch_sizes):
    """(time, batch) coordinates of each packed element, in packed order."""
    bs = np.asarray(batch_sizes, dtype=np.int64)
    t = np.repeat(np.arange(bs.shape[0]), bs)
    starts = np.concatenate([[0], np.cumsum(bs)[:-1]])
    b = np.arange(t.shape[0]) - np.repeat(starts, bs)
    return t, b


def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True):
    """Pack a padded batch (T, B, *) (or (B, T, *) with ``batch_first``)
    of sequences with the given ``lengths``.

    With ``enforce_sorted`` the lengths must be decreasing; otherwise the
    batch is sorted here and the permutation kept in the result.
    """
    lens = _lengths_array(lengths)
    if enforce_sorted:
        if lens.size > 1 and (np.diff(lens) > 0).any():
            raise RuntimeError("`lengths` array must be sorted in decreasing order when "
                               "`enforce_sorted` is True. You can pass `enforce_sorted=False` to "
                               "pack_padded_sequence and/or pack_sequence to sidestep this "
                               "requirement if you do not need ONNX exportability.")
        sorted_indices = None
    else:
        order = np.argsort(-lens, kind="stable")
        lens = lens[order]
        sorted_indices = _from_host(order.astype(np.int64), input.device)
        input = input.index_select(0 if batch_first else 1, sorted_indices)
    if lens.size and lens[-1] <= 0:
        raise RuntimeError("Length of all samples has to be greater than 0, but found an element "
                           "in 'lengths' that is <= 0")
    if batch_first:
        input = input.transpose(0, 1)
    if lens.size and lens[0] > input.shape[0]:
        raise RuntimeError(f"Expected sequence length to be larger than or equal to {lens[0]}, "
                           f"but got {input.shape[0]}")
    bs = _batch_sizes(lens)
    t, b = (_from_host(i, input.device) for i in _packed_index(bs))
    return PackedSequence(input[t, b], _wrap(bs), sorted_indices, None)


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    """Inverse of ``pack_padded_sequence``: returns (padded, lengths), padded
    (T, B, *) or (B, T, *), in the original batch order."""
    data, batch_sizes, sorted_indices, unsorted_indices = sequence
    bs = _int_array(batch_sizes)
    T = bs.shape[0]
    B = int(bs[0]) if T else 0
    if total_length is not None:
        if total_length < T:
            raise ValueError(f"Expected total_length to be at least the length of the longest "
                             f"sequence in input, but got total_length={total_length} and max "
                             f"sequence length being {T}")
        T_out = total_length
    else:
        T_out = T
    t, b = _packed_index(bs)
    n = data.shape[0]
    # every padded slot gathers from data, or from one extra row of padding
    pos = np.full((T_out, B), n, dtype=np.int64)
    pos[t, b] = np.arange(n)
    from ... import cat, full
    dev = data.device
    pad_row = full((1,) + tuple(data.shape[1:]), padding_value, dtype=data.dtype, device=dev)
    padded = cat([data, pad_row], 0)[_from_host(pos, dev)]
    lengths = (bs[None, :] > np.arange(B)[:, None]).sum(1).astype(np.int64)
    if unsorted_indices is not None:
        ui = _int_array(unsorted_indices)
        padded = padded.index_select(1, _from_host(ui, dev))
        lengths = lengths[ui]
    if batch_first:
        padded = padded.transpose(0, 1)
    return padded, _wrap(lengths)


def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    """Stack sequences of shapes (L_i, *) into (L_max, B, *) (or (B, L_max, *)),
    filling with ``padding_value`` on the ``padding_side``."""
    from ... import cat, full, stack
    if padding_side not in ("left", "right"):
        raise ValueError(f"Expected padding_side to be one of left or right, but got "
                         f"{padding_side}.")
    if isinstance(sequences, Tensor):
        sequences = sequences.unbind(0)
    sequences = list(sequences)
    if not sequences:
        raise RuntimeError("received an empty list of sequences")
    L = max(s.shape[0] for s in sequences)
    rows = []
    for s in sequences:
        k = L - s.shape[0]
        if k:
            pad = full((k,) + tuple(s.shape[1:]), padding_value, dtype=s.dtype, device=s.device)
            s = cat([s, pad] if padding_side == "right" else [pad, s], 0)
        rows.append(s)
    return stack(rows, 0 if batch_first else 1)


def unpad_sequence(padded_sequences, lengths, batch_first=False):
    """Split a padded batch back into a list of sequences of ``lengths``."""
    x = padded_sequences if batch_first else padded_sequences.transpose(0, 1)
    lens = _lengths_array(lengths)
    return [x[i, :int(n)] for i, n in enumerate(lens)]


def pack_sequence(sequences, enforce_sorted=True):
    """Pack a list of sequences (L_i, *) (decreasing lengths unless
    ``enforce_sorted=False``)."""
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths,
                                enforce_sorted=enforce_sorted)


def unpack_sequence(packed_sequences):
    """The list of sequences in a PackedSequence, in the original order."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)
