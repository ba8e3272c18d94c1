#!/bin/bash
# The CUDA path on a lent GPU machine, in one call (docs/BENCHMARKS.md "CUDA"): the loop, checkpoint,
# GAN, ensemble and RNN-resume tests with train.device=auto (so CUDA), beside a GAN recipe sweep
# (bench/gan_sweep.py) trained on the same GPU. The machine has PyTorch but no network, so prepare here with
# `bash bench/device_prep.sh` (data and the score's classifier in .dev/, the tomli_w wheel in .whl/),
# and run `bash bench/device_check.sh [resume|speed]` there with .dev and .whl carried; results land in $OUT.
#   resume (default)  the checks above. SWEEP (variant names), SWEEP_LIMIT and TEST_LIMIT (seconds) size it.
#   speed             issue 20's CUDA path: the fp16, probe, loop and GAN-resume tests on CUDA, then bench/cuda_speed.py
#                     (fashion_best's and the GAN's epoch times before and after the auto settings; EPOCHS, CASES).
cd "$(dirname "$0")/.."
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD DLP_DATA_DIR=$PWD/.dev/data DLP_CACHE_DIR=$PWD/.dev/cache PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1
python3 -c "import torch, dlpractice; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0))"
if [ "${1:-resume}" = speed ]; then
  timeout "${TEST_LIMIT:-200}" python3 -m pytest -q -p no:cacheprovider tests/train/test_fp16.py tests/train/test_speed_probe.py \
    tests/train/test_loop.py "tests/train/test_gan.py::test_ctrl_c_then_resume_is_exact" > "$OUT/pytest_speed.txt" 2>&1
  echo "pytest on cuda: exit $?"; tail -15 "$OUT/pytest_speed.txt"
  python3 bench/cuda_speed.py --epochs "${EPOCHS:-3}" --cases ${CASES:-fashion_best gan} 2>&1 | tee "$OUT/cuda_speed.txt"
  exit 0
fi
mkdir -p /tmp/sw
python3 bench/gan_sweep.py /tmp/sw --jobs 8 --limit "${SWEEP_LIMIT:-340}" --only "${SWEEP:-base,cos_ema,b32,b32_cos_ema,lr4_cos_ema}" \
  --set train.threads=1 --set log.progress=false > "$OUT/sweep.txt" 2>&1 &
SW=$!
timeout "${TEST_LIMIT:-300}" python3 -m pytest -q -p no:cacheprovider tests/train/test_loop.py tests/runs/test_checkpoint.py \
  tests/train/test_gan.py tests/models/test_ensemble.py tests/models/test_rnn.py::test_sequence_run_resumes_exactly > "$OUT/pytest_cuda.txt" 2>&1
echo "pytest on cuda: exit $?"
wait $SW
tar czf "$OUT/sweep.tgz" -C /tmp/sw --exclude='*.pt' .
echo "=== pytest tail"; tail -25 "$OUT/pytest_cuda.txt"
echo "=== sweep"; cat "$OUT/sweep.txt"
