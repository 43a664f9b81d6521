"""What Ember's launchers share: finding ``mpiexec``, and running a rank's code so
that a failure ends the whole job at once.

``python -m ember.distributed.run`` and ``ember.multiprocessing.spawn`` both
start ``mpiexec``, which starts one Python per rank running a small bootstrap
(``_rank_main`` here, or ``ember.multiprocessing._child``).  The bootstrap
reads the rank from the MPI launcher's environment (Hydra's ``PMI_RANK``,
``PMI_SIZE``, ``MPI_LOCALRANKID``), sets torchrun's variables, and runs the
user's code.  If that code raises or exits with a non-zero status, the
bootstrap prints the traceback and leaves without MPI_Finalize
(``os._exit``): Hydra then ends every other rank, even one blocked in a
collective, and ``mpiexec`` exits non-zero.
"""
import os
import shutil
import sys
import traceback


def find_mpiexec():
    """``$EMBER_MPIEXEC``, else the ``mpiexec`` beside this Python (the MPICH
    wheel puts it there), else the one on PATH."""
    env = os.environ.get("EMBER_MPIEXEC")
    if env:
        return env
    here = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    if os.path.exists(here):
        return here
    found = shutil.which("mpiexec")
    if found:
        return found
    raise RuntimeError("mpiexec not found: pip install 'ember[distributed]' (mpi4py and mpich), "
                       "or set EMBER_MPIEXEC to your MPI's mpiexec")


def mpi_rank_env():
    """(rank, world size, local rank, local world size) from the MPI launcher's
    environment (MPICH's Hydra; Open MPI's names as a fallback)."""
    env = os.environ

    def first(*names, default=None):
        for n in names:
            if env.get(n, "") != "":
                return int(env[n])
        return default
    rank = first("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK")
    size = first("PMI_SIZE", "OMPI_COMM_WORLD_SIZE")
    if rank is None or size is None:
        raise RuntimeError("not started by an MPI launcher (no PMI_RANK/PMI_SIZE in the "
                           "environment); run through mpiexec")
    local = first("MPI_LOCALRANKID", "OMPI_COMM_WORLD_LOCAL_RANK", default=rank)
    nlocal = first("MPI_LOCALNRANKS", "OMPI_COMM_WORLD_LOCAL_SIZE", default=size)
    return rank, size, local, nlocal


def run_guarded(body, error_file=None):
    """Run ``body()``; on an exception or a non-zero ``sys.exit`` print the
    traceback (and write it to ``error_file``), then end this process without
    finalising MPI, so that the launcher ends the others."""
    try:
        body()
    except SystemExit as e:
        code = e.code
        if code is None or code == 0:
            return
        if not isinstance(code, int):
            print(code, file=sys.stderr)
            code = 1
        _die(code, f"exited with status {code}", error_file)
    except BaseException:
        text = traceback.format_exc()
        sys.stderr.write(text)
        _die(1, text, error_file)


def _die(code, text, error_file):
    if error_file:
        try:
            with open(error_file, "w") as f:
                f.write(text)
        except OSError:
            pass
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
