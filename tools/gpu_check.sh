#!/usr/bin/env bash
# One command for a GPU session (issue #16): Ember on CUDA, end to end.
#
#     PYTHONPATH=. bash tools/gpu_check.sh          # on the GPU machine, from the repo root
#     bash tools/gpu_check.sh --dry                 # anywhere: the CPU-runnable parts only
#     PYTHON=/work/main/.venv/bin/python bash tools/gpu_check.sh --pack
#
# Everything goes to "$OUT" (./gpu_check_out when unset): gpu_check.log (all of
# it), one STAGE.log per stage, STAGE.xml (pytest's JUnit report) for test
# stages, and summary.txt, the table of stages with their pass/fail counts.
#
# Stages, each under `timeout` (a failed or timed-out stage does not stop the
# next; pytest gets SIGINT at its limit, so it still prints its counts):
#   env          nvidia-smi, Python and library versions, what Ember sees
#   then at once, as parallel processes on the one GPU (their CuPy kernel
#   compilations are CPU work, and the machine has 16 cores; with pytest-xdist
#   the bigger stages split over several workers, 15 processes in all):
#   cuda_tests   tests/test_cuda*.py (the CUDA-specific tests)
#   op_registry  the op registry's cases (test_op_registry, test_special) with every
#                tensor on cuda (EMBER_TEST_DEVICE=cuda), against torch on the CPU
#   ops_core     elementwise, reduction, math, shape, indexing, autograd on cuda
#   ops_nn       the nn layer, conv, pool, norm, loss, attention tests on cuda
#   module       Module, optimizers, LR schedulers, save/load on cuda
#   then alone, so the GPU is quiet for the timings:
#   bench        bench/run.py --device cuda: Ember vs torch CUDA eager, memory peaks,
#                speedup over Ember on this machine's CPU
#   char_gpt     examples/char_gpt.py --preset gpu --device cuda --compare: Ember and
#                then torch train nanoGPT's shakespeare-char model; fails when the
#                validation losses differ by more than 3%
# Sized for one device command of at most 10 minutes: the limits below add up
# to under 9 minutes (40 + 200 + 130 + 160 s); each stage prints its seconds.
# A second run on the same machine is faster: CuPy keeps the kernels it
# compiled in ~/.cupy/kernel_cache.
#
# Each test stage also runs tests/test_gpu_tools.py::test_test_device_is_honoured,
# which fails unless the tensors really are on the device the stage asked for
# (so a tests/conftest.py that ignored EMBER_TEST_DEVICE=cuda cannot pass as CPU).
#
# Without a GPU (no `nvidia-smi -L`) or with --dry, the script says so, runs
# the parts a CPU can (versions, every stage's test files compile, pytest with
# the stages' flags, the bench's list, a 1-step char_gpt run of the same command
# on the CPU) and exits 0
# unless one of those failed.  tests/test_gpu_tools.py runs it that way.
#
# What the GPU machine needs: python3 with NumPy, CuPy, torch (CUDA), and
# pytest (plus hypothesis, which two op test files use).  If its python3 has
# no pytest, run `--pack` here first: it copies pytest, hypothesis and their
# pure-Python dependencies from this machine's Python into .gpu_pylib/ (git
# ignores it; hand it to the device run as a carried path), which the script
# appends to PYTHONPATH.  The char_gpt stage reads tinyshakespeare/input.txt
# from $EMBER_DATA, ./shared/data or ../shared/data; copy it into
# ./shared/data/ (an untracked folder travels with the tree) when the machine
# has none.
set -u

cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
PY=${PYTHON:-python3}
MODE=gpu
case "${1:-}" in
  --dry) MODE=dry ;;
  --pack) MODE=pack ;;
  "") ;;
  *) echo "usage: bash tools/gpu_check.sh [--dry | --pack]" >&2; exit 2 ;;
esac

if [ "$MODE" = pack ]; then
  # Copy the test runner's pure-Python packages (no compiled parts) into .gpu_pylib.
  SITE=$("$PY" -c "import os, pytest; print(os.path.dirname(os.path.dirname(pytest.__file__)))") \
    || { echo "$PY has no pytest to pack" >&2; exit 1; }
  rm -rf .gpu_pylib && mkdir -p .gpu_pylib
  for name in pytest _pytest py.py pluggy iniconfig packaging pygments hypothesis \
              _hypothesis_pytestplugin.py _hypothesis_globals.py _hypothesis_ftz_detector.py \
              sortedcontainers attr attrs xdist execnet; do
    [ -e "$SITE/$name" ] && cp -r "$SITE/$name" .gpu_pylib/
  done
  # (entry points: pytest finds hypothesis's and xdist's plugins through their dist-info)
  for dist in "$SITE"/pytest-*.dist-info "$SITE"/pluggy-*.dist-info "$SITE"/hypothesis-*.dist-info \
              "$SITE"/pytest_xdist-*.dist-info "$SITE"/execnet-*.dist-info; do
    [ -e "$dist" ] && cp -r "$dist" .gpu_pylib/
  done
  find .gpu_pylib -name __pycache__ -prune -exec rm -rf {} +
  echo "packed into .gpu_pylib: $(ls .gpu_pylib | tr '\n' ' ')"
  du -sh .gpu_pylib
  exit 0
fi

OUT=${OUT:-$ROOT/gpu_check_out}
mkdir -p "$OUT" || exit 1
OUT=$(cd "$OUT" && pwd)
rm -f "$OUT"/.stage_* "$OUT/summary.txt"
exec > >(tee -a "$OUT/gpu_check.log") 2>&1

# The machine's own packages first; .gpu_pylib (from --pack) only fills gaps.
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
[ -d "$ROOT/.gpu_pylib" ] && export PYTHONPATH="$PYTHONPATH:$ROOT/.gpu_pylib"
export PYTHONDONTWRITEBYTECODE=1   # (the tree may be read-only or shared)

if [ "$MODE" = gpu ] && ! nvidia-smi -L >/dev/null 2>&1; then
  echo "gpu_check: no GPU here (nvidia-smi -L failed): running the CPU-runnable parts only"
  MODE=dry
elif [ "$MODE" = dry ]; then
  echo "gpu_check: --dry: running the CPU-runnable parts only"
fi
echo "gpu_check: mode $MODE, output in $OUT, $(date -u '+%Y-%m-%d %H:%M:%S UTC')"

# ---- running a stage ------------------------------------------------------------------------
# stage NAME LIMIT_SECONDS COMMAND...: runs COMMAND under timeout, its output in
# NAME.log, and leaves one summary line in .stage_NAME.  pytest's counts come
# from its last summary line ("3 failed, 120 passed, 4 skipped in 9.1s").
stage() {
  local name=$1 limit=$2
  shift 2
  local t0 rc status counts
  t0=$(date +%s)
  echo "== $name: start (limit ${limit}s): $*"
  timeout -s INT -k 20 "$limit" "$@" >"$OUT/$name.log" 2>&1
  rc=$?
  if [ $rc -eq 0 ]; then status=PASS
  elif [ $rc -eq 124 ] || [ $rc -eq 137 ]; then status=TIMEOUT
  else status=FAIL; fi
  counts=$(grep -E '^(=+ )?[0-9]+(/[0-9]+)? (passed|failed|errors?|skipped|deselected|xfailed|xpassed|tests? collected)' \
           "$OUT/$name.log" | tail -1 | sed -E 's/^=+ //; s/ =+$//')
  # no test ran at all (nothing collected) is a failure of the stage, not a pass
  if [ $rc -eq 5 ]; then status=FAIL; counts="no tests collected"; fi
  # not pytest, or pytest stopped before its counts: the output's last line says why
  if [ -z "$counts" ]; then
    counts=$(grep -v '^[[:space:]]*$' "$OUT/$name.log" | tail -1 | cut -c1-90)
    [ $rc -ne 0 ] && counts="rc $rc: $counts"
  fi
  printf '%-12s %-8s %5ss  %s\n' "$name" "$status" "$(( $(date +%s) - t0 ))" \
    "$counts" >"$OUT/.stage_$name"
  echo "== $name: $(cat "$OUT/.stage_$name")"
  tail -n 25 "$OUT/$name.log" | sed "s/^/   [$name] /"
}

# pytest as the stages run it: the Makefile's test selection (no slow tests;
# guard_skip tests run no Ember op), a JUnit report, the slowest tests listed.
pytest_stage() {
  local name=$1 limit=$2
  shift 2
  stage "$name" "$limit" "$PY" -m pytest -q -p no:logging -p no:cacheprovider \
    -o addopts="" -m "not slow and not guard_skip" -rfE --tb=short --durations=10 \
    --junitxml="$OUT/$name.xml" "$@"
}

# workers N: pytest-xdist's "-n N" when it is installed (nothing otherwise).  On a
# fresh machine most of a stage's time is CuPy compiling each new kernel (NVRTC,
# CPU work, cached on disk for the next run), which more processes share out.
workers() {
  "$PY" -c "import xdist" 2>/dev/null && echo "-n $1"
}

# ---- the stages -----------------------------------------------------------------------------
DEVICE_CHECK=tests/test_gpu_tools.py::test_test_device_is_honoured
CUDA_TESTS=$(ls tests/test_cuda*.py 2>/dev/null | tr '\n' ' ')
# The stages' test files: tests/device_test_files.txt, the one list `make test-fake-cuda`
# runs too (a group name, then its files; "deselect" names single tests left out).
device_files() {
  awk -v g="$1" '$1 == g { $1 = ""; printf "%s ", $0 }' tests/device_test_files.txt
}
OP_REGISTRY=$(device_files op_registry)
OPS_CORE=$(device_files ops_core)
OPS_NN=$(device_files ops_nn)
MODULE=$(device_files module)
DESELECT=$(for t in $(device_files deselect); do printf -- '--deselect %s ' "$t"; done)

DATA=""
for root in "${EMBER_DATA:-}" "$ROOT/shared/data" "$ROOT/../shared/data"; do
  if [ -n "$root" ] && [ -f "$root/tinyshakespeare/input.txt" ]; then
    DATA="$root/tinyshakespeare/input.txt"; break
  fi
done

ENV_PROBE='
import importlib.metadata as md, platform, sys
print("python", sys.version.split()[0], platform.platform())
# (versions from the installed metadata: importing CuPy alone takes seconds)
for dist in ("numpy", "scipy", "numba", "cupy-cuda13x", "cupy-cuda12x", "cupy", "torch",
             "pytest", "hypothesis", "pytest-xdist"):
    try:
        print(f"{dist:14s} {md.version(dist)}")
    except md.PackageNotFoundError:
        print(f"{dist:14s} -")
import torch
print("torch.cuda.is_available()", torch.cuda.is_available(), "CUDA", torch.version.cuda)
if torch.cuda.is_available():
    print("torch sees", torch.cuda.get_device_name(), torch.cuda.get_device_capability())
import ember
print("ember", ember.__version__, ember.__file__)
ok = ember.cuda.is_available()
print("ember.cuda.is_available()", ok, "device_count", ember.cuda.device_count())
if not ok:
    from ember.backends import gpu
    print("why:", gpu.why())
if ok:
    x = ember.ones(4, device="cuda")
    print("ember on cuda:", (x * 2).sum().item(), x.device)
if sys.argv[1] == "gpu" and not ok:
    sys.exit("a GPU is here but Ember does not see it (ember.cuda.is_available() is False)")
'

T_START=$(date +%s)
{ nvidia-smi || echo "(no nvidia-smi)"; } >"$OUT/nvidia-smi.txt" 2>&1
stage env 40 "$PY" -c "$ENV_PROBE" "$MODE"
if [ -n "$DATA" ]; then echo "data: $DATA"; else
  echo "data: no tinyshakespeare/input.txt under \$EMBER_DATA, ./shared/data or ../shared/data"; fi

if [ "$MODE" = gpu ]; then
  # the test stages, in parallel (each on cuda; the CUDA-specific tests choose their device)
  # (waited for by process id: a bare `wait` would also wait for the log's tee)
  pids=""
  if [ -n "$CUDA_TESTS" ]; then
    pytest_stage cuda_tests 200 $CUDA_TESTS &
    pids="$pids $!"
  else
    printf '%-12s %-8s %5ss  %s\n' cuda_tests FAIL 0 "no tests/test_cuda*.py here" \
      >"$OUT/.stage_cuda_tests"
  fi
  export EMBER_TEST_DEVICE=cuda
  pytest_stage op_registry 200 $(workers 6) $OP_REGISTRY $DEVICE_CHECK &
  pids="$pids $!"
  pytest_stage ops_core 200 $(workers 3) $OPS_CORE $DESELECT $DEVICE_CHECK &
  pids="$pids $!"
  pytest_stage ops_nn 200 $(workers 3) $OPS_NN $DEVICE_CHECK &
  pids="$pids $!"
  pytest_stage module 200 $(workers 2) $MODULE $DEVICE_CHECK &
  pids="$pids $!"
  wait $pids
  unset EMBER_TEST_DEVICE
  stage bench 130 "$PY" bench/run.py --device cuda --rounds 5
  if [ -n "$DATA" ]; then
    stage char_gpt 160 "$PY" examples/char_gpt.py "$DATA" --preset gpu --device cuda --compare \
      --max-gap 3 --no-progress --sample 200 --out "$OUT/char_gpt"
  else
    printf '%-12s %-8s %5ss  %s\n' char_gpt FAIL 0 "no tinyshakespeare/input.txt (see the header)" \
      >"$OUT/.stage_char_gpt"
  fi
  STAGES="env cuda_tests op_registry ops_core ops_nn module bench char_gpt"
else
  # the CPU-runnable parts: every stage's test file is there and compiles, pytest
  # runs with the stages' flags (the device check, on the CPU), the bench lists
  # its device workloads, and the char_gpt stage's command runs 1 tiny step on the CPU
  stage files 60 "$PY" -c 'import sys; [compile(open(f).read(), f, "exec") for f in sys.argv[1:]]; print(len(sys.argv) - 1, "test files compile")' \
    $CUDA_TESTS $OP_REGISTRY $OPS_CORE $OPS_NN $MODULE
  pytest_stage pytest 60 $DEVICE_CHECK
  stage bench_list 60 "$PY" bench/run.py --list
  if [ -n "$DATA" ]; then
    stage char_gpt 120 "$PY" examples/char_gpt.py "$DATA" --preset gpu --device cpu --compare \
      --max-gap 50 --no-progress --sample 5 --out "$OUT/char_gpt" --text-size 5000 \
      --steps 1 --n-layer 1 --n-head 2 --n-embd 16 --block-size 16 --batch-size 2 --eval-iters 1
  else
    printf '%-12s %-8s %5ss  %s\n' char_gpt SKIP 0 "no tinyshakespeare/input.txt" \
      >"$OUT/.stage_char_gpt"
  fi
  STAGES="env files pytest bench_list char_gpt"
fi

# ---- summary --------------------------------------------------------------------------------
{
  echo "gpu_check ($MODE) $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(( $(date +%s) - T_START )) s in all"
  [ "$MODE" = dry ] && echo "no GPU used: the GPU stages did not run"
  printf '%-12s %-8s %6s  %s\n' stage status time counts
  for s in $STAGES; do cat "$OUT/.stage_$s"; done
  # the figures the issue asks for, as the stages printed them
  if [ -f "$OUT/bench.log" ]; then
    echo; echo "bench (bench.log):"; sed -n '/^workload/,$p' "$OUT/bench.log"
  fi
  if [ -f "$OUT/char_gpt.log" ]; then
    echo; echo "char_gpt (char_gpt.log):"
    grep -E '^\[(ember|torch)\] [0-9]+ steps in|^val loss|^FAIL' "$OUT/char_gpt.log"
  fi
} >"$OUT/summary.txt"
rm -f "$OUT"/.stage_*
echo
cat "$OUT/summary.txt"
if grep -qE '^[a-z_]+ +(FAIL|TIMEOUT) ' "$OUT/summary.txt"; then exit 1; fi
exit 0
