"""torch's checkpoint formats (``torch.save``'s ``.pt`` files), read safely and written
without torch.

Reading is what ``torch.load(f, weights_only=True)`` does, and nothing more: the
pickle inside a checkpoint is run by a restricted unpickler whose ``find_class``
knows a fixed list of torch's names (the tensor and parameter rebuild functions, the
storage types, dtypes, ``torch.Size``, ``torch.device``, ``OrderedDict``, ``set`` ...)
and refuses every other global with ``pickle.UnpicklingError`` naming it.  What it
returns for those names are Ember's own small callables, never the real objects, so
a malicious ``__reduce__`` (``os.system``, ``builtins.exec``) can never be called.
Unpickling yields placeholders (tuples); ``_Resolver`` then turns them into Ember
tensors, dtypes, devices.  The placeholders are immutable and have no ``__dict__``,
so a crafted ``BUILD`` opcode cannot change them (nor Ember's dtype singletons).

Two container layouts are read:

* zip (torch >= 1.6): ``<name>/data.pkl`` is the pickle, ``<name>/data/<key>`` the
  raw bytes of each storage, ``<name>/byteorder`` their byte order.
* legacy (``_use_new_zipfile_serialization=False``): one stream of pickles (a magic
  number, the protocol version, system info, the object, the storage keys), then each
  storage as an int64 element count and its raw bytes.

A tensor is ``(storage, offset, size, stride)``; tensors over one storage become
NumPy views of one buffer, so they share memory after loading as they did in torch.

Writing (``ember.save(obj, f, format="torch")``) emits the zip layout with a pickle
built opcode by opcode here (so torch need not be installed): tensors as
``torch._utils._rebuild_tensor_v2`` over ``torch.<Type>Storage`` persistent ids, views
of one Ember buffer over one storage.

Files: ``_dtypes.py`` (the storage and dtype tables both directions share),
``reader.py`` (unpickler, placeholders, resolver, map_location, both containers),
``writer.py`` (the pickle writer and the zip records).
"""
from .reader import load_zip, load_legacy  # noqa: F401
from .writer import encode, write_zip  # noqa: F401
