"""torch.nn.DataParallel.  It splits each batch over the visible GPUs; Ember
has none (as a CPU-only torch build), so, as torch does then, it runs the
wrapped module as it is.  It keeps torch's shape: the module is its child
``module``, so state-dict keys start with ``module.``."""
from ..modules.module import Module


class DataParallel(Module):
    """``DataParallel(module, device_ids=None, output_device=None, dim=0)``:
    ``forward`` calls ``module`` (no accelerator to scatter over)."""

    def __init__(self, module, device_ids=None, output_device=None, dim=0):
        super().__init__()
        if device_ids:
            raise RuntimeError("DataParallel: no accelerator is available (Ember runs on the "
                               f"CPU), so device_ids={list(device_ids)} cannot be used")
        self.module = module
        self.device_ids = []
        self.output_device = output_device
        self.dim = dim

    def forward(self, *inputs, **kwargs):
        return self.module(*inputs, **kwargs)


def data_parallel(module, inputs, device_ids=None, output_device=None, dim=0,
                  module_kwargs=None):
    """The functional form of ``DataParallel``.  Unlike the module it does not
    fall back to a plain call without an accelerator: it raises torch's
    RuntimeError, as a CPU-only torch build does (programs call it only when
    their input is on a GPU)."""
    raise RuntimeError("device type could not be determined")
