"""One worker of ember.multiprocessing.spawn: runs as a rank under mpiexec.

argv: the pickled (fn, args), the job's directory (for the error file), and
the parent's main script, loaded as ``__mp_main__`` so that a function
defined in it unpickles (what the ``spawn`` start method does)."""
import os
import pickle
import runpy
import sys
import types

from ..distributed._launch import mpi_rank_env, run_guarded


def _load_main(path):
    if not path:
        return
    sys.path.insert(0, os.path.dirname(path))
    module = types.ModuleType("__mp_main__")
    module.__file__ = path
    sys.modules["__mp_main__"] = module
    module.__dict__.update(runpy.run_path(path, run_name="__mp_main__"))
    sys.modules["__main__"] = module


def main():
    payload, workdir, main_path = sys.argv[1:4]
    rank = mpi_rank_env()[0]
    error_file = os.path.join(workdir, f"error-{rank}.txt")

    def body():
        os.environ["EMBER_SPAWN_WORKER"] = "1"      # (spawn() refuses while the main script loads)
        _load_main(main_path)
        del os.environ["EMBER_SPAWN_WORKER"]
        with open(payload, "rb") as f:
            fn, args = pickle.load(f)
        fn(rank, *args)
    run_guarded(body, error_file)


if __name__ == "__main__":
    main()
