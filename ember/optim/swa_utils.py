"""Weight averaging, as torch.optim.swa_utils: SWA and EMA of a model's weights.

``AveragedModel(model)`` keeps a copy of ``model`` whose parameters are a
running average of ``model``'s, updated by ``update_parameters(model)``:
by default the equal-weight average of every update (SWA), or an
exponential moving average with ``multi_avg_fn=get_ema_multi_avg_fn(decay)``.
``SWALR`` anneals each group's lr to a constant ``swa_lr``; ``update_bn``
recomputes batch-norm statistics for the averaged weights with one pass
over the data.
"""
import itertools
import math
import warnings
from copy import deepcopy

import numpy as np

from .._tensor import Tensor
from .._creation import tensor
from .. import _dtype as D
from ..autograd.grad_mode import no_grad
from ..backends import namespace
from ..backends.generic.optim import lerp_
from ..nn.modules.module import Module
from ..nn.modules.batchnorm import _BatchNorm
from .lr_scheduler import LRScheduler, _format_param

__all__ = ["AveragedModel", "update_bn", "SWALR", "get_ema_multi_avg_fn",
           "get_swa_multi_avg_fn", "get_ema_avg_fn", "get_swa_avg_fn"]


def _check_decay(decay):
    if decay < 0.0 or decay > 1.0:
        raise ValueError(f"Invalid decay value {decay} provided. Please provide a value in "
                         "[0,1] range.")


def _set_(t, values):
    """Overwrite tensor ``t``'s values in place with array ``values`` (cast to t's dtype)."""
    t._data[...] = values
    t._vc[0] += 1


def get_ema_multi_avg_fn(decay=0.999):
    """An EMA update for lists of tensors: ``ema = lerp(ema, current, 1 - decay)``
    in place (integer tensors: ``ema * decay + current * (1 - decay)``, truncated)."""
    _check_decay(decay)

    def ema_update(ema_param_list, current_param_list, _):
        if ema_param_list[0].is_floating_point():
            for e, c in zip(ema_param_list, current_param_list):
                d = e._data
                lerp_(namespace(d), d, c._data, 1 - decay, namespace(d).empty_like(d))
                e._vc[0] += 1
        else:
            for e, c in zip(ema_param_list, current_param_list):
                _set_(e, e._data * decay + c._data * (1 - decay))
    return ema_update


def get_swa_multi_avg_fn():
    """An SWA update for lists of tensors: ``avg = lerp(avg, current, 1 / (n + 1))``
    in place, ``n`` the number of models averaged so far."""

    def swa_update(averaged_param_list, current_param_list, num_averaged):
        n = float(num_averaged)
        # torch's weight 1 / (n + 1) is a float32 tensor when n is an (int64) tensor
        w = float(np.float32(1 / (n + 1))) if isinstance(num_averaged, Tensor) else 1 / (n + 1)
        if averaged_param_list[0].is_floating_point():
            for a, c in zip(averaged_param_list, current_param_list):
                d = a._data
                lerp_(namespace(d), d, c._data, w, namespace(d).empty_like(d))
                a._vc[0] += 1
        else:
            if isinstance(num_averaged, Tensor):
                # torch's addcdiv_ refuses integer tensors
                raise RuntimeError("Integer division with addcdiv is no longer supported, and "
                                   "in a future release addcdiv will perform a true division of "
                                   "tensor1 and tensor2. The historic addcdiv behavior can be "
                                   "implemented as (input + value * torch.trunc(tensor1 / "
                                   "tensor2)).to(input.dtype) for integer inputs and as (input + "
                                   "value * tensor1 / tensor2) for float inputs. The future "
                                   "addcdiv behavior is just the latter implementation: (input + "
                                   "value * tensor1 / tensor2), for all dtypes.")
            for a, c in zip(averaged_param_list, current_param_list):
                _set_(a, a._data + (c._data - a._data) * (1.0 / (n + 1)))
    return swa_update


def get_ema_avg_fn(decay=0.999):
    """An EMA update for one tensor: returns ``decay * ema + (1 - decay) * current``."""
    _check_decay(decay)

    def ema_update(ema_param, current_param, num_averaged):
        with no_grad():
            return decay * ema_param + (1 - decay) * current_param
    return ema_update


def get_swa_avg_fn():
    """An SWA update for one tensor: returns ``avg + (current - avg) / (n + 1)``."""

    def swa_update(averaged_param, current_param, num_averaged):
        with no_grad():
            return averaged_param + (current_param - averaged_param) / (num_averaged + 1)
    return swa_update


class AveragedModel(Module):
    """A deep copy of ``model`` whose parameters average ``model``'s over the
    calls of ``update_parameters(model)``.

    Args:
        model: the model to average.
        device: where the copy lives (default: where ``model`` is).
        avg_fn: ``avg_fn(averaged, current, n_averaged) -> new averaged``, per tensor.
        multi_avg_fn: ``multi_avg_fn(averaged_list, current_list, n_averaged)``,
            updating the lists in place (e.g. ``get_ema_multi_avg_fn(0.999)``).
        use_buffers: average the buffers too (else they are copied from ``model``).

    Without either function the average is SWA's equal-weight mean.  The
    first update copies ``model``'s values; ``n_averaged`` (an int64 buffer)
    counts the updates.
    """

    def __init__(self, model, device=None, avg_fn=None, multi_avg_fn=None, use_buffers=False):
        super().__init__()
        if avg_fn is not None and multi_avg_fn is not None:
            raise AssertionError("Only one of avg_fn and multi_avg_fn should be provided")
        self.module = deepcopy(model)
        if device is not None:
            self.module = self.module.to(device)
        self.register_buffer("n_averaged", tensor(0, dtype=D.int64, device=device))
        self.avg_fn = avg_fn
        self.multi_avg_fn = multi_avg_fn
        self.use_buffers = use_buffers

    def forward(self, *args, **kwargs):
        """Run the averaged copy of the model."""
        return self.module(*args, **kwargs)

    def _tensors(self, model, mine):
        if self.use_buffers:
            return list(itertools.chain(model.parameters(), model.buffers()))
        return list(self.parameters() if mine else model.parameters())

    def update_parameters(self, model):
        """Fold ``model``'s current parameters (and buffers, with ``use_buffers``) into
        the average."""
        averaged = [p.detach() for p in self._tensors(self.module, True)]
        current = [p.detach().to(a.device) for a, p in
                   zip(averaged, self._tensors(model, False))]
        n = int(self.n_averaged.item())
        if n == 0:
            for a, c in zip(averaged, current):
                _set_(a, c._data)
        else:
            if self.avg_fn is None and self.multi_avg_fn is None:
                # the equal-weight mean, per tensor (torch's formula on the CPU; an
                # integer buffer gets the float result truncated)
                for a, c in zip(averaged, current):
                    _set_(a, a._data + (c._data - a._data) / (n + 1))
            elif self.avg_fn is None:
                multi = self.multi_avg_fn
                # one call per (device, dtype) group, as torch groups them
                groups = {}
                for a, c in zip(averaged, current):
                    groups.setdefault((str(a.device), a.dtype), ([], []))
                    groups[(str(a.device), a.dtype)][0].append(a)
                    groups[(str(a.device), a.dtype)][1].append(c)
                for (dev, _), (alist, clist) in groups.items():
                    multi(alist, clist, self.n_averaged.to(dev))
            else:
                for a, c in zip(averaged, current):
                    new = self.avg_fn(a, c, self.n_averaged.to(a.device))
                    _set_(a, new._data if isinstance(new, Tensor) else new)
        if not self.use_buffers:
            # the buffers (batch-norm statistics) follow the model
            for b_avg, b_model in zip(self.module.buffers(), model.buffers()):
                _set_(b_avg, b_model.detach().to(b_avg.device)._data)
        _set_(self.n_averaged, self.n_averaged._data + 1)


def update_bn(loader, model, device=None):
    """Recompute the running statistics of every batch norm in ``model`` with one
    pass over ``loader`` (batches, or tuples whose first item is the input),
    as a cumulative average over the batches; ``model``'s train/eval mode and
    the layers' momenta are restored afterwards."""
    momenta = {}
    for module in model.modules():
        if isinstance(module, _BatchNorm):
            module.reset_running_stats()
            momenta[module] = module.momentum
    if not momenta:
        return
    was_training = model.training
    model.train()
    for module in momenta:
        module.momentum = None
    with no_grad():
        for input in loader:
            if isinstance(input, (list, tuple)):
                input = input[0]
            if device is not None:
                input = input.to(device)
            model(input)
    for module, momentum in momenta.items():
        module.momentum = momentum
    model.train(was_training)


class SWALR(LRScheduler):
    """Anneal each group's lr from its current value to ``swa_lr`` over
    ``anneal_epochs`` epochs (``'cos'`` or ``'linear'``), then hold it there.

    Args:
        optimizer: the wrapped optimizer.
        swa_lr: the target lr, or one per param group.
        anneal_epochs: epochs of annealing (an int >= 0; default 10).
        anneal_strategy: ``'cos'`` (default) or ``'linear'``.
        last_epoch: as for every scheduler.
    """

    def __init__(self, optimizer, swa_lr, anneal_epochs=10, anneal_strategy="cos",
                 last_epoch=-1):
        swa_lrs = _format_param("swa_lr", optimizer, swa_lr)
        for lr, group in zip(swa_lrs, optimizer.param_groups):
            group["swa_lr"] = lr
        if anneal_strategy not in ["cos", "linear"]:
            raise ValueError("anneal_strategy must be one of 'cos' or 'linear', instead got "
                             f"{anneal_strategy}")
        self._set_anneal_func(anneal_strategy)
        if not isinstance(anneal_epochs, int) or anneal_epochs < 0:
            raise ValueError(f"anneal_epochs must be equal or greater than 0, got {anneal_epochs}")
        self.anneal_epochs = anneal_epochs
        super().__init__(optimizer, last_epoch)

    @staticmethod
    def _linear_anneal(t):
        return t

    @staticmethod
    def _cosine_anneal(t):
        return (1 - math.cos(math.pi * t)) / 2

    @staticmethod
    def _get_initial_lr(lr, swa_lr, alpha):
        """The lr the annealing started from, given the lr reached at fraction alpha."""
        if alpha == 1:
            return swa_lr
        return (lr - alpha * swa_lr) / (1 - alpha)

    def _set_anneal_func(self, anneal_strategy):
        self._anneal_strategy = anneal_strategy
        self.anneal_func = (self._cosine_anneal if anneal_strategy == "cos"
                            else self._linear_anneal)

    def get_lr(self):
        """The next lrs: ``swa_lr * alpha + start * (1 - alpha)`` with ``alpha`` the
        annealed fraction of this epoch and ``start`` recovered from the current lr
        (so that the schedule composes with changes made by others)."""
        if not self._get_lr_called_within_step:
            warnings.warn("To get the last learning rate computed by the scheduler, please use "
                          "`get_last_lr()`.", UserWarning, stacklevel=2)
        step = self._step_count - 1
        if self.anneal_epochs == 0:
            step = max(1, step)
        prev_t = max(0, min(1, (step - 1) / max(1, self.anneal_epochs)))
        prev_alpha = self.anneal_func(prev_t)
        starts = [self._get_initial_lr(group["lr"], group["swa_lr"], prev_alpha)
                  for group in self.optimizer.param_groups]
        t = max(0, min(1, step / max(1, self.anneal_epochs)))
        alpha = self.anneal_func(t)
        return [group["swa_lr"] * alpha + lr * (1 - alpha)
                for group, lr in zip(self.optimizer.param_groups, starts)]

    def state_dict(self):
        """Every attribute except the optimizer and the annealing function."""
        return {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "anneal_func")}

    def load_state_dict(self, state_dict):
        self.__dict__.update(state_dict)
        self._set_anneal_func(self._anneal_strategy)
