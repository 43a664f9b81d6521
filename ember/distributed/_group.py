"""Process groups over MPI: ``init_process_group``, ranks, sub-groups, the timeout watchdog.

Every byte between processes goes through MPI (``mpi4py``).  The processes
themselves are started by an MPI launcher (``mpiexec``, or Ember's
``ember.distributed.run`` and ``ember.multiprocessing.spawn``, which call it),
so by the time a script calls ``init_process_group`` the MPI world already
exists: initialising the group means checking that the rank and world size the
script asks for agree with it, and making a communicator whose ranks are the
ones asked for.

``mpi4py`` is imported here lazily, at ``init_process_group``, so that
``import ember`` never loads MPI.
"""
import datetime
import os
import sys
import threading
import time

# torch's default for non-NCCL backends (torch.distributed.constants.default_pg_timeout).
DEFAULT_TIMEOUT = datetime.timedelta(minutes=30)

_BACKENDS = ("gloo", "mpi")


_MPI = []


def _mpi():
    """The ``mpi4py.MPI`` module (initialising MPI on first use), or a clear error."""
    if _MPI:
        return _MPI[0]
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise RuntimeError("ember.distributed needs mpi4py and an MPI library: "
                           "pip install 'ember[distributed]' (mpi4py and mpich)") from e
    _MPI.append(MPI)
    return MPI


def is_available():
    """Whether the distributed package can run: mpi4py is installed (not imported here)."""
    import importlib.util
    return importlib.util.find_spec("mpi4py") is not None


class ProcessGroup:
    """A set of ranks and the MPI communicator that joins them.

    ``ranks`` are the group's members as global ranks, in group-rank order."""

    def __init__(self, comm, ranks, backend, timeout):
        self.comm = comm
        self.ranks = list(ranks)
        self._backend = backend
        self.timeout = timeout
        self._rank = comm.Get_rank()

    def rank(self):
        return self._rank

    def size(self):
        return len(self.ranks)

    def name(self):
        return self._backend

    def group_rank(self, global_rank):
        try:
            return self.ranks.index(global_rank)
        except ValueError:
            raise ValueError(f"Global rank {global_rank} is not part of group {self}") from None

    def __repr__(self):
        return f"<ember.distributed.ProcessGroup backend={self._backend} ranks={self.ranks}>"


class _NonMember:
    def __repr__(self):
        return "GroupMember.NON_GROUP_MEMBER"


class GroupMember:
    """torch's ``GroupMember``: ``WORLD`` is the default group once initialised."""
    WORLD = None
    NON_GROUP_MEMBER = _NonMember()


class _GroupNamespace:
    """``ember.distributed.group.WORLD``, as torch's ``group``."""

    @property
    def WORLD(self):
        return GroupMember.WORLD


group = _GroupNamespace()


class _State:
    world = None          # the default ProcessGroup
    groups = []           # every group made by new_group (freed at destroy)
    watchdog = None
    prev_excepthook = None


_state = _State()


def is_initialized():
    return _state.world is not None


def _world():
    if _state.world is None:
        raise ValueError("Default process group has not been initialized, please make sure to "
                         "call init_process_group.")
    return _state.world


def _resolve(group):
    """The ProcessGroup a collective runs on (None: the default group)."""
    if group is None or group is GroupMember.WORLD:
        return _world()
    if group is GroupMember.NON_GROUP_MEMBER:
        raise ValueError("this rank is not a member of the group (GroupMember.NON_GROUP_MEMBER)")
    if not isinstance(group, ProcessGroup):
        raise TypeError(f"group must be a ProcessGroup or None, got {type(group).__name__}")
    _world()
    return group


def _seconds(timeout):
    if timeout is None:
        return DEFAULT_TIMEOUT.total_seconds()
    if isinstance(timeout, datetime.timedelta):
        return timeout.total_seconds()
    raise TypeError(f"timeout must be a datetime.timedelta, got {type(timeout).__name__}")


def _env_int(name):
    v = os.environ.get(name)
    if v is None or v == "":
        return None
    try:
        return int(v)
    except ValueError:
        raise ValueError(f"Error initializing torch.distributed using env:// rendezvous: "
                         f"environment variable {name} expected, but not set to an integer "
                         f"(got {v!r})") from None


def init_process_group(backend=None, init_method=None, timeout=None, world_size=-1, rank=-1,
                       store=None, group_name="", pg_options=None, device_id=None):
    """Join the default process group (torch.distributed.init_process_group).

    ``backend``: ``"gloo"`` or ``"mpi"`` (both run over MPI; ``None`` means
    gloo).  ``rank``/``world_size`` default to ``RANK``/``WORLD_SIZE`` from
    the environment (``init_method="env://"``, as torchrun sets them), and
    otherwise to the MPI launcher's own.  The MPI world must have exactly
    ``world_size`` processes: start the script with ``python -m
    ember.distributed.run``, ``mpiexec -n N`` or ``ember.multiprocessing.spawn``.
    ``MASTER_ADDR``/``MASTER_PORT`` and ``tcp://``/``file://`` addresses are
    accepted and unused (MPI does the rendezvous)."""
    if _state.world is not None:
        raise ValueError("trying to initialize the default process group twice!")
    name = _backend_name(backend)
    if store is not None:
        raise ValueError("ember.distributed has no Store: the MPI launcher does the rendezvous; "
                         "pass rank and world_size (or nothing) instead of store=")
    if init_method is not None and not isinstance(init_method, str):
        raise TypeError(f"init_method must be a string, got {type(init_method).__name__}")
    if init_method and not init_method.startswith(("env://", "tcp://", "file://")):
        raise ValueError(f"No rendezvous handler for {init_method.split('://')[0]}://")
    seconds = _seconds(timeout)

    MPI = _mpi()
    comm = MPI.COMM_WORLD
    mpi_size, mpi_rank = comm.Get_size(), comm.Get_rank()
    if world_size is None or world_size == -1:
        world_size = _env_int("WORLD_SIZE") if _env_int("WORLD_SIZE") is not None else mpi_size
    if rank is None or rank == -1:
        rank = _env_int("RANK") if _env_int("RANK") is not None else mpi_rank
    if not isinstance(world_size, int) or not isinstance(rank, int):
        raise TypeError("rank and world_size must be integers")
    if world_size < 1:
        raise ValueError(f"world_size must be positive, got {world_size}")
    if not 0 <= rank < world_size:
        raise ValueError(f"Invalid rank {rank}, rank should be in the interval [0, {world_size - 1}]")
    if world_size != mpi_size:
        raise RuntimeError(
            f"ember.distributed runs over MPI, and this process is one of {mpi_size} MPI "
            f"process(es), but world_size={world_size} was asked.  Start the {world_size} "
            f"processes with an MPI launcher: `python -m ember.distributed.run --nproc-per-node "
            f"{world_size} script.py`, `mpiexec -n {world_size} python script.py`, or "
            f"ember.multiprocessing.spawn(fn, args, nprocs={world_size})")

    # The ranks the script asked for may differ from MPI's numbering (a launcher
    # that numbers its workers itself): order a copy of the world by them.
    # (The watchdog already guards these: a rank that died before init must not hang the rest.)
    dog = _Watchdog(rank)
    dog.arm("init_process_group", seconds)
    try:
        asked = comm.allgather(rank)
        if sorted(asked) != list(range(world_size)):
            raise RuntimeError(f"init_process_group: the processes asked for ranks {asked}; each "
                               f"rank 0..{world_size - 1} must be asked for exactly once")
        wcomm = comm.Split(0, rank)
    finally:
        dog.disarm()
    _state.world = ProcessGroup(wcomm, range(world_size), name, seconds)
    GroupMember.WORLD = _state.world
    _state.watchdog = dog
    _state.prev_excepthook = sys.excepthook
    sys.excepthook = _abort_on_uncaught


def _backend_name(backend):
    if backend is None:
        return "gloo"
    if not isinstance(backend, str):
        raise TypeError(f"backend must be a string, got {type(backend).__name__}")
    b = backend.lower()
    if b.startswith("cpu:"):
        b = b[4:]
    if b in _BACKENDS:
        return b
    if b == "nccl" or b.startswith("cuda:"):
        raise RuntimeError("Distributed package doesn't have NCCL built in (ember runs on the "
                           "CPU; use backend='gloo' or 'mpi')")
    raise ValueError(f"Invalid backend: '{backend}' (ember.distributed offers 'gloo' and 'mpi', "
                     f"both over MPI)")


def _abort_on_uncaught(exc_type, exc, tb):
    """An exception nobody caught on one rank: print it, then end every rank
    (the others may be blocked in a collective this rank will never join)."""
    hook = _state.prev_excepthook or sys.__excepthook__
    try:
        hook(exc_type, exc, tb)
    finally:
        if _state.world is not None and not issubclass(exc_type, KeyboardInterrupt):
            _abort_job()


# How long a rank that ends the job waits, after printing why, before MPI_Abort:
# the launcher forwards each rank's stderr from a pipe, and an abort that comes
# first kills the forwarding with the message still in the pipe.
_ABORT_GRACE_S = 0.5


def _abort_job():
    """End every rank of the job, after giving the launcher time to forward
    what this rank printed."""
    sys.stdout.flush()
    sys.stderr.flush()
    time.sleep(_ABORT_GRACE_S)
    _mpi().COMM_WORLD.Abort(1)


def get_rank(group=None):
    if group is GroupMember.NON_GROUP_MEMBER:
        return -1
    return _resolve(group).rank()


def get_world_size(group=None):
    if group is GroupMember.NON_GROUP_MEMBER:
        return -1
    return _resolve(group).size()


def get_backend(group=None):
    return _resolve(group).name()


def get_global_rank(group, group_rank):
    return _resolve(group).ranks[group_rank]


def get_group_rank(group, global_rank):
    return _resolve(group).group_rank(global_rank)


def get_process_group_ranks(group):
    return list(_resolve(group).ranks)


def new_group(ranks=None, timeout=None, backend=None, pg_options=None,
              use_local_synchronization=False, group_desc=None, device_id=None, sort_ranks=True):
    """A sub-group of the default group; every rank must call it (as in torch).
    Ranks outside ``ranks`` get ``GroupMember.NON_GROUP_MEMBER``."""
    world = _world()
    n = world.size()
    members = list(range(n)) if ranks is None else [int(r) for r in ranks]
    if sort_ranks:
        members = sorted(members)
    if len(set(members)) != len(members) or any(not 0 <= r < n for r in members):
        raise ValueError(f"new_group: ranks must be distinct and in [0, {n - 1}], got {ranks}")
    MPI = _mpi()
    me = world.rank()
    inside = me in members
    comm = world.comm.Split(0 if inside else MPI.UNDEFINED, members.index(me) if inside else 0)
    if not inside:
        return GroupMember.NON_GROUP_MEMBER
    pg = ProcessGroup(comm, members, _backend_name(backend) if backend else world.name(),
                      _seconds(timeout) if timeout is not None else world.timeout)
    _state.groups.append(pg)
    return pg


def destroy_process_group(group=None):
    """Leave the default group (and free every sub-group), or free one sub-group."""
    if group is not None and group is not GroupMember.WORLD:
        pg = _resolve(group)
        if pg in _state.groups:
            _state.groups.remove(pg)
            pg.comm.Free()
        return
    world = _world()
    for pg in _state.groups:
        pg.comm.Free()
    _state.groups = []
    world.comm.Free()
    _state.world = GroupMember.WORLD = None
    if _state.watchdog is not None:
        _state.watchdog.stop()
        _state.watchdog = None
    if sys.excepthook is _abort_on_uncaught:
        sys.excepthook = _state.prev_excepthook or sys.__excepthook__
    _state.prev_excepthook = None


class _Watchdog:
    """Ends the job when a collective runs past its group's timeout.

    A rank blocked inside an MPI call cannot be interrupted from Python, so,
    as torch's NCCL watchdog does, a daemon thread watches the deadline of the
    operation in flight and aborts every rank (``MPI_Abort``) with a message
    naming the operation.  Arming it costs two attribute stores."""

    def __init__(self, rank):
        self.rank = rank
        self.deadline = None
        self.what = ""
        self.seconds = 0.0
        self._stop = threading.Event()
        self._thread = None

    def arm(self, what, seconds):
        self.what, self.seconds = what, seconds
        self.deadline = time.monotonic() + seconds
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="ember-distributed-watchdog",
                                            daemon=True)
            self._thread.start()

    def disarm(self):
        self.deadline = None

    def stop(self):
        self._stop.set()

    def _run(self):
        while not self._stop.is_set():
            d = self.deadline
            if d is not None and time.monotonic() > d:
                sys.stderr.write(
                    f"[rank {self.rank}] ember.distributed: {self.what} did not complete within "
                    f"the process group's timeout ({self.seconds:g} s); aborting the job.  Another "
                    f"rank probably failed, exited, or called a different collective.\n")
                _abort_job()
                return
            wait = 0.25 if d is None else min(0.05, max(0.001, self.seconds / 20))
            self._stop.wait(wait)


class _Armed:
    """``with _armed(pg, 'all_reduce'):`` the watchdog watches the block."""
    __slots__ = ("dog",)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.dog.disarm()
        return False


def _armed(pg, what):
    a = _Armed()
    a.dog = _state.watchdog
    a.dog.arm(what, pg.timeout)
    return a
