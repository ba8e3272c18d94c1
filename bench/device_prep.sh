#!/bin/bash
# Prepare, on this machine, what bench/device_check.sh needs on a lent GPU machine (which has PyTorch and pytest
# but no network): the data sets and the GAN score's classifier under .dev/, the one missing wheel under .whl/,
# both ignored by git. Then call the device tool's run with
#   command: bash bench/device_check.sh speed      (or without "speed": the resume checks)
#   carry:   [".dev", ".whl"]
# DATA (default ../shared/data) and FASHION (default /usr/share/datasets/fashion-mnist) say where the data is.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data}
FASHION=${FASHION:-/usr/share/datasets/fashion-mnist}
mkdir -p .git/info .dev/data/fashion-mnist .dev/cache .whl
for p in /.dev/ /.whl/; do grep -qxF "$p" .git/info/exclude 2>/dev/null || echo "$p" >> .git/info/exclude; done
cp -r "$DATA"/. .dev/data/
cp "$FASHION"/* .dev/data/fashion-mnist/
if [ -d "${DLP_CACHE_DIR:-$HOME/.cache/dlpractice}/gan_scorer" ]; then   # else the GPU trains one (a minute)
  cp -r "${DLP_CACHE_DIR:-$HOME/.cache/dlpractice}/gan_scorer" .dev/cache/
fi
python3 -m pip download -q --no-deps --only-binary=:all: -d .whl tomli_w==1.0.0
du -sh .dev .whl   # the working tree that travels must stay under 64 MiB
