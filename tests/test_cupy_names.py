"""Every array-namespace name the ops use exists in CuPy (tools/cupy_names.py).

Ops compute through ``xp = namespace(x)``, CuPy on the GPU.  A NumPy name
CuPy lacks (``xp.errstate``), a ufunc method CuPy has only for a few ufuncs
(``xp.maximum.accumulate``) or a keyword its function does not take fails
only on a GPU; this catches it on any machine where CuPy is importable
(it needs no device).  Skipped where CuPy is not installed.
"""
import os
import sys

import numpy as np
import pytest

cupy = pytest.importorskip("cupy")

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "tools"))
import cupy_names  # noqa: E402


def _gaps(source, path="ember/ops/example.py"):
    uses = cupy_names.uses_in(os.path.join(cupy_names.ROOT, path), source)
    return sorted(cupy_names.gaps(uses, cupy, np))


def test_every_name_the_ops_use_exists_in_cupy():
    found = cupy_names.gaps(cupy_names.all_uses(), cupy, np)
    assert not found, "names CuPy lacks (run tools/cupy_names.py --gaps): " + ", ".join(
        f"xp.{k} at {v[0].where()}" for k, v in sorted(found.items()))


def test_the_scan_sees_the_namespace_spellings():
    src = """
def f(x, b):
    xp = namespace(x)
    xp.exp(x)
    b.xp.log(x)
    namespace(x).sqrt(x)
    XP[type(x)].abs(x)
    xp.linalg.norm(x)
"""
    uses = cupy_names.uses_in(os.path.join(cupy_names.ROOT, "ember/ops/example.py"), src)
    assert sorted(u.chain for u in uses) == ["abs", "exp", "linalg.norm", "log", "sqrt"]


def test_a_missing_name_is_a_gap():
    assert _gaps("def f(x):\n    xp = namespace(x)\n    with xp.errstate(all='ignore'):\n"
                 "        pass\n") == ["errstate"]


def test_a_ufunc_method_cupy_has_not_is_a_gap():
    src = """
def f(x, i, v):
    xp = namespace(x)
    xp.add.at(x, i, v)
    xp.multiply.at(x, i, v)
    xp.maximum.reduce(x, axis=0)
    xp.add.reduce(x, axis=0)
    xp.logaddexp.accumulate(x, axis=0)
"""
    assert _gaps(src) == ["logaddexp.accumulate", "maximum.reduce", "multiply.at"]


def test_a_ufunc_named_at_run_time_cannot_be_proved():
    src = "def f(x, name):\n    xp = namespace(x)\n    return getattr(xp, name).reduce(x, 0)\n"
    assert _gaps(src) == ["<computed>.reduce"]
    # a constant name is looked up as if spelled out
    assert _gaps("def f(x):\n    return getattr(namespace(x), 'exp')(x)\n") == []


def test_a_keyword_or_argument_count_cupy_does_not_take_is_a_gap():
    src = """
def f(x):
    xp = namespace(x)
    xp.exp(x, where=x > 0)
    xp.exp(x, x, x)
"""
    assert _gaps(src) == ["exp(3 positional)", "exp(where=)"]


def test_array_flags_cupy_lacks_are_listed_for_review():
    src = """
def f(a):
    if a.flags.writeable and a.flags.c_contiguous:
        a.flags.writeable = False
    return getattr(a.flags, "writeable", True)
"""
    uses = cupy_names.uses_in(os.path.join(cupy_names.ROOT, "ember/ops/example.py"), src)
    flagged = cupy_names.flag_uses(uses, cupy)
    assert list(flagged) == ["<array>.flags.writeable"]
    assert [u.line for u in flagged["<array>.flags.writeable"]] == [3, 4]
    assert cupy_names.gaps(uses, cupy, np) == {}      # (reviewed, not counted)


def test_a_generic_kernel_the_cuda_table_replaces_is_not_a_gap():
    # cum_extreme's generic formula uses maximum.accumulate; the CUDA table has its own
    assert "cum_extreme" in cupy_names.gpu_kernel_names()
    src = "def cum_extreme(x, axis, largest):\n    xp = namespace(x)\n" \
          "    return xp.maximum.accumulate(x, axis=axis)\n"
    assert _gaps(src, "ember/backends/generic/example.py") == []
    assert _gaps(src, "ember/ops/example.py") == ["maximum.accumulate"]
