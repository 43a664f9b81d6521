"""torch.profiler: time every op, forward and backward, of a block of code.

    with ember.profiler.profile(record_shapes=True) as prof:
        with ember.profiler.record_function("train_step"):
            loss = model(x).sum(); loss.backward(); opt.step()
    print(prof.key_averages().table(sort_by="cpu_time_total", row_limit=10))
    prof.export_chrome_trace("trace.json")

Nothing is watched unless a profiler records (see ``ember/autograd/_observe.py``).
"""
from ._events import EventList, FunctionEvent, FunctionEventAvg  # noqa: F401
from ._profile import (ProfilerAction, ProfilerActivity, profile, record_function, schedule,
                       supported_activities, tensorboard_trace_handler)

__all__ = ["profile", "schedule", "supported_activities", "tensorboard_trace_handler",
           "ProfilerAction", "ProfilerActivity", "record_function"]
