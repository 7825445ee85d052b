#!/usr/bin/env bash
# One command for a GPU host: build the compiled core, run the backend tests (the cupy cases
# run when a GPU is usable, the FSS kernel's too) and the sessions' GPU cases, run the ring
# benchmark on cupy and on the CPU, DCF evaluations per second on the GPU next to the CPU
# (bench_fss.py --cuda-only), and time the torch generators (TVAE, TabDDPM) on CUDA. Results go to
# $OUT (default ./gpu-results). Needs a Python with the requirements and cupy installed
# (`pip install -r requirements.txt cupy-cuda12x`, or cupy-cuda13x on a CUDA 13 host).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/gpu-results}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
status=0
{
  date -u; nvidia-smi || true; nvcc --version || true
  "$PY" -c "import cupy, numpy; print('cupy', cupy.__version__, 'numpy', numpy.__version__); print('gpu usable:', cupy.cuda.is_available())"
} >"$OUT/env.txt" 2>&1
"$PY" setup.py -q build_ext --inplace -j 8 >"$OUT/build.log" 2>&1 || { echo "build failed"; status=1; }
PYTHONPATH=$PWD "$PY" -m pytest -q -p no:cacheprovider tests/backend >"$OUT/tests.txt" 2>&1 || status=1
tail -3 "$OUT/tests.txt"
# the sessions' GPU cases (the FSS gates of a cupy session run on the host)
PYTHONPATH=$PWD "$PY" -m pytest -q -p no:cacheprovider -m gpu tests/mpc >"$OUT/tests_mpc_gpu.txt" 2>&1 || status=1
tail -3 "$OUT/tests_mpc_gpu.txt"
PYTHONPATH=$PWD "$PY" benchmarks/bench_ring.py --backend cupy --sizes 1024,2048,4096,8192 \
  --prg-mib 1024 --json >"$OUT/bench_ring_cupy.json" 2>"$OUT/bench_ring_cupy.err" || status=1
PYTHONPATH=$PWD "$PY" benchmarks/bench_ring.py --backend cython --sizes 256,512,1024 \
  --json >"$OUT/bench_ring_cpu.json" 2>"$OUT/bench_ring_cpu.err" || status=1
PYTHONPATH=$PWD "$PY" benchmarks/bench_fss.py --cuda-only --log2 24 --json "$OUT/bench_fss_cuda.json" \
  >"$OUT/bench_fss_cuda.txt" 2>&1 || status=1
PYTHONPATH=$PWD "$PY" benchmarks/bench_synth.py --speed-only --device cuda --json "$OUT/bench_synth_cuda.json" \
  >"$OUT/bench_synth_cuda.txt" 2>&1 || status=1
PYTHONPATH=$PWD "$PY" -m pytest -q -p no:cacheprovider tests/synth >"$OUT/tests_synth.txt" 2>&1 || status=1
cat "$OUT"/bench_ring_*.json "$OUT/bench_fss_cuda.txt" "$OUT/bench_synth_cuda.txt"
exit $status
