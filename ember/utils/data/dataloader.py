"""DataLoader (torch.utils.data.DataLoader): batches from a dataset, in the
main process or in worker processes.

With ``num_workers > 0`` the loader starts real worker processes (the fork
start method on Linux, like torch).  The main process hands each worker
batches of indices round-robin, keeps at most ``prefetch_factor`` batches
per worker in flight, and yields the collated batches in sampler order
(``in_order=True``) whichever worker finishes first.  A worker's exception
is re-raised in the main process naming the worker; a worker that dies, or
a wait longer than ``timeout``, raises RuntimeError.  Workers are shut down
when an epoch ends (unless ``persistent_workers``), when the iterator is
garbage collected, and at interpreter exit.
"""
import atexit
import math
import multiprocessing
import multiprocessing.connection as _mpc
import os
import sys
import time
import warnings
import weakref

from . import _worker
from ._collate import default_collate, default_convert  # noqa: F401  (torch re-exports them here)
from ._worker import (ExceptionWrapper, get_worker_info, _IterableDatasetStopIteration,  # noqa: F401
                      _ResumeIteration, _make_fetcher, _worker_loop)
from .dataset import IterableDataset
from .sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler, _draw_seed

__all__ = ["DataLoader", "get_worker_info", "default_collate", "default_convert"]


class _DatasetKind:
    Map = 0
    Iterable = 1


class _InfiniteConstantSampler(Sampler):
    """``None`` forever: the 'indices' of an IterableDataset."""

    def __iter__(self):
        while True:
            yield None


def _default_context():
    # Fork on Linux, as torch does there: workers inherit the dataset without
    # pickling it (lambdas and local classes work).
    if sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context()


class DataLoader:
    """Iterate over ``dataset`` in batches.

    Arguments are torch's: ``batch_size`` (None turns batching off),
    ``shuffle`` / ``sampler`` / ``batch_sampler`` (mutually exclusive as in
    torch), ``num_workers`` worker processes, ``collate_fn`` (default:
    ``default_collate``, or ``default_convert`` without batching),
    ``drop_last``, ``timeout`` (seconds to wait for a worker's batch, 0 =
    forever), ``worker_init_fn(worker_id)``, ``multiprocessing_context``,
    ``generator`` (an ``ember.Generator`` for shuffling and worker seeds),
    ``prefetch_factor`` (batches in flight per worker, default 2),
    ``persistent_workers`` (keep workers between epochs) and ``in_order``.
    ``pin_memory`` is accepted and has no effect (Ember runs on the CPU).
    """

    __initialized = False

    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None,
                 num_workers=0, collate_fn=None, pin_memory=False, drop_last=False, timeout=0,
                 worker_init_fn=None, multiprocessing_context=None, generator=None, *,
                 prefetch_factor=None, persistent_workers=False, pin_memory_device="",
                 in_order=True):
        if num_workers < 0:
            raise ValueError("num_workers option should be non-negative; "
                             "use num_workers=0 to disable multiprocessing.")
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError("prefetch_factor option could only be specified in multiprocessing."
                             "let num_workers > 0 to enable multiprocessing, otherwise set "
                             "prefetch_factor to None.")
        elif num_workers > 0 and prefetch_factor is None:
            prefetch_factor = 2
        elif prefetch_factor is not None and prefetch_factor < 0:
            raise ValueError("prefetch_factor option should be non-negative")
        if persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers option needs num_workers > 0")

        self.dataset = dataset
        self.num_workers = num_workers
        self.prefetch_factor = prefetch_factor
        self.pin_memory = pin_memory
        self.pin_memory_device = pin_memory_device
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.in_order = in_order

        if isinstance(dataset, IterableDataset):
            self._dataset_kind = _DatasetKind.Iterable
            if shuffle not in {False, None}:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified shuffle "
                                 f"option, but got shuffle={shuffle}")
            if sampler is not None:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified sampler "
                                 f"option, but got sampler={sampler}")
            elif batch_sampler is not None:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified "
                                 f"batch_sampler option, but got batch_sampler={batch_sampler}")
        else:
            shuffle = bool(shuffle)
            self._dataset_kind = _DatasetKind.Map

        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, "
                                 "shuffle, sampler, and drop_last")
            batch_size = None
            drop_last = False
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually "
                             "exclusive with drop_last")

        if sampler is None:
            if self._dataset_kind == _DatasetKind.Iterable:
                sampler = _InfiniteConstantSampler()
            elif shuffle:
                sampler = RandomSampler(dataset, generator=generator)
            else:
                sampler = SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)

        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.generator = generator
        if collate_fn is None:
            collate_fn = default_collate if self._auto_collation else default_convert
        self.collate_fn = collate_fn
        self.persistent_workers = persistent_workers
        self.__initialized = True
        self._IterableDataset_len_called = None
        self._iterator = None
        self.check_worker_number_rationality()

    # ---- configuration -----------------------------------------------------------------
    @property
    def multiprocessing_context(self):
        return self.__multiprocessing_context

    @multiprocessing_context.setter
    def multiprocessing_context(self, ctx):
        if ctx is not None:
            if self.num_workers <= 0:
                raise ValueError("multiprocessing_context can only be used with multi-process "
                                 "loading (num_workers > 0), but got "
                                 f"num_workers={self.num_workers}")
            if isinstance(ctx, str):
                valid = multiprocessing.get_all_start_methods()
                if ctx not in valid:
                    raise ValueError(f"multiprocessing_context option should specify a valid "
                                     f"start method in {valid!r}, but got "
                                     f"multiprocessing_context={ctx!r}")
                ctx = multiprocessing.get_context(ctx)
            if not isinstance(ctx, multiprocessing.context.BaseContext):
                raise TypeError("multiprocessing_context option should be a valid context object "
                                "or a string specifying the start method, but got "
                                f"multiprocessing_context={ctx}")
        self.__multiprocessing_context = ctx

    def __setattr__(self, attr, val):
        if self.__initialized and attr in ("batch_size", "batch_sampler", "sampler", "drop_last",
                                           "dataset", "persistent_workers"):
            raise ValueError(f"{attr} attribute should not be set after "
                             f"{self.__class__.__name__} is initialized")
        super().__setattr__(attr, val)

    @property
    def _auto_collation(self):
        return self.batch_sampler is not None

    @property
    def _index_sampler(self):
        return self.batch_sampler if self._auto_collation else self.sampler

    def check_worker_number_rationality(self):
        if self.num_workers <= 0:
            return
        try:
            cpus = len(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            cpus = os.cpu_count()
        if cpus and self.num_workers > cpus:
            warnings.warn(f"This DataLoader will create {self.num_workers} worker processes in "
                          f"total. Our suggested max number of worker in current system is "
                          f"{cpus}, which is smaller than what this DataLoader is going to "
                          f"create. Please be aware that excessive worker creation might get "
                          f"DataLoader running slow or even freeze, lower the worker number to "
                          f"avoid potential slowness/freeze if necessary.")

    # ---- iteration ---------------------------------------------------------------------
    def _get_iterator(self):
        if self.num_workers == 0:
            return _SingleProcessDataLoaderIter(self)
        return _MultiProcessingDataLoaderIter(self)

    def __iter__(self):
        if self.persistent_workers and self.num_workers > 0:
            if self._iterator is None or self._iterator._shutdown:
                self._iterator = self._get_iterator()
            else:
                self._iterator._reset(self)
            return self._iterator
        return self._get_iterator()

    def __len__(self):
        if self._dataset_kind == _DatasetKind.Iterable:
            length = self._IterableDataset_len_called = len(self.dataset)
            if self.batch_size is not None:
                length = length // self.batch_size if self.drop_last \
                    else math.ceil(length / self.batch_size)
            return length
        return len(self._index_sampler)


class _BaseDataLoaderIter:
    def __init__(self, loader):
        self._dataset = loader.dataset
        self._dataset_kind = loader._dataset_kind
        self._IterableDataset_len_called = loader._IterableDataset_len_called
        self._auto_collation = loader._auto_collation
        self._drop_last = loader.drop_last
        self._index_sampler = loader._index_sampler
        self._num_workers = loader.num_workers
        if loader.pin_memory:
            warnings.warn("'pin_memory' argument is set as true but no accelerator is found, "
                          "then device pinned memory won't be used.", stacklevel=3)
        self._timeout = loader.timeout
        self._collate_fn = loader.collate_fn
        self._sampler_iter = iter(self._index_sampler)
        # One draw per iterator from the loader's generator seeds the workers,
        # as in torch (so it also advances the stream with num_workers=0).
        self._base_seed = _draw_seed(loader.generator)
        self._persistent_workers = loader.persistent_workers
        self._num_yielded = 0

    def __iter__(self):
        return self

    def _reset(self, loader, first_iter=False):
        self._sampler_iter = iter(self._index_sampler)
        self._num_yielded = 0
        self._IterableDataset_len_called = loader._IterableDataset_len_called

    def _next_data(self):
        raise NotImplementedError

    def __next__(self):
        data = self._next_data()
        self._num_yielded += 1
        if (self._dataset_kind == _DatasetKind.Iterable
                and self._IterableDataset_len_called is not None
                and self._num_yielded > self._IterableDataset_len_called):
            msg = (f"Length of IterableDataset {self._dataset} was reported to be "
                   f"{self._IterableDataset_len_called}(when accessing len(dataloader)), but "
                   f"{self._num_yielded} samples have been fetched. ")
            if self._num_workers > 0:
                msg += ("For multiprocessing data-loading, this could be caused by not properly "
                        "configuring the IterableDataset replica at each worker.")
            warnings.warn(msg, stacklevel=2)
        return data

    def __len__(self):
        return len(self._index_sampler)

    def __getstate__(self):
        raise NotImplementedError(f"{self.__class__.__name__} cannot be pickled")


class _SingleProcessDataLoaderIter(_BaseDataLoaderIter):
    def __init__(self, loader):
        super().__init__(loader)
        self._fetcher = _make_fetcher(self._dataset_kind == _DatasetKind.Iterable, self._dataset,
                                      self._auto_collation, self._collate_fn, self._drop_last)

    def _next_data(self):
        index = next(self._sampler_iter)  # StopIteration ends the epoch
        return self._fetcher.fetch(index)


# Seconds a shutting-down worker gets to finish its current batch and exit
# before it is terminated.
_SHUTDOWN_GRACE = 5.0

# Iterators with live workers, shut down at interpreter exit.
_live_iterators = weakref.WeakSet()


@atexit.register
def _shutdown_all_workers():
    for it in list(_live_iterators):
        it._shutdown_workers()


class _MultiProcessingDataLoaderIter(_BaseDataLoaderIter):
    """Workers fetch and collate; this object schedules and reorders.

    Bookkeeping: ``_task_worker`` maps each task (batch) index that was sent
    and not yet yielded to its worker; ``_buffer`` holds replies that arrived
    ahead of their turn.  One task is sent per batch yielded, which keeps
    ``prefetch_factor * num_workers`` batches in flight.
    """

    def __init__(self, loader):
        super().__init__(loader)
        self._shutdown = True  # until the workers exist
        self._owner_pid = os.getpid()
        self._prefetch_factor = loader.prefetch_factor
        self._in_order = loader.in_order
        ctx = loader.multiprocessing_context or _default_context()
        self._done_event = ctx.Event()
        self._index_queues, self._conns, self._workers = [], [], []
        iterable = self._dataset_kind == _DatasetKind.Iterable
        self._shutdown = False
        _live_iterators.add(self)
        for wid in range(self._num_workers):
            index_queue = ctx.Queue()
            # A dead worker must not make interpreter exit wait on this queue.
            index_queue.cancel_join_thread()
            reader, writer = ctx.Pipe(duplex=False)
            w = ctx.Process(target=_worker_loop, name=f"DataLoaderWorker-{wid}",
                            args=(iterable, self._dataset, index_queue, writer, self._done_event,
                                  self._auto_collation, self._collate_fn, self._drop_last,
                                  self._base_seed, loader.worker_init_fn, wid,
                                  self._num_workers))
            w.daemon = True
            w.start()
            # Only the worker may hold the write end, so its death reads as EOF here.
            writer.close()
            self._index_queues.append(index_queue)
            self._conns.append(reader)
            self._workers.append(w)
        self._reset(loader, first_iter=True)

    def _reset(self, loader, first_iter=False):
        super()._reset(loader, first_iter)
        self._send_idx = 0
        self._rcvd_idx = 0
        self._task_worker = {}
        self._buffer = {}
        self._worker_active = [True] * self._num_workers
        self._next_worker = 0
        if not first_iter:
            # Persistent workers: drop what the last epoch left in flight.  Each
            # worker acknowledges the resume request after all its earlier replies.
            for q in self._index_queues:
                q.put(_ResumeIteration())
            pending = self._num_workers
            while pending:
                idx, _ = self._get_data()
                if isinstance(idx, _ResumeIteration):
                    pending -= 1
        for _ in range(max(1, self._prefetch_factor) * self._num_workers):
            if not self._try_put_index():
                break

    def _try_put_index(self):
        """Send the next batch of indices to the next active worker."""
        if len(self._task_worker) >= max(1, self._prefetch_factor) * self._num_workers:
            return False
        for _ in range(self._num_workers):
            wid = self._next_worker
            self._next_worker = (wid + 1) % self._num_workers
            if self._worker_active[wid]:
                break
        else:
            return False  # every worker's iterable is exhausted
        try:
            index = next(self._sampler_iter)
        except StopIteration:
            return False
        self._index_queues[wid].put((self._send_idx, index))
        self._task_worker[self._send_idx] = wid
        self._send_idx += 1
        return True

    def _get_data(self):
        """The next reply from any worker, watching for dead workers and ``timeout``."""
        deadline = time.monotonic() + self._timeout if self._timeout > 0 else None
        while True:
            wait = _worker._POLL if deadline is None else \
                max(0.0, min(_worker._POLL, deadline - time.monotonic()))
            for conn in _mpc.wait(self._conns, timeout=wait):
                try:
                    payload = conn.recv_bytes()
                except (EOFError, OSError):
                    self._workers_died([self._conns.index(conn)])
                from multiprocessing.reduction import ForkingPickler
                return ForkingPickler.loads(payload)
            dead = [i for i, w in enumerate(self._workers) if not w.is_alive()]
            if dead:
                self._workers_died(dead)
            if deadline is not None and time.monotonic() >= deadline:
                raise RuntimeError(f"DataLoader timed out after {self._timeout} seconds")

    def _workers_died(self, wids):
        for w in (self._workers[i] for i in wids):
            w.join(timeout=_worker._POLL)  # let the exit code settle
        pids = ", ".join(str(self._workers[i].pid) for i in wids)
        codes = ", ".join(str(self._workers[i].exitcode) for i in wids)
        self._shutdown_workers()
        raise RuntimeError(f"DataLoader worker (pid(s) {pids}) exited unexpectedly "
                           f"(exit code(s) {codes})")

    def _next_data(self):
        while True:
            if not self._task_worker:
                # nothing in flight: the sampler (or every worker's iterable) is done
                if not self._persistent_workers:
                    self._shutdown_workers()
                raise StopIteration
            if self._in_order:
                idx = self._rcvd_idx if self._rcvd_idx in self._buffer else None
            else:
                idx = next(iter(self._buffer), None)
            if idx is not None:
                data = self._buffer.pop(idx)
                del self._task_worker[idx]
                if self._in_order:
                    self._rcvd_idx += 1
                self._try_put_index()
                if isinstance(data, _IterableDatasetStopIteration):
                    continue
                if isinstance(data, ExceptionWrapper):
                    data.reraise()
                return data
            if self._shutdown:
                raise RuntimeError("DataLoader iterator used after its workers were shut down")
            idx, data = self._get_data()
            wid = self._task_worker.get(idx) if type(idx) is int else None
            if wid is None:
                continue  # a stale acknowledgement
            if isinstance(data, _IterableDatasetStopIteration):
                self._worker_active[wid] = False
            self._buffer[idx] = data

    def _shutdown_workers(self):
        """Stop every worker: ask politely, drain their pipes so none stays
        blocked sending a batch, then terminate any that outlive the grace period."""
        if self._shutdown or os.getpid() != self._owner_pid:
            return  # already done, or a forked copy of this object in a child
        self._shutdown = True
        _live_iterators.discard(self)
        deadline = time.monotonic() + _SHUTDOWN_GRACE
        try:
            # (Under cyclic garbage collection the queues and pipes may already
            # be closed by their own finalizers; each step tolerates that, and
            # workers also exit on their own once done_event is set.)
            self._done_event.set()
            for q in self._index_queues:
                try:
                    q.put(None)
                except Exception:
                    pass
            open_conns = [c for c in self._conns if not c.closed]
            while open_conns and time.monotonic() < deadline:
                try:
                    ready = _mpc.wait(open_conns, timeout=0.1)
                except (OSError, ValueError):
                    break
                for conn in ready:
                    try:
                        conn.recv_bytes()
                    except (EOFError, OSError):
                        open_conns.remove(conn)
                if all(not w.is_alive() for w in self._workers):
                    break
        finally:
            for w in self._workers:
                try:
                    w.join(timeout=max(0.0, deadline - time.monotonic()))
                    if w.is_alive():
                        w.terminate()
                        w.join(timeout=_worker._POLL)
                except Exception:
                    pass
            for conn in self._conns:
                try:
                    conn.close()
                except Exception:
                    pass
            for q in self._index_queues:
                try:
                    q.close()
                except Exception:
                    pass

    def __del__(self):
        try:
            self._shutdown_workers()
        except Exception:
            pass
