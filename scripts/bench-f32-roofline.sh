#!/usr/bin/env bash
# F32 roofline of all-MiniLM-L6-v2 on this CPU (scripts/f32-roofline/*.c against the built libpanamax.so):
#   peak   the clock and the FMA peak of one core (12 independent chains: ymm, zmm, vdpbf16ps), then two copies at once
#   gemmb  one layer's packed F32 products (384x384, 1536x384, 384x1536) and the encoder attention, 1 and 2 threads
#          (gemmb COLS REPS bf16, gemm6 COLS REPS bf16: the same on BF16 weights)
#   gemm6  the 36 products of the 6 layers (42 MB of distinct packed weights, more than L3) in model order
# usage: scripts/bench-f32-roofline.sh build          compile into java/target/f32-roofline (outside the queue)
#        scripts/bench-f32-roofline.sh [COLUMNS=481]  run them (quiet: through the measurement queue)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=java/target/f32-roofline
LIBDIR=$(pwd)/java/target/classes/dev/panamax/native/linux-x86_64
if [ "${1:-}" = build ]; then
  mkdir -p "$OUT"
  gcc -O3 -funroll-all-loops -march=x86-64-v4 -mavx512bf16 scripts/f32-roofline/peak.c -o "$OUT/peak"
  for p in gemmb gemm6; do
    gcc -O2 -Inative/include "scripts/f32-roofline/$p.c" -o "$OUT/$p" -L"$LIBDIR" -lpanamax -Wl,-rpath,"$LIBDIR"
  done
  exit 0
fi
COLS=${1:-481}
echo "== peak, one copy"; "$OUT/peak"
echo "== peak, two copies at once"; "$OUT/peak" > "$OUT/peak-a.txt" & "$OUT/peak"; wait; cat "$OUT/peak-a.txt"
echo "== one layer's products and attention, $COLS columns"; "$OUT/gemmb" "$COLS" 30
echo "== the 6 layers' products, $COLS columns"; "$OUT/gemm6" "$COLS" 5
echo "== BF16 weights: one layer's products and attention, $COLS columns"; "$OUT/gemmb" "$COLS" 30 bf16
echo "== BF16 weights: the 6 layers' products, $COLS columns"; "$OUT/gemm6" "$COLS" 5 bf16
