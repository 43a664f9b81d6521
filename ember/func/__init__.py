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
           "functional_call", "stack_module_state", "linearize", "functionalize"]
