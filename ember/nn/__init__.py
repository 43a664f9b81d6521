"""ember.nn: layers, the Module system, functional ops, init and utilities,
with torch.nn's names and behaviour."""
from .parameter import Parameter, Buffer, UninitializedParameter, UninitializedBuffer  # noqa: F401
from .modules import *  # noqa: F401,F403
from . import modules  # noqa: F401
from . import functional  # noqa: F401
from . import init  # noqa: F401
from . import utils  # noqa: F401
from . import parameter  # noqa: F401
from .llm import *  # noqa: F401,F403  (rotary embeddings, GQA, KV cache, SwiGLU)
from .modules.sync_batchnorm import SyncBatchNorm  # noqa: F401
from . import parallel  # noqa: F401  (DistributedDataParallel)
from .parallel import DataParallel  # noqa: F401

