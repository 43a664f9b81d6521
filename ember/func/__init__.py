"""ember.func: torch.func's composable transforms.

``grad``, ``grad_and_value``, ``vjp``, ``jvp``, ``jacrev``, ``jacfwd``,
``hessian`` (in _autodiff.py, on Ember's autograd engine), ``vmap``
(_vmap.py: one batched call where Ember can prove it safe, else a loop over
examples) and ``functional_call`` (ember/nn/utils/_functional_call.py).  They compose:
``vmap(grad(loss), in_dims=(None, 0, 0))(params, x, y)`` gives per-example
gradients.
"""
from ._autodiff import grad, grad_and_value, vjp, jvp, jacrev, jacfwd, hessian
from ._vmap import vmap
from ..nn.utils._functional_call import functional_call
from ._module_state import stack_module_state, linearize, functionalize

__all__ = ["grad", "grad_and_value", "vjp", "jvp", "jacrev", "jacfwd", "hessian", "vmap",
           "functional_call", "stack_module_state", "linearize", "functionalize",
           "replace_all_batch_norm_modules_"]


def replace_all_batch_norm_modules_(root):
    """Make every batch norm in ``root`` use batch statistics only: running
    statistics None and ``track_running_stats`` False (so vmap over a model
    with batch norm has no shared state to update).  In place; returns root."""
    from ..nn.modules.batchnorm import _BatchNorm
    for m in root.modules():
        if isinstance(m, _BatchNorm):
            m.running_mean = None
            m.running_var = None
            m.num_batches_tracked = None
            m.track_running_stats = False
    return root
