# Ember: `make demo` and `make test` are all a newcomer needs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DATA ?= $(if $(EMBER_DATA),$(EMBER_DATA),../shared/data)

.PHONY: demo test test-guard test-fake-cuda test-slow fuzz bench install clean

$(VENV)/.base: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip >/dev/null 2>&1 || true
	$(PY) -m pip install -q -e '.[extras]'
	touch $@

$(VENV)/.test: $(VENV)/.base
	$(PY) -m pip install -q -e '.[test]'
	touch $@

install: $(VENV)/.base

demo: $(VENV)/.base
	$(PY) examples/demo.py --data $(DATA)

# Two test processes on two cores: one BLAS/torch thread each avoids oversubscription.
# PYTHONDONTWRITEBYTECODE is emptied (Python's default) so that bytecode caches are
# kept: without them every test process re-parses Ember (2.4 MB of source) and
# pytest re-rewrites the asserts of every test file: ~5 s of CPU per process.
TEST_ENV := OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONDONTWRITEBYTECODE=
# pytest's logging plugin attaches its handlers to every non-propagating logger
# (torch registers ~50) six times per test: ~0.5 ms a test, ~5 s of CPU a run.
# No test reads log records (no caplog); a failing test's warnings still show,
# through Python's last-resort handler on the captured stderr.
PYTEST := $(PY) -m pytest -p no:logging

test: $(VENV)/.test
	$(TEST_ENV) $(PYTEST) -n 2 -q
	$(MAKE) --no-print-directory test-guard

# The suite again with every tensor on the guard backend (tests/guard_backend.py),
# whose arrays refuse NumPy calls that bypass the backend seam.  Left out: files
# that test the CPU itself (the compiled-kernel spies of test_jit, CPU repr and
# device checks of test_creation, the CPU index tensors torch's packing keeps in
# test_nn_rnn, the CPU pool's thread and fork stress of test_thread_safety_pool),
# and data pipelines and examples, which feed CPU batches to a
# model on the default device (a cross-device program), as does the one
# elementwise test that mixes NumPy arrays into tensor arithmetic.  test_distributed's
# workers are separate MPI processes the guard does not reach (its collectives
# worker runs a guard-backend section itself).  test_side_effects only runs
# fresh processes (which the guard does not reach either).  test_conv_winograd
# spies on a compiled CPU kernel (the guard's generic convs never reach it).
# test_pool_steal tests the CPU pool's claims on NumPy arrays and CPU splits.
GUARD_SKIP := jit creation nn_rnn data examples distributed thread_safety_pool side_effects \
	conv_winograd pool_steal
# Also left out: test_kernels' tests of the CPU pool on plain NumPy arrays
# (threaded GEMM, parallel_for and its hand-off), which no tensor and so no device reaches.
GUARD_DESELECT := test_elementwise.py::test_reflected_operators_with_numpy_scalars_and_arrays \
	test_kernels.py::test_threaded_matmul_matches_numpy \
	test_kernels.py::test_parallel_for_covers_every_index_once \
	test_kernels.py::test_parallel_for_wakes_a_sleeping_worker \
	test_kernels.py::test_pool_post_and_pause_primitives
# Tests marked guard_skip run no Ember tensor op in the test process, so the
# guard has nothing to check there: test_threads' torch halves (torch alone) and
# its inf/nan probe (a fresh process), test_example_programs' torch Hogwild
# (torch alone), test_bfloat16's import without ml_dtypes (a fresh process),
# test_api_gaps' torch.compile argument errors (no tensor is made; torch's side
# imports TorchDynamo, ~1 s).
test-guard: $(VENV)/.test
	EMBER_TEST_DEVICE=guard $(TEST_ENV) $(PYTEST) -n 2 -q -p no:warnings \
		-m "not slow and not guard_skip" \
		$(foreach f,$(GUARD_SKIP),--ignore=tests/test_$(f).py) \
		$(foreach t,$(GUARD_DESELECT),--deselect tests/$(t))

# The op test files with every tensor on the fake CUDA device of tests/fake_cuda.py
# (NumPy underneath, refusing what CuPy refuses: NumPy arrays in a device
# computation, .numpy(), flags.writeable): what a GPU run would hit, found without a
# GPU.  Not part of `make test`.  The files are tests/device_test_files.txt, the
# list tools/gpu_check.sh runs on the real GPU; the test_gpu_tools check proves the
# tensors really were on "cuda".
DEVICE_FILES = $(shell awk '$$1 != "deselect" && $$1 !~ /^\#/ { $$1 = ""; print }' tests/device_test_files.txt)
DEVICE_DESELECT = $(shell awk '$$1 == "deselect" { $$1 = ""; print }' tests/device_test_files.txt)
test-fake-cuda: $(VENV)/.test
	EMBER_TEST_DEVICE=fake-cuda $(TEST_ENV) $(PYTEST) -n 2 -q -p no:warnings \
		-m "not slow and not guard_skip" $(DEVICE_FILES) \
		tests/test_gpu_tools.py::test_test_device_is_honoured \
		$(foreach t,$(DEVICE_DESELECT),--deselect $(t))

test-slow: $(VENV)/.test
	$(TEST_ENV) $(PYTEST) -m slow -q -o addopts=""

# Differential fuzzing against torch, the long randomized campaign
# (FUZZ_EXAMPLES=N for more or fewer programs; the default suite runs a short fixed-seed one).
fuzz: $(VENV)/.test
	EMBER_FUZZ_EXAMPLES=$(or $(FUZZ_EXAMPLES),3000) $(PYTEST) -m slow -q -o addopts="" tests/test_fuzz.py

bench: $(VENV)/.test
	$(PY) bench/run.py
	$(PY) bench/kernels.py
	$(PY) bench/memory.py

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
