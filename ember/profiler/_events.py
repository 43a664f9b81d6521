"""What the profiler recorded: events, their averages by name, torch's table
and the Chrome trace."""
import json
import os


class Interval:
    """A span of time in microseconds since the profiler started."""
    __slots__ = ("start", "end")

    def __init__(self, start, end):
        self.start, self.end = start, end

    def elapsed_us(self):
        return self.end - self.start

    def __repr__(self):
        return f"Interval(start={self.start:.3f}, end={self.end:.3f})"


class FunctionEvent:
    """One recorded call: an op's forward, a backward node, or a
    ``record_function`` block.  Times are microseconds."""

    def __init__(self, id, name, thread, start_us, end_us, self_us, input_shapes=(),
                 cpu_memory_usage=0, self_cpu_memory_usage=0, stack=(), kind="cpu_op"):
        self.id = id
        self.name = name
        self.thread = thread
        self.time_range = Interval(start_us, end_us)
        self.self_cpu_time_total = self_us
        self.input_shapes = list(input_shapes)
        self.cpu_memory_usage = cpu_memory_usage
        self.self_cpu_memory_usage = self_cpu_memory_usage
        self.stack = list(stack)
        self.kind = kind          # "cpu_op" or "user_annotation" (a record_function)
        self.cpu_parent = None
        self.cpu_children = []
        self.count = 1
        self.device_type = "CPU"
        self.is_async = False

    @property
    def key(self):
        return self.name

    @property
    def cpu_time_total(self):
        return self.time_range.elapsed_us()

    @property
    def cpu_time(self):
        return self.cpu_time_total

    def __repr__(self):
        return (f"<FunctionEvent id={self.id} name={self.name} thread={self.thread} "
                f"cpu_time_total={self.cpu_time_total:.3f}us "
                f"self_cpu_time_total={self.self_cpu_time_total:.3f}us "
                f"input_shapes={self.input_shapes} cpu_memory_usage={self.cpu_memory_usage}>")


class FunctionEventAvg:
    """The events of one key (name, and input shapes or stack when grouped
    by them), summed."""

    def __init__(self):
        self.key = None
        self.count = 0
        self.cpu_time_total = 0.0
        self.self_cpu_time_total = 0.0
        self.cpu_memory_usage = 0
        self.self_cpu_memory_usage = 0
        self.input_shapes = None
        self.stack = None
        self.cpu_parent = None
        self.device_type = "CPU"
        self.is_async = False

    def add(self, other):
        if self.key is None:
            self.key = other.key
            self.input_shapes = other.input_shapes
            self.stack = other.stack
            self.cpu_parent = other.cpu_parent
        self.count += other.count
        self.cpu_time_total += other.cpu_time_total
        self.self_cpu_time_total += other.self_cpu_time_total
        self.cpu_memory_usage += other.cpu_memory_usage
        self.self_cpu_memory_usage += other.self_cpu_memory_usage
        return self

    @property
    def cpu_time(self):
        return self.cpu_time_total / self.count if self.count else 0.0

    @property
    def self_cpu_time(self):
        return self.self_cpu_time_total / self.count if self.count else 0.0

    def __repr__(self):
        return (f"<FunctionEventAvg key={self.key} self_cpu_time={self.self_cpu_time_total:.3f}us "
                f"cpu_time={self.cpu_time_total:.3f}us input_shapes={self.input_shapes} "
                f"cpu_memory_usage={self.cpu_memory_usage}>")


class EventList(list):
    """A list of events (or of their averages) that prints as torch's table.
    ``profile_memory``: the table has the memory columns."""

    def __init__(self, events=(), profile_memory=False):
        super().__init__(events)
        self._profile_memory = profile_memory

    def key_averages(self, group_by_input_shapes=False, group_by_stack_n=0,
                     group_by_overload_name=False):
        """The events summed by name (and by input shapes, or by the first
        ``group_by_stack_n`` stack frames, when asked), in first-seen order."""
        groups = {}
        for e in self:
            key = (e.key,)
            if group_by_input_shapes:
                key += (str(e.input_shapes),)
            if group_by_stack_n:
                key += (tuple(e.stack[:group_by_stack_n]),)
            avg = groups.get(key)
            if avg is None:
                avg = groups[key] = FunctionEventAvg()
                avg.add(e)
                # (shapes and stack shown only when grouped by them, as torch's table)
                avg.input_shapes = e.input_shapes if group_by_input_shapes else []
                avg.stack = e.stack[:group_by_stack_n] if group_by_stack_n else []
            else:
                avg.add(e)
        return EventList(groups.values(), self._profile_memory)

    def total_average(self):
        total = FunctionEventAvg()
        for e in self:
            total.add(e)
        total.key = "Total"
        return total

    @property
    def self_cpu_time_total(self):
        return sum(e.self_cpu_time_total for e in self)

    def table(self, sort_by=None, row_limit=100, max_src_column_width=75,
              max_name_column_width=55, max_shapes_column_width=80, header=None,
              top_level_events_only=False, time_unit=None):
        """torch's profiler table: one row per event (or average), sorted by
        the attribute ``sort_by`` (largest first), at most ``row_limit`` rows."""
        return _table(self, sort_by, row_limit, max_src_column_width, max_name_column_width,
                      max_shapes_column_width, header, top_level_events_only, time_unit)

    def __str__(self):
        return self.table()

    def export_chrome_trace(self, path):
        """Write the events as Chrome trace JSON ("X" events, microseconds),
        which chrome://tracing and Perfetto open."""
        pid = os.getpid()
        events = [{"ph": "M", "name": "process_name", "pid": pid, "tid": 0,
                   "args": {"name": "python (ember)"}}]
        for tid in sorted({e.thread for e in self}):
            events.append({"ph": "M", "name": "thread_name", "pid": pid, "tid": tid,
                           "args": {"name": f"thread {tid}"}})
        for e in sorted(self, key=lambda e: e.time_range.start):
            ev = {"ph": "X", "cat": e.kind, "name": e.name, "pid": pid, "tid": e.thread,
                  "ts": round(e.time_range.start, 3), "dur": round(e.cpu_time_total, 3),
                  "args": {"External id": e.id}}
            if e.input_shapes:
                ev["args"]["Input Dims"] = e.input_shapes
            if e.cpu_memory_usage:
                ev["args"]["Memory (bytes)"] = e.cpu_memory_usage
            if e.stack:
                ev["args"]["Call stack"] = ";".join(e.stack)
            events.append(ev)
        with open(path, "w") as f:
            json.dump({"schemaVersion": 1, "displayTimeUnit": "ms", "traceEvents": events}, f)


# ---- torch's table -------------------------------------------------------------------------

_SORT_KEYS = ("cpu_time", "cpu_time_total", "self_cpu_time_total", "cpu_memory_usage",
              "self_cpu_memory_usage", "count")


def _format_time(us, unit=None):
    if unit == "s" or unit is None and us >= 1e6:
        return f"{us / 1e6:.3f}s"
    if unit == "ms" or unit is None and us >= 1e3:
        return f"{us / 1e3:.3f}ms"
    return f"{us:.3f}us"


def _format_share(us, total):
    if total == 0:
        return "NaN"
    return f"{us * 100.0 / total:.2f}%"


def _format_memory(n):
    kb = 1024
    if abs(n) >= kb ** 3:
        return f"{n / kb ** 3:.2f} GB"
    if abs(n) >= kb ** 2:
        return f"{n / kb ** 2:.2f} MB"
    if abs(n) >= kb:
        return f"{n / kb:.2f} KB"
    return f"{n} B"


def _tail(path, width):
    """The end of a long source path, marked by "..." (torch's trim_path)."""
    if len(path) > width:
        path = path[len(path) - width:]
        if len(path) > 3:
            path = "..." + path[3:]
    return path


def _table(events, sort_by, row_limit, max_src_column_width, max_name_column_width,
           max_shapes_column_width, header, top_level_events_only, time_unit):
    if not events:
        return ""
    if sort_by is not None:
        if any(d in sort_by for d in ("cuda", "device", "xpu", "privateuse1")):
            sort_by = None       # (no device times on the CPU: every one is 0, order kept)
        elif sort_by not in _SORT_KEYS:
            raise AttributeError(f"sort_by={sort_by!r} is not one of the profiler's keys: "
                                 f"{', '.join(_SORT_KEYS)}")
    if sort_by is not None:
        events = EventList(sorted(events, key=lambda e: getattr(e, sort_by), reverse=True),
                           events._profile_memory)
    has_mem = getattr(events, "_profile_memory", False)
    has_shapes = any(e.input_shapes for e in events)
    has_stack = any(e.stack for e in events)

    name_w = max(len(e.key) for e in events) + 4
    if max_name_column_width is not None:
        name_w = min(name_w, max_name_column_width)
    cols = [("Name", name_w), ("Self CPU %", 12), ("Self CPU", 12), ("CPU total %", 12),
            ("CPU total", 12), ("CPU time avg", 12)]
    if has_mem:
        cols += [("CPU Mem", 12), ("Self CPU Mem", 12)]
    cols.append(("# of Calls", 12))
    shapes_w = src_w = 0
    if has_shapes:
        shapes_w = min(max(len(str(e.input_shapes)) for e in events) + 4, max_shapes_column_width)
        cols.append(("Input Shapes", shapes_w))
    if has_stack:
        src_w = min(max(len(s) for e in events for s in (e.stack or [""])) + 4,
                    max_src_column_width)
        cols.append(("Source Location", src_w))

    def line(values):
        # (every column right-aligned but the source locations)
        return "".join((f"{v:<{w}}" if title == "Source Location" else f"{v:>{w}}") + "  "
                       for v, (title, w) in zip(values, cols))

    rule = "".join("-" * w + "  " for _, w in cols)
    width = len(rule) - 2
    total = sum(e.self_cpu_time_total for e in events)
    out = []
    if header is not None:
        out += ["=" * width, header]
    if top_level_events_only:
        out += ["=" * width, "This report only display top-level ops statistics"]
    out += [rule, line([c for c, _ in cols]), rule]
    rows = [e for e in events if not top_level_events_only or e.cpu_parent is None]
    if row_limit is not None and row_limit >= 0:
        rows = rows[:row_limit]
    for e in rows:
        name = e.key
        if max_name_column_width is not None and len(name) >= max_name_column_width - 3:
            name = name[:max_name_column_width - 3] + "..."
        vals = [name, _format_share(e.self_cpu_time_total, total),
                _format_time(e.self_cpu_time_total, time_unit),
                _format_share(e.cpu_time_total, total), _format_time(e.cpu_time_total, time_unit),
                _format_time(e.cpu_time_total / max(e.count, 1), time_unit)]
        if has_mem:
            vals += [_format_memory(e.cpu_memory_usage), _format_memory(e.self_cpu_memory_usage)]
        vals.append(str(e.count))
        if has_shapes:
            vals.append(str(e.input_shapes)[:shapes_w])
        if has_stack:
            vals.append(_tail(e.stack[0], src_w) if e.stack else "")
        out.append(line(vals))
        if has_stack:
            # the rest of the stack below the row, then an empty row
            for frame in e.stack[1:]:
                out.append(line([""] * (len(cols) - 1) + [_tail(frame, src_w)]))
            out.append(line([""] * len(cols)))
    out.append(rule)
    out.append(f"Self CPU time total: {_format_time(total, time_unit)}")
    return "\n".join(out) + "\n"
