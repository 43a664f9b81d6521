"""``python -m ember.distributed.run``: torchrun's command line, over ``mpiexec``.

    python -m ember.distributed.run --nproc-per-node 2 train.py --lr 0.1

starts ``mpiexec -n 2``; each rank gets torchrun's environment (``RANK``,
``LOCAL_RANK``, ``WORLD_SIZE``, ``LOCAL_WORLD_SIZE``, ``GROUP_RANK``,
``MASTER_ADDR``, ``MASTER_PORT``, ...) and runs ``train.py`` as ``__main__``.
Several machines: write a Hydra hostfile (one ``host:slots`` per line) and
pass ``--hostfile FILE --nnodes M --nproc-per-node N``; one command on one
machine starts all ``M * N`` ranks (there is no per-node rendezvous as with
torchrun).  Elastic options (``--max-restarts``, ``--rdzv-*``) are accepted
and ignored.  A rank that fails ends the job; the exit status is non-zero.
"""
import argparse
import os
import subprocess
import sys

from ._launch import find_mpiexec, mpi_rank_env, run_guarded


def _flag(parser, name, **kw):
    """``--nproc-per-node`` and torchrun's older ``--nproc_per_node`` spelling."""
    names = ["--" + name]
    if "-" in name:
        names.append("--" + name.replace("-", "_"))
    parser.add_argument(*names, **kw)


def get_args_parser():
    p = argparse.ArgumentParser(prog="python -m ember.distributed.run",
                                description="torchrun's interface, launching ranks with mpiexec")
    _flag(p, "nnodes", default="1", help="number of machines (an int, or MIN:MAX as torchrun)")
    _flag(p, "nproc-per-node", default="1", help="ranks per machine (int, 'cpu' or 'auto')")
    _flag(p, "node-rank", type=int, default=0, help="accepted; mpiexec places ranks on hosts")
    _flag(p, "master-addr", default="127.0.0.1", help="exported as MASTER_ADDR (MPI does the rendezvous)")
    _flag(p, "master-port", type=int, default=29500, help="exported as MASTER_PORT")
    p.add_argument("--standalone", action="store_true", help="accepted (one machine)")
    _flag(p, "hostfile", default=None, help="Hydra hostfile for several machines (passed as -f)")
    _flag(p, "mpiexec", default=None, help="the mpiexec to use (default: the one beside Python)")
    for name in ("rdzv-backend", "rdzv-endpoint", "rdzv-id", "rdzv-conf", "max-restarts",
                 "monitor-interval", "start-method", "role", "log-dir", "redirects", "tee",
                 "local-addr", "logs-specs", "local-ranks-filter"):
        _flag(p, name, default=None, help="accepted, ignored (torchrun's elastic options)")
    p.add_argument("-m", "--module", action="store_true", help="run the target as a module (python -m)")
    _flag(p, "no-python", action="store_true", help="run the target as an executable, not a Python script")
    _flag(p, "run-path", action="store_true", help="run the script with runpy.run_path (the default here)")
    p.add_argument("training_script", help="the script (or module with -m) each rank runs")
    p.add_argument("training_script_args", nargs=argparse.REMAINDER)
    return p


def _nproc(value):
    if value in ("cpu", "auto"):
        return os.cpu_count() or 1
    try:
        n = int(value)
    except ValueError:
        raise SystemExit(f"--nproc-per-node must be an integer, 'cpu' or 'auto', got {value!r}")
    if n < 1:
        raise SystemExit("--nproc-per-node must be at least 1")
    return n


def _nnodes(value):
    top = str(value).split(":")[-1]
    try:
        return int(top)
    except ValueError:
        raise SystemExit(f"--nnodes must be an integer or MIN:MAX, got {value!r}") from None


def mpiexec_command(args):
    """The mpiexec command line that runs ``args``' script on every rank."""
    nproc, nnodes = _nproc(args.nproc_per_node), _nnodes(args.nnodes)
    if nnodes > 1 and not args.hostfile:
        raise SystemExit("--nnodes > 1 needs --hostfile: ember launches every machine's ranks "
                         "from one mpiexec (see the README's Distributed section)")
    cmd = [args.mpiexec or find_mpiexec()]
    if args.hostfile:
        cmd += ["-f", args.hostfile, "-ppn", str(nproc)]
    cmd += ["-n", str(nproc * nnodes)]
    # Each rank's environment is set by the bootstrap from Hydra's PMI_* variables.
    boot = [sys.executable, "-m", "ember.distributed.run", "--_rank",
            "--nproc-per-node", str(nproc), "--master-addr", args.master_addr,
            "--master-port", str(args.master_port)]
    if args.module:
        boot.append("-m")
    if args.no_python:
        boot.append("--no-python")
    return cmd + boot + [args.training_script] + list(args.training_script_args)


def _rank_main(args):
    """Inside mpiexec: set torchrun's variables for this rank, then run the script."""
    rank, size, local, nlocal = mpi_rank_env()
    nproc = _nproc(args.nproc_per_node)
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(size), LOCAL_RANK=str(local),
                      LOCAL_WORLD_SIZE=str(nlocal), GROUP_RANK=str(rank // nproc),
                      GROUP_WORLD_SIZE=str((size + nproc - 1) // nproc), ROLE_RANK=str(rank),
                      ROLE_WORLD_SIZE=str(size), ROLE_NAME="default",
                      MASTER_ADDR=args.master_addr, MASTER_PORT=str(args.master_port),
                      TORCHELASTIC_RESTART_COUNT="0", TORCHELASTIC_MAX_RESTARTS="0",
                      TORCHELASTIC_RUN_ID="ember-mpi")
    target, rest = args.training_script, list(args.training_script_args)
    if args.no_python:
        os.execvp(target, [target] + rest)
    import runpy
    if args.module:
        sys.argv = [target] + rest
        run_guarded(lambda: runpy.run_module(target, run_name="__main__", alter_sys=True))
    else:
        sys.argv = [target] + rest
        sys.path.insert(0, os.path.dirname(os.path.abspath(target)))
        run_guarded(lambda: runpy.run_path(target, run_name="__main__"))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    inside = "--_rank" in argv[:1]
    if inside:
        argv = argv[1:]
    args = get_args_parser().parse_args(argv)
    if inside:
        _rank_main(args)
        return 0
    cmd = mpiexec_command(args)
    try:
        return subprocess.call(cmd)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
