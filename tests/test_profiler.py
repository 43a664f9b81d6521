"""ember.profiler: what a training step's profile holds, the table as torch
prints it, schedules, the Chrome trace, and that nothing is watched after."""
import gc
import json
import threading
import time
import warnings

import numpy as np
import pytest

import ember
from ember.autograd import _observe, engine as _engine
from ember.profiler import (ProfilerAction, ProfilerActivity, profile, record_function,
                            schedule, tensorboard_trace_handler)

EVAL = "autograd::engine::evaluate_function: "


def _model(d_in=32, hidden=64, d_out=10):
    ember.manual_seed(0)
    model = ember.nn.Sequential(ember.nn.Linear(d_in, hidden), ember.nn.ReLU(),
                                ember.nn.Linear(hidden, d_out))
    return model, ember.optim.SGD(model.parameters(), lr=0.1)


def _step(model, opt, x, y):
    opt.zero_grad()
    loss = ember.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    return loss


def test_table_lists_the_ops_of_a_training_step():
    model, opt = _model()
    x, y = ember.randn(16, 32), ember.randint(0, 10, (16,))
    steps = 3
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            with record_function("train_step"):
                _step(model, opt, x, y)
    avg = {e.key: e for e in prof.key_averages()}
    assert avg["aten::linear"].count == 2 * steps
    assert avg["aten::relu"].count == steps
    assert avg["aten::cross_entropy_loss"].count == steps
    assert avg[EVAL + "AddmmBackward0"].count == 2 * steps
    assert avg[EVAL + "ReluBackward0"].count == steps
    assert avg[EVAL + "torch::autograd::AccumulateGrad"].count == 4 * steps
    assert avg["Optimizer.step#SGD.step"].count == steps
    assert avg["Optimizer.zero_grad#SGD.zero_grad"].count == steps
    assert avg["train_step"].count == steps
    # train_step holds everything: its total is the sum of its self time and
    # its children's totals, and it is the only top-level event.
    for e in prof.events():
        assert e.cpu_time_total + 1e-6 >= e.self_cpu_time_total >= -1e-6
        assert abs(e.cpu_time_total - e.self_cpu_time_total
                   - sum(c.cpu_time_total for c in e.cpu_children)) < 1e-3
        assert (e.cpu_parent is None) == (e.name == "train_step")
    table = prof.key_averages().table(sort_by="cpu_time_total", row_limit=10)
    lines = table.splitlines()
    assert lines[1].split() == ["Name", "Self", "CPU", "%", "Self", "CPU", "CPU", "total", "%",
                                "CPU", "total", "CPU", "time", "avg", "#", "of", "Calls"]
    assert len(lines) == 3 + 10 + 2
    assert lines[3].split()[0] == "train_step"     # (the largest total first)
    assert lines[-1].startswith("Self CPU time total: ")
    totals = [e.cpu_time_total for e in sorted(prof.key_averages(),
                                                key=lambda e: -e.cpu_time_total)]
    assert totals == sorted(totals, reverse=True)


def test_self_times_add_up_to_the_wall_time():
    """The ops' self times cover the profiled region: Ember's Python between
    ops (module calls, the engine's walk) is the only time no event holds."""
    model, opt = _model(256, 512, 256)
    x, y = ember.randn(256, 256), ember.randint(0, 256, (256,))
    _step(model, opt, x, y)
    ratios = []
    gc.collect()            # (once: a full collection of a whole run's heap takes ~0.2 s)
    for _ in range(3):
        gc.disable()        # (a collection of pytest's garbage is no op's time)
        try:
            with profile() as prof:
                t0 = time.perf_counter_ns()
                for _ in range(3):
                    _step(model, opt, x, y)
                wall = (time.perf_counter_ns() - t0) / 1e3
        finally:
            gc.enable()
        total = prof.events().self_cpu_time_total
        assert total <= wall * 1.001
        ratios.append(total / wall)
    assert max(ratios) >= 0.8, ratios


def _as_torch_events(events, memory):
    """Our events as torch's FunctionEvents (same times, shapes, memory)."""
    from torch.autograd.profiler_util import EventList, FunctionEvent as TorchEvent
    made = {}
    for e in events:
        made[e.id] = TorchEvent(e.id, e.name, e.thread, e.time_range.start, e.time_range.end,
                                input_shapes=e.input_shapes, stack=list(e.stack), cpu_memory_usage=e.cpu_memory_usage,
                                is_user_annotation=e.kind == "user_annotation")
    out = EventList(list(made.values()), profile_memory=memory)
    out._build_tree()      # (torch nests them itself, from their times and threads)
    return out


def test_the_table_is_torchs():
    """torch's own table code, given the same events, prints the same table."""
    pytest.importorskip("torch")
    model, opt = _model()
    x, y = ember.randn(5, 32), ember.randint(0, 10, (5,))
    for memory in (False, True):
        with profile(record_shapes=True, profile_memory=memory, with_stack=memory) as prof:
            with record_function("a rather long label that will not fit in the name column"):
                _step(model, opt, x, y)
        ours, theirs = prof.events(), _as_torch_events(prof.events(), memory)
        for e, t in zip(ours, theirs):
            assert e.self_cpu_time_total == pytest.approx(t.self_cpu_time_total, abs=1e-6)
            assert e.self_cpu_memory_usage == t.self_cpu_memory_usage
        for group, kw in ((False, dict(sort_by="cpu_time_total", row_limit=10)),
                          (True, dict(sort_by="self_cpu_time_total", row_limit=5)),
                          (False, dict(sort_by="count", top_level_events_only=True)),
                          (False, dict(sort_by="cpu_memory_usage", max_name_column_width=30)),
                          (True, dict(sort_by="self_cpu_memory_usage", time_unit="ms")),
                          (False, dict(row_limit=0, header="nothing")),
                          (False, dict(max_src_column_width=20, row_limit=-1))):
            n = 2 if memory else 0       # (with_stack: rows grouped by two stack frames)
            a = ours.key_averages(group_by_input_shapes=group, group_by_stack_n=n).table(**kw)
            b = theirs.key_averages(group_by_input_shapes=group, group_by_stack_n=n).table(**kw)
            assert a == b, (group, kw)
    a = prof.key_averages(group_by_input_shape=True).table(sort_by="cpu_time_total")
    assert "Input Shapes" in a and "[[5, 32], [64, 32], [64]]" in a and "CPU Mem" in a
    assert "test_profiler.py" in prof.key_averages(group_by_stack_n=1).table()
    lin = [e for e in prof.key_averages() if e.key == "aten::linear"][0]
    assert lin.cpu_memory_usage == lin.self_cpu_memory_usage == 5 * 64 * 4 + 5 * 10 * 4


def test_record_function_decorator_and_nesting():
    @record_function("outer")
    def work(t):
        with record_function("inner"):
            return (t * 2).sum()

    t = ember.ones(3)
    assert work(t).item() == 6.0                 # no profiler: it only runs
    with profile(record_shapes=True) as prof:
        work(t)
    ev = {e.name: e for e in prof.events()}
    assert ev["inner"].cpu_parent is ev["outer"]
    assert ev["aten::mul"].cpu_parent is ev["inner"]
    assert ev["aten::sum"].input_shapes[0] == [3]
    assert ev["outer"].cpu_time_total >= ev["inner"].cpu_time_total


def test_results_unchanged_and_nothing_watched_after():
    model, opt = _model()
    x, y = ember.randn(4, 32), ember.randint(0, 10, (4,))
    mul_forward = ember.ops.elementwise.Mul.__dict__["forward"]
    accumulate = _engine._accumulate_leaf
    loss = ember.nn.functional.cross_entropy(model(x), y)
    grads = ember.autograd.grad(loss, list(model.parameters()))
    with profile(profile_memory=True, with_stack=True):
        loss = ember.nn.functional.cross_entropy(model(x), y)
        grads2 = ember.autograd.grad(loss, list(model.parameters()))
    for a, b in zip(grads, grads2):
        assert np.array_equal(a.numpy(), b.numpy())
    assert not _observe.active()
    assert ember.ops.elementwise.Mul.__dict__["forward"] is mul_forward
    assert "forward" not in ember.nn.functional.activation._Threshold.__dict__ or \
        not getattr(ember.nn.functional.activation._Threshold.forward, "__wrapped__", None)
    assert _engine._accumulate_leaf is accumulate
    assert ember.profiler._profile._current is None


def test_schedule_matches_torch():
    tp = pytest.importorskip("torch.profiler")
    for kw in (dict(wait=1, warmup=1, active=2), dict(wait=2, warmup=1, active=3, repeat=2),
               dict(wait=1, warmup=2, active=1, skip_first=3),
               dict(wait=2, warmup=1, active=1, skip_first=1, skip_first_wait=1)):
        ours, theirs = schedule(**kw), tp.schedule(**kw)
        assert [ours(i).name for i in range(20)] == [theirs(i).name for i in range(20)], kw
    with pytest.raises(AssertionError, match="Invalid profiler schedule"):
        schedule(wait=0, warmup=0, active=0)
    with pytest.warns(UserWarning, match="warmup"):
        schedule(wait=1, warmup=0, active=1)


def test_schedule_records_only_active_steps():
    t = ember.ones(2, requires_grad=True)
    traces = []

    def ready(p):
        steps = sorted(e.name for e in p.events() if e.name.startswith("ProfilerStep#"))
        traces.append((p.step_num, steps, sum(e.name == "aten::mul" for e in p.events())))

    watched = []
    with profile(schedule=schedule(wait=1, warmup=1, active=2, repeat=2),
                 on_trace_ready=ready) as prof:
        for i in range(10):
            (t * float(i)).sum().backward()
            watched.append(_observe.active())
            prof.step()
    assert traces == [(4, ["ProfilerStep#2", "ProfilerStep#3"], 2),
                      (8, ["ProfilerStep#6", "ProfilerStep#7"], 2)]
    assert watched == [False, True, True, True, False, True, True, True, False, False]
    assert not _observe.active()


def test_chrome_trace_and_tensorboard_handler(tmp_path):
    model, opt = _model()
    x, y = ember.randn(4, 32), ember.randint(0, 10, (4,))
    with profile(record_shapes=True) as prof:
        _step(model, opt, x, y)
    path = tmp_path / "trace.json"
    prof.export_chrome_trace(str(path))
    trace = json.loads(path.read_text())
    spans = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    assert len(spans) == len(prof.events())
    for e in spans:
        assert isinstance(e["ts"], (int, float)) and e["dur"] >= 0
        assert isinstance(e["pid"], int) and isinstance(e["tid"], int)
    names = {e["name"] for e in spans}
    assert "aten::linear" in names and EVAL + "AddmmBackward0" in names
    lin = next(e for e in spans if e["name"] == "aten::linear")
    assert lin["args"]["Input Dims"] == [[4, 32], [64, 32], [64]]
    # nested events lie inside their parents
    by_start = sorted(spans, key=lambda e: e["ts"])
    step = next(e for e in by_start if e["name"] == "Optimizer.step#SGD.step")
    assert all(step["ts"] <= e["ts"] and e["ts"] + e["dur"] <= step["ts"] + step["dur"] + 1e-3
               for e in spans if e["name"] == "Optimizer.step#SGD.step")

    with profile(schedule=schedule(wait=0, warmup=1, active=1),
                 on_trace_ready=tensorboard_trace_handler(str(tmp_path / "tb"), "w0")) as prof:
        for _ in range(2):
            _step(model, opt, x, y)
            prof.step()
    files = list((tmp_path / "tb").glob("w0.*.pt.trace.json"))
    assert len(files) == 1 and json.loads(files[0].read_text())["traceEvents"]


def test_other_threads_are_recorded():
    def work():
        (ember.ones(3) + 1).sum()
    with profile() as prof:
        th = threading.Thread(target=work)
        th.start()
        th.join()
        work()
    adds = [e for e in prof.events() if e.name == "aten::add"]
    assert len({e.thread for e in adds}) == 2


def test_errors():
    with profile():
        with pytest.raises(RuntimeError, match="already enabled"):
            with profile():
                pass
    with pytest.warns(UserWarning, match="CPU only"):
        profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA])
    with profile() as prof:
        ember.ones(2).sum()
    with pytest.raises(AttributeError, match="sort_by"):
        prof.key_averages().table(sort_by="wall_time")
    # device columns sort as zeros: the table still prints
    assert "Self CPU time total" in prof.key_averages().table(sort_by="cuda_time_total")
    assert ProfilerAction.RECORD_AND_SAVE.name == "RECORD_AND_SAVE"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with profile(activities=[ProfilerActivity.CPU]):
            pass
