"""AdaptiveLogSoftmaxWithLoss: the efficient softmax of Grave et al. (2017)
for large vocabularies.

The classes are split at ``cutoffs``: the frequent ones (the shortlist) and
one token per rarer cluster make up the head; each cluster has its own small
tail classifier (a projection to ``in_features / div_value^(i+1)`` then to
the cluster's classes).  log p(class) is the head's log-probability for a
shortlist class, else the head's for its cluster plus the tail's within it.
"""
from collections import namedtuple

from .. import functional as F
from .container import ModuleList, Sequential
from .linear import Linear
from .module import Module

__all__ = ["AdaptiveLogSoftmaxWithLoss"]

_ASMoutput = namedtuple("_ASMoutput", ["output", "loss"])


class AdaptiveLogSoftmaxWithLoss(Module):
    """``forward(input (B, in_features) or (in_features,), target (B,) or ())``
    -> (output: each target's log-probability, loss: their negated mean)."""

    def __init__(self, in_features, n_classes, cutoffs, div_value=4.0, head_bias=False,
                 device=None, dtype=None):
        super().__init__()
        cutoffs = list(cutoffs)
        if len(cutoffs) == 0:
            raise ValueError("cutoffs should be a sequence of length larger than 0")
        if (cutoffs != sorted(cutoffs) or min(cutoffs) <= 0 or max(cutoffs) > n_classes - 1
                or len(set(cutoffs)) != len(cutoffs) or any(int(c) != c for c in cutoffs)):
            raise ValueError("cutoffs should be a sequence of unique, positive integers sorted "
                             "in an increasing order, where each value is between 1 and "
                             "n_classes-1")
        self.in_features = in_features
        self.n_classes = n_classes
        self.cutoffs = cutoffs + [n_classes]
        self.div_value = div_value
        self.head_bias = head_bias
        self.shortlist_size = self.cutoffs[0]
        self.n_clusters = len(self.cutoffs) - 1
        self.head_size = self.shortlist_size + self.n_clusters
        kw = dict(device=device, dtype=dtype)
        self.head = Linear(in_features, self.head_size, bias=head_bias, **kw)
        self.tail = ModuleList()
        for i in range(self.n_clusters):
            hidden = int(in_features // (div_value ** (i + 1)))
            size = self.cutoffs[i + 1] - self.cutoffs[i]
            self.tail.append(Sequential(Linear(in_features, hidden, bias=False, **kw),
                                        Linear(hidden, size, bias=False, **kw)))

    def reset_parameters(self):
        self.head.reset_parameters()
        for proj, out in self.tail:
            proj.reset_parameters()
            out.reset_parameters()

    def forward(self, input_, target_):
        tdim = target_.dim()
        if tdim == 1:
            if input_.size(0) != target_.size(0):
                raise RuntimeError("Input and target should have the same size in the batch "
                                   "dimension.")
            if input_.dim() != 2:
                raise RuntimeError("1D target tensor expects 2D input tensors, but found inputs "
                                   f"with size {input_.size()}")
        elif tdim == 0:
            if input_.dim() != 1:
                raise RuntimeError("0D target tensor expects 1D input tensors, but found inputs "
                                   f"with size {input_.size()}")
        else:
            raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
        batched = tdim > 0
        x = input_ if batched else input_.unsqueeze(0)
        target = target_ if batched else target_.unsqueeze(0)
        if target.numel() and (int(target.min()) < 0 or int(target.max()) >= self.n_classes):
            raise RuntimeError(f"Target values should be in [0, {self.n_classes - 1}], but values "
                               f"in range [{int(target.min())}, {int(target.max())}] were found. ")
        head_lp = F.log_softmax(self.head(x), dim=1)
        # each row's head column: its class in the shortlist, else its cluster's token
        col = target.clone()
        output = x.new_zeros(target.shape[0])
        for i in range(self.n_clusters):
            lo, hi = self.cutoffs[i], self.cutoffs[i + 1]
            inside = (target >= lo) & (target < hi)
            rows = inside.nonzero().reshape(-1)
            if rows.numel() == 0:
                continue
            col = col.masked_fill(inside, self.shortlist_size + i)
            tail_lp = F.log_softmax(self.tail[i](x.index_select(0, rows)), dim=1)
            picked = tail_lp.gather(1, (target.index_select(0, rows) - lo).unsqueeze(1))
            output = output.index_add(0, rows, picked.squeeze(1))
        output = output + head_lp.gather(1, col.unsqueeze(1)).squeeze(1)
        loss = (-output).mean()
        return _ASMoutput(output if batched else output.squeeze(0), loss)

    def _full_log_prob(self, x, head_out):
        from ...ops.shape import cat
        head_lp = F.log_softmax(head_out, dim=1)
        parts = [head_lp[:, :self.shortlist_size]]
        for i in range(self.n_clusters):
            tail_lp = F.log_softmax(self.tail[i](x), dim=1)
            parts.append(tail_lp + head_lp[:, self.shortlist_size + i].unsqueeze(1))
        return cat(parts, 1)

    def log_prob(self, input):
        """log p(class) for every class: (B, n_classes) or (n_classes,)."""
        x = input if input.dim() == 2 else input.unsqueeze(0)
        out = self._full_log_prob(x, self.head(x))
        return out if input.dim() == 2 else out.squeeze(0)

    def predict(self, input):
        """The most likely class per row (the argmax of ``log_prob``)."""
        x = input if input.dim() == 2 else input.unsqueeze(0)
        out = self._full_log_prob(x, self.head(x)).argmax(dim=1)
        return out if input.dim() == 2 else out.squeeze(0)
