"""What runs inside a DataLoader worker process, and what it reports back.

Protocol (one worker): the main process puts ``(task_idx, index)`` on the
worker's index queue; the worker fetches and collates that batch and sends
``(task_idx, batch)`` back over its own one-way pipe (``batch`` may be an
``ExceptionWrapper`` or, for iterable datasets, ``_IterableDatasetStopIteration``).
Every task gets exactly one reply, in the order the worker received them.
``_ResumeIteration`` (persistent workers) restarts the dataset iterator and is
acknowledged with ``(_ResumeIteration, None)``; ``None`` asks the worker to exit.
"""
import os
import pickle
import queue
import random
import sys
import traceback

import numpy as np

from ..._tensor import Tensor

from ..._tensor_base import _wrap
from ...autograd.grad_mode import state as _gm

# How often (seconds) the main process's blocked waits wake up to check that
# the workers are alive, and idle workers wake up to check for shutdown.
_POLL = 1.0
_WORKER_POLL = 0.25

_worker_info = None


class WorkerInfo:
    """What ``get_worker_info()`` returns inside a worker: ``id``,
    ``num_workers``, ``seed`` (the worker's seed for ember/random/NumPy) and
    ``dataset`` (this worker's own copy).  Read-only."""

    __initialized = False

    def __init__(self, **kwargs):
        for k, v in kwargs.items():
            setattr(self, k, v)
        self.__keys = tuple(kwargs.keys())
        self.__initialized = True

    def __setattr__(self, key, val):
        if self.__initialized:
            raise RuntimeError(f"Cannot assign attributes to {self.__class__.__name__} objects")
        return super().__setattr__(key, val)

    def __repr__(self):
        items = ", ".join(f"{k}={getattr(self, k)}" for k in self.__keys)
        return f"{self.__class__.__name__}({items})"


def get_worker_info():
    """The current worker's ``WorkerInfo`` inside a DataLoader worker, else None.

    An ``IterableDataset`` uses it to shard itself: ``info.id`` of
    ``info.num_workers``."""
    return _worker_info


class _KeyErrorMessage(str):
    """KeyError repr()s its message; this keeps the traceback's newlines readable."""

    def __repr__(self):
        return self


class ExceptionWrapper:
    """An exception caught in a worker, carried to the main process as its
    type and formatted traceback, and re-raised there by ``reraise``."""

    def __init__(self, exc_info=None, where="in background"):
        if exc_info is None:
            exc_info = sys.exc_info()
        self.exc_type = exc_info[0]
        self.exc_msg = "".join(traceback.format_exception(*exc_info))
        self.where = where
        try:  # the type travels by reference; a local class cannot
            pickle.dumps(self.exc_type)
        except Exception:
            self.exc_type = RuntimeError

    def reraise(self):
        msg = f"Caught {self.exc_type.__name__} {self.where}.\nOriginal {self.exc_msg}"
        if self.exc_type is KeyError:
            msg = _KeyErrorMessage(msg)
        try:
            exc = self.exc_type(msg)
        except Exception:
            # the type wants other constructor arguments
            raise RuntimeError(msg) from None
        try:
            raise exc
        finally:
            # No frame -> exception -> traceback -> frame cycle: the failing
            # DataLoader iterator is freed (and its workers stopped) promptly.
            del exc


class _IterableDatasetStopIteration:
    """Reply of a worker whose IterableDataset iterator is exhausted."""

    def __init__(self, worker_id):
        self.worker_id = worker_id


class _ResumeIteration:
    """Persistent workers: start a new epoch (fresh dataset iterator)."""


# ---- fetchers: index (or batch of indices) -> collated data -----------------------------

class _MapDatasetFetcher:
    def __init__(self, dataset, auto_collation, collate_fn, drop_last):
        self.dataset = dataset
        self.auto_collation = auto_collation
        self.collate_fn = collate_fn
        self.drop_last = drop_last
        self._fast = auto_collation and _fast_tensor_dataset(dataset, collate_fn)

    def fetch(self, index):
        if self.auto_collation:
            if self._fast and not (_gm.enabled and any(t.requires_grad
                                                       for t in self.dataset.tensors)):
                # TensorDataset + default_collate: one fancy index per tensor gives
                # exactly the stacked samples, without a Python loop per sample.
                idx = np.asarray(index, dtype=np.intp)
                return [_wrap(t._data[idx]) for t in self.dataset.tensors]
            getitems = getattr(self.dataset, "__getitems__", None)
            if getitems:
                data = getitems(index)
            else:
                data = [self.dataset[i] for i in index]
        else:
            data = self.dataset[index]
        return self.collate_fn(data)


def _fast_tensor_dataset(dataset, collate_fn):
    from .dataset import TensorDataset
    from ._collate import default_collate
    return (type(dataset) is TensorDataset and collate_fn is default_collate
            and len(dataset.tensors) > 0 and all(type(t) is Tensor for t in dataset.tensors))


class _IterableDatasetFetcher:
    def __init__(self, dataset, auto_collation, collate_fn, drop_last):
        self.dataset_iter = iter(dataset)
        self.auto_collation = auto_collation
        self.collate_fn = collate_fn
        self.drop_last = drop_last
        self.ended = False

    def fetch(self, index):
        if self.ended:
            raise StopIteration
        if self.auto_collation:
            data = []
            for _ in index:
                try:
                    data.append(next(self.dataset_iter))
                except StopIteration:
                    self.ended = True
                    break
            if not data or (self.drop_last and len(data) < len(index)):
                raise StopIteration
        else:
            data = next(self.dataset_iter)
        return self.collate_fn(data)


def _make_fetcher(iterable, dataset, auto_collation, collate_fn, drop_last):
    cls = _IterableDatasetFetcher if iterable else _MapDatasetFetcher
    return cls(dataset, auto_collation, collate_fn, drop_last)


# ---- the worker process ------------------------------------------------------------------

def _seed_worker(seed, base_seed, worker_id):
    """Seed Python's, NumPy's global and ember's generators, as torch does."""
    from ... import random as _random
    random.seed(seed)
    _random.manual_seed(seed)
    # NumPy's legacy seeding takes 32-bit words; mix worker id and base seed.
    mask = 0xFFFF_FFFF
    entropy = [worker_id, base_seed & mask, (base_seed >> 32) & mask, 0]
    np.random.seed(np.random.SeedSequence(entropy).generate_state(4))


def _send(conn, idx, data, worker_id):
    """Send one reply; False when the main process has gone away."""
    try:
        conn.send((idx, data))
    except (BrokenPipeError, ConnectionError, EOFError, OSError):
        return False
    except Exception:  # the batch could not be pickled: report that instead
        wrapped = ExceptionWrapper(where=f"in DataLoader worker process {worker_id}")
        try:
            conn.send((idx, wrapped))
        except Exception:
            return False
    return True


def _worker_loop(iterable, dataset, index_queue, result_conn, done_event, auto_collation,
                 collate_fn, drop_last, base_seed, init_fn, worker_id, num_workers):
    global _worker_info
    parent = os.getppid()
    try:
        seed = base_seed + worker_id
        _seed_worker(seed, base_seed, worker_id)
        _worker_info = WorkerInfo(id=worker_id, num_workers=num_workers, seed=seed,
                                  dataset=dataset)
        where = f"in DataLoader worker process {worker_id}"
        init_error = fetcher = None
        try:
            if init_fn is not None:
                init_fn(worker_id)
            fetcher = _make_fetcher(iterable, dataset, auto_collation, collate_fn, drop_last)
        except Exception:
            init_error = ExceptionWrapper(where=where)
        exhausted = False
        while True:
            if os.getppid() != parent:  # the main process died: nobody to serve
                break
            try:
                task = index_queue.get(timeout=_WORKER_POLL)
            except queue.Empty:
                if done_event.is_set():
                    break  # shutting down, and the final None may never come
                continue
            if task is None:
                break
            if isinstance(task, _ResumeIteration):
                exhausted = False
                try:
                    fetcher = _make_fetcher(iterable, dataset, auto_collation, collate_fn,
                                            drop_last)
                except Exception:
                    init_error = ExceptionWrapper(where=where)
                if not _send(result_conn, task, None, worker_id):
                    break
                continue
            if done_event.is_set():
                continue  # shutting down: skip work, wait for None
            idx, index = task
            if exhausted:
                data = _IterableDatasetStopIteration(worker_id)
            elif init_error is not None:
                data, init_error = init_error, None
            else:
                try:
                    data = fetcher.fetch(index)
                except StopIteration:
                    if not iterable:
                        data = ExceptionWrapper(where=where)
                    else:
                        data = _IterableDatasetStopIteration(worker_id)
                        exhausted = True
                except Exception:
                    data = ExceptionWrapper(where=where)
            if not _send(result_conn, idx, data, worker_id):
                break
            del data, task, index
    except KeyboardInterrupt:
        pass  # the main process gets its own KeyboardInterrupt
    finally:
        try:
            result_conn.close()
        except Exception:
            pass
