"""Targets for the processes tests/test_shared_memory.py starts with 'spawn'
(kept out of the test module, so that a spawned child imports Ember only)."""
import ember


def add_one_and_send_back_a_view(t, queue, done):
    """Write into ``t``, send a view of it back, and stay alive until the parent
    has received it (the sender of shared memory must outlive the receiving,
    as with torch)."""
    with ember.no_grad():
        t.add_(1)
    queue.put((t.is_shared(), t[1:]))
    done.wait(60)


def fill_what_arrives(queue, value):
    t = queue.get(timeout=60)
    t.fill_(value)
