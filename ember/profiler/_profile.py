"""The profiler: ``profile``, ``record_function``, ``schedule``.

While it records, a ``_Recorder`` watches every op through
``ember.autograd._observe`` (each op's forward, each backward node, each
leaf's gradient accumulation) and times it with ``perf_counter_ns``.  When it
does not record, nothing is watched, so ops run the code they always run.
Each thread keeps its own stack of open events, so an event's self time is
its time minus the time of the events opened inside it (ops inside a
``record_function`` block, a backward node's inner ops).
"""
import enum
import functools
import itertools
import os
import socket
import threading
import time
import traceback
import warnings
from time import perf_counter_ns

from ..autograd import _observe
from ..autograd.function import AccumulateGrad, _memory_root
from ._events import EventList, FunctionEvent

__all__ = ["profile", "record_function", "schedule", "ProfilerActivity", "ProfilerAction",
           "tensorboard_trace_handler", "supported_activities"]


class ProfilerActivity(enum.Enum):
    CPU = 0
    XPU = 1
    MTIA = 2
    CUDA = 3
    HPU = 4
    PrivateUse1 = 5


class ProfilerAction(enum.Enum):
    NONE = 0
    WARMUP = 1
    RECORD = 2
    RECORD_AND_SAVE = 3
    DEVICE_STOPPED = 4


def supported_activities():
    """The activities Ember can record: the CPU only."""
    return {ProfilerActivity.CPU}


def schedule(*, wait, warmup, active, repeat=0, skip_first=0, skip_first_wait=0):
    """torch's step schedule: skip ``skip_first`` steps, then cycles of
    ``wait`` idle steps, ``warmup`` steps (run watched, results dropped) and
    ``active`` recorded steps, ``repeat`` times (0: until the end).  The
    last active step of a cycle is RECORD_AND_SAVE: ``on_trace_ready`` runs
    after it.  With ``skip_first_wait``, the first cycle starts without its
    wait."""
    if wait < 0 or warmup < 0 or active <= 0 or repeat < 0 or skip_first < 0:
        raise AssertionError(
            f"Invalid profiler schedule arguments. Got wait={wait} (need >= 0), "
            f"warmup={warmup} (need >= 0), active={active} (need > 0), repeat={repeat} "
            f"(need >= 0), skip_first={skip_first} (need >= 0).")
    if warmup == 0:
        warnings.warn("Profiler won't be using warmup, this can skew profiler results",
                      stacklevel=2)
    cycle = wait + warmup + active

    def action(step):
        if step < 0:
            raise AssertionError(f"Step must be non-negative. Got {step}.")
        if step < skip_first:
            return ProfilerAction.NONE
        step -= skip_first
        if skip_first_wait:
            step += wait
        if repeat > 0 and step / cycle >= repeat:
            return ProfilerAction.NONE
        k = step % cycle
        if k < wait:
            return ProfilerAction.NONE
        if k < wait + warmup:
            return ProfilerAction.WARMUP
        return ProfilerAction.RECORD if k < cycle - 1 else ProfilerAction.RECORD_AND_SAVE
    return action


def _always_record(step):
    return ProfilerAction.RECORD


def _bytes(out, inputs):
    """Bytes of the new memory an op returned: its output arrays whose memory
    is none of its inputs' (a view allocates nothing)."""
    if type(out) is tuple or type(out) is list:
        return sum(_bytes(o, inputs) for o in out)
    data = getattr(out, "_data", out)          # (a Tensor, from a custom Function)
    if not hasattr(data, "nbytes"):
        return 0
    root = _memory_root(data)
    if any(root is _memory_root(getattr(a, "_data", a)) for a in inputs
           if hasattr(getattr(a, "_data", a), "nbytes")):
        return 0
    return data.nbytes


def _shapes(args):
    """torch's "Input Shapes": a list per argument, [] for a non-tensor."""
    out = []
    for a in args:
        data = getattr(a, "_data", a)
        shape = getattr(data, "shape", None)
        out.append(list(shape) if shape is not None and hasattr(data, "dtype") else [])
    return out


_EMBER_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def _user_stack():
    """The caller's stack, innermost first, as "file(line): function", without
    Ember's own frames."""
    frames = [f for f in traceback.extract_stack()[:-1] if not f.filename.startswith(_EMBER_DIR)]
    return [f"{f.filename}({f.lineno}): {f.name}" for f in reversed(frames)]


class _Frame:
    """An open event on a thread's stack."""
    __slots__ = ("name", "start", "child_ns", "child_mem", "shapes", "stack", "kind", "id",
                 "parent")

    def __init__(self, name, kind, id, parent):
        self.name, self.kind, self.id, self.parent = name, kind, id, parent
        self.child_ns = self.child_mem = 0
        self.shapes = self.stack = ()


class _Recorder:
    """The watcher: turns every op, backward node and record_function block
    into an event.  While recording, an event is one tuple (cheap to make,
    and nothing for the garbage collector to walk); ``events()`` builds the
    FunctionEvents, linked to their parents, when the recording ends."""

    def __init__(self, record_shapes, profile_memory, with_stack, origin_ns):
        self.record_shapes = record_shapes
        self.profile_memory = profile_memory
        self.with_stack = with_stack
        self.origin = origin_ns
        self.raw = []
        self.local = threading.local()
        self.ids = itertools.count(1).__next__      # (atomic under the GIL)
        self.names = {}            # op class -> its name

    def _stack(self):
        try:
            return self.local.stack
        except AttributeError:
            st = self.local.stack = []
            return st

    def begin(self, name, kind="cpu_op", shapes=()):
        st = self._stack()
        frame = _Frame(name, kind, self.ids(), st[-1].id if st else 0)
        frame.shapes = shapes
        if self.with_stack:
            frame.stack = _user_stack()
        st.append(frame)
        frame.start = perf_counter_ns()
        return frame

    def end(self, frame, self_mem=0):
        t = perf_counter_ns()
        st = self._stack()
        # (a record_function left open by an exception inside it is closed here too)
        while st and st[-1] is not frame:
            self.end(st[-1])
        if not st:
            return
        st.pop()
        dur = t - frame.start
        total_mem = self_mem + frame.child_mem
        if st:
            parent = st[-1]
            parent.child_ns += dur
            parent.child_mem += total_mem
        # (list.append is atomic: threads may share the list)
        self.raw.append((frame.id, frame.parent, frame.name, frame.kind, threading.get_ident(),
                         frame.start, t, dur - frame.child_ns, frame.shapes, total_mem, self_mem,
                         frame.stack))

    def events(self):
        """The recorded events as FunctionEvents, in start order, with their
        ``cpu_parent``/``cpu_children``."""
        made = {}
        o = self.origin
        for (id, parent, name, kind, tid, t0, t1, self_ns, shapes, mem, self_mem,
             stack) in self.raw:
            made[id] = (parent, FunctionEvent(id, name, tid, (t0 - o) / 1e3, (t1 - o) / 1e3,
                                              self_ns / 1e3, shapes, mem, self_mem, stack, kind))
        for parent, ev in made.values():
            p = made.get(parent)
            if p is not None:
                ev.cpu_parent = p[1]
                p[1].cpu_children.append(ev)
        return sorted((ev for _, ev in made.values()), key=lambda e: e.time_range.start)

    # ---- the _observe watcher interface ---------------------------------------------------
    def forward(self, cls, args, run):
        name = self.names.get(cls)
        if name is None:
            name = self.names[cls] = _observe.op_name(cls)
        frame = self.begin(name, "cpu_op", _shapes(args[1:]) if self.record_shapes else ())
        out = None
        try:
            out = run()
        finally:
            self.end(frame, _bytes(out, args[1:]) if self.profile_memory and cls._raw
                     and out is not None else 0)
        return out

    def backward(self, node, grads, run):
        if type(node) is AccumulateGrad:
            name = "autograd::engine::evaluate_function: torch::autograd::AccumulateGrad"
        else:
            name = "autograd::engine::evaluate_function: " + node._name
        frame = self.begin(name, "cpu_op", _shapes(grads) if self.record_shapes else ())
        out = None
        try:
            out = run()
        finally:
            self.end(frame, _bytes(out, grads) if self.profile_memory and out is not None
                     else 0)
        return out


# The recorder now recording, if any (one profiler at a time, as torch).
_current = None


class record_function:
    """Label a block of code (``with record_function("name"):``) or every call
    of a function (``@record_function("name")``): it shows as one event
    holding the ops run inside.  Costs one global read when no profiler
    records."""

    def __init__(self, name, args=None):
        self.name = name
        self.args = args
        self._frame = self._rec = None

    def __enter__(self):
        rec = _current
        if rec is not None:
            self._rec = rec
            self._frame = rec.begin(self.name, "user_annotation")
        return self

    def __exit__(self, *exc):
        if self._frame is not None:
            self._rec.end(self._frame)
            self._frame = self._rec = None
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapped(*args, **kwargs):
            with record_function(self.name, self.args):
                return fn(*args, **kwargs)
        return wrapped


class profile:
    """Record every op's forward, every backward node and every
    ``record_function`` block run inside ``with profile(...) as prof:``.

    ``schedule(step) -> ProfilerAction`` and ``prof.step()`` record only some
    steps; ``on_trace_ready(prof)`` runs at the end of each recorded cycle.
    ``record_shapes``: keep each op's input shapes; ``profile_memory``: the
    bytes each op allocated (its outputs); ``with_stack``: the Python stack
    of each call.  Then ``prof.key_averages().table(sort_by=...)``,
    ``prof.events()``, ``prof.export_chrome_trace(path)``.
    """

    def __init__(self, *, activities=None, schedule=None, on_trace_ready=None,
                 record_shapes=False, profile_memory=False, with_stack=False, with_flops=False,
                 with_modules=False, experimental_config=None, execution_trace_observer=None,
                 acc_events=False, use_cuda=None, custom_trace_id_callback=None,
                 post_processing_timeout_s=None):
        acts = set(activities) if activities is not None else supported_activities()
        for a in acts:
            if not isinstance(a, ProfilerActivity):
                raise TypeError(f"activities must be ProfilerActivity values, got {a!r}")
        if acts - supported_activities():
            warnings.warn(f"Ember records the CPU only; ignoring "
                          f"{sorted(a.name for a in acts - supported_activities())}", stacklevel=2)
        self.activities = acts
        self.schedule = schedule if schedule is not None else _always_record
        self.record_steps = schedule is not None
        self.on_trace_ready = on_trace_ready
        self.record_shapes = record_shapes
        self.profile_memory = profile_memory
        self.with_stack = with_stack
        self.step_num = 0
        self.current_action = None
        self._rec = None
        self._step_frame = None
        self._last = None          # EventList of the last finished recording

    # ---- lifetime --------------------------------------------------------------------------
    def __enter__(self):
        self.start()
        return self

    def __exit__(self, exc_type, exc_val, exc_tb):
        self.stop()
        return False

    def start(self):
        self.step_num = 0
        self.current_action = self.schedule(self.step_num)
        if self.current_action is not ProfilerAction.NONE:
            self._start_recording()
        self._open_step()

    def stop(self):
        self._close_step()
        if self.current_action in (ProfilerAction.RECORD, ProfilerAction.RECORD_AND_SAVE):
            self._stop_recording(save=True)
        elif self._rec is not None:
            self._stop_recording(save=False)     # (warm-up: dropped)
        self.current_action = None

    def step(self):
        """Mark the end of a training step: the schedule may start or stop
        recording here, and ``on_trace_ready`` runs after a cycle's last step."""
        self._close_step()
        prev = self.current_action
        self.step_num += 1
        now = self.current_action = self.schedule(self.step_num)
        recording = (ProfilerAction.RECORD, ProfilerAction.RECORD_AND_SAVE)
        if prev is ProfilerAction.RECORD_AND_SAVE or (prev in recording and now not in recording):
            if prev is ProfilerAction.RECORD and now is not ProfilerAction.RECORD_AND_SAVE:
                warnings.warn(f"Incorrect schedule: RECORD followed by {now.name}", stacklevel=2)
            self._stop_recording(save=True)
        elif prev is ProfilerAction.WARMUP and now is ProfilerAction.NONE:
            warnings.warn("Incorrect schedule: WARMUP followed by NONE", stacklevel=2)
            self._stop_recording(save=False)
        elif prev is ProfilerAction.WARMUP and now in recording:
            self._rec.raw = []            # (the warm-up's events are dropped)
        if now is not ProfilerAction.NONE and self._rec is None:
            self._start_recording()
        self._open_step()

    def _open_step(self):
        if self.record_steps and self._rec is not None:
            self._step_frame = self._rec.begin(f"ProfilerStep#{self.step_num}", "user_annotation")

    def _close_step(self):
        if self._step_frame is not None and self._rec is not None:
            self._rec.end(self._step_frame)
        self._step_frame = None

    def _start_recording(self):
        global _current
        if _current is not None:
            raise RuntimeError("Profiler is already enabled in this process: only one "
                               "ember.profiler.profile can record at a time.")
        self._rec = _Recorder(self.record_shapes, self.profile_memory, self.with_stack,
                              perf_counter_ns())
        _current = self._rec
        _observe.add(self._rec)

    def _stop_recording(self, save):
        global _current
        rec = self._rec
        if rec is None:
            return
        _observe.remove(rec)
        _current = None
        self._rec = None
        if save:
            self._last = EventList(rec.events(), self.profile_memory)
            if self.on_trace_ready is not None:
                self.on_trace_ready(self)

    # ---- results ---------------------------------------------------------------------------
    def events(self):
        """Every event of the last recording, in start order."""
        if self._last is None:
            raise AssertionError("Profiler didn't finish running: no events recorded yet.")
        return self._last

    def key_averages(self, group_by_input_shape=False, group_by_stack_n=0,
                     group_by_overload_name=False):
        """The events summed by name (and input shapes / stack when asked)."""
        return self.events().key_averages(group_by_input_shape, group_by_stack_n)

    def export_chrome_trace(self, path):
        """Write the last recording as Chrome trace JSON (chrome://tracing, Perfetto)."""
        self.events().export_chrome_trace(path)

    @property
    def self_cpu_time_total(self):
        return self.events().self_cpu_time_total


def tensorboard_trace_handler(dir_name, worker_name=None, use_gzip=False,
                              use_python_export=False):
    """An ``on_trace_ready`` that writes each recording to ``dir_name`` as
    ``{worker_name}.{milliseconds}.pt.trace.json`` (``.gz`` with use_gzip),
    where TensorBoard's profiler plugin looks for them."""
    if worker_name is None:
        worker_name = f"{socket.gethostname()}_{os.getpid()}"

    def handler(prof):
        os.makedirs(dir_name, exist_ok=True)
        name = f"{worker_name}.{time.time_ns() // 1_000_000}.pt.trace.json"
        path = os.path.join(dir_name, name)
        prof.export_chrome_trace(path)
        if use_gzip:
            import gzip
            import shutil
            with open(path, "rb") as src, gzip.open(path + ".gz", "wb") as dst:
                shutil.copyfileobj(src, dst)
            os.remove(path)
    return handler
