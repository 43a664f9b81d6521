"""ember.multiprocessing: ``spawn`` for scripts written around torch.multiprocessing.spawn.

torch's DDP tutorials start their workers with ``mp.spawn(fn, args, nprocs)``
and each worker calls ``init_process_group("gloo", rank=rank,
world_size=nprocs)`` with ``MASTER_ADDR``/``MASTER_PORT`` set by hand.
Ember's collectives run over MPI, so its ``spawn`` starts the workers as the
ranks of one MPI job: it pickles ``fn`` and ``args`` to a temporary file and
runs ``mpiexec -n nprocs``; each rank imports the parent's main script as
``__mp_main__`` (as the ``spawn`` start method does, so the usual ``if
__name__ == "__main__"`` guard keeps it from spawning again), then calls
``fn(rank, *args)``.  A worker that raises ends the job and ``spawn``
raises ``ProcessRaisedException`` with its traceback, as torch does.
(MPI's dynamic process management, MPI_Comm_spawn, was the alternative; a
fresh ``mpiexec`` is what works the same with every MPICH setup.)

Everything else is Python's ``multiprocessing``, re-exported.
"""
import multiprocessing as _mp
import os
import pickle
import shutil
import subprocess
import sys
import tempfile

from multiprocessing import *  # noqa: F401,F403  (torch.multiprocessing re-exports it too)

from ..distributed._launch import find_mpiexec

__all__ = ["spawn", "start_processes", "ProcessContext", "ProcessException",
           "ProcessRaisedException", "ProcessExitedException"] + list(_mp.__all__)


class ProcessException(Exception):
    def __init__(self, msg, error_index, pid):
        super().__init__(msg)
        self.msg = msg
        self.error_index = error_index
        self.pid = pid

    def __reduce__(self):
        return type(self), (self.msg, self.error_index, self.pid)


class ProcessRaisedException(ProcessException):
    """A worker raised an exception; the message holds its traceback."""


class ProcessExitedException(ProcessException):
    """A worker ended with a non-zero exit status (or a signal) without a traceback."""

    def __init__(self, msg, error_index, error_pid, exit_code, signal_name=None):
        super().__init__(msg, error_index, error_pid)
        self.exit_code = exit_code
        self.signal_name = signal_name

    def __reduce__(self):
        return type(self), (self.msg, self.error_index, self.pid, self.exit_code,
                            self.signal_name)


class ProcessContext:
    """The running job: ``join()`` waits for it (True when every worker is done)."""

    def __init__(self, process, workdir, nprocs):
        self.process = process
        self._dir = workdir
        self.nprocs = nprocs

    def pids(self):
        return [self.process.pid]

    def join(self, timeout=None, grace_period=None):
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        try:
            if code != 0:
                raise self._failure(code)
        finally:
            shutil.rmtree(self._dir, ignore_errors=True)
        return True

    def _failure(self, code):
        for rank in range(self.nprocs):
            path = os.path.join(self._dir, f"error-{rank}.txt")
            if os.path.exists(path):
                with open(path) as f:
                    text = f.read()
                msg = f"\n\n-- Process {rank} terminated with the following error:\n{text}"
                return ProcessRaisedException(msg, rank, self.process.pid)
        if code < 0:
            import signal
            name = signal.Signals(-code).name
            return ProcessExitedException(f"process terminated with signal {name}", 0,
                                          self.process.pid, code, name)
        return ProcessExitedException(f"process terminated with exit code {code}", 0,
                                      self.process.pid, code)


def start_processes(fn, args=(), nprocs=1, join=True, daemon=False, start_method="spawn"):
    """Run ``fn(i, *args)`` for i in range(nprocs), each in a rank of one MPI job."""
    if not callable(fn):
        raise TypeError(f"spawn: fn must be callable, got {type(fn).__name__}")
    if os.environ.get("EMBER_SPAWN_WORKER") == "1":
        # A worker importing the main script reached spawn(): the script lacks the guard.
        raise RuntimeError("spawn() was called while a spawned worker imported the main module. "
                           "Guard the call in the main script with: if __name__ == '__main__':")
    nprocs = int(nprocs)
    if nprocs < 1:
        raise ValueError(f"spawn: nprocs must be at least 1, got {nprocs}")
    workdir = tempfile.mkdtemp(prefix="ember-spawn-")
    payload = os.path.join(workdir, "fn.pkl")
    try:
        with open(payload, "wb") as f:
            pickle.dump((fn, tuple(args)), f)
    except Exception as e:
        shutil.rmtree(workdir, ignore_errors=True)
        raise RuntimeError(f"spawn: fn and args must be picklable (fn defined at the top level "
                           f"of a module or script): {e}") from e
    main = getattr(sys.modules.get("__main__"), "__file__", None)
    cmd = [find_mpiexec(), "-n", str(nprocs), sys.executable, "-m", "ember.multiprocessing._child",
           payload, workdir, os.path.abspath(main) if main else ""]
    env = dict(os.environ)
    # The workers find the same modules as the parent (its script directory, its sys.path).
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    ctx = ProcessContext(subprocess.Popen(cmd, env=env), workdir, nprocs)
    if not join:
        return ctx
    while not ctx.join():
        pass
    return None


def spawn(fn, args=(), nprocs=1, join=True, daemon=False, start_method="spawn"):
    """torch.multiprocessing.spawn: ``fn(i, *args)`` in ``nprocs`` workers (MPI ranks)."""
    return start_processes(fn, args, nprocs, join, daemon, start_method)
