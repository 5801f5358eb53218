#!/usr/bin/env bash
# A libFuzzer campaign on one C harness (native/fuzz/fuzz_NAME.c), or the replay of the committed seeds of all:
#   scripts/fuzz-native.sh NAME [MINUTES]   NAME: matmul | quantize | attention | moe   (default 10 minutes)
#   scripts/fuzz-native.sh replay           every harness over its seeds (native/fuzz/corpus/NAME/), seconds
# (scripts/fuzz.sh native-NAME MINUTES does the same.) Builds java/target/native-build-fuzz with clang (FUZZ_OPT, default -O1),
# -DPANAMAX_FUZZ=ON: the library's objects with coverage, AddressSanitizer and UndefinedBehaviorSanitizer. The
# corpus grows in java/target/fuzz-corpus/NAME (not committed; seeds come from native/fuzz/corpus/NAME); a finding
# (a sanitizer report, a result that differs from the scalar reference, a kernel that refuses a shape its contract
# allows) stops the run and is written as native/fuzz/corpus/NAME/crash-*: commit it with the fix, it then replays.
# FUZZ_TIMEOUT (seconds, default 600) is libFuzzer's per-input limit, in wall time: on a machine where the campaign can
# be stopped (SIGSTOP) for longer than that, raise it, or a stopped input is reported as a timeout.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
NAME=${1:?usage: scripts/fuzz-native.sh matmul|quantize|attention|moe|replay [minutes]}
MINUTES=${2:-10}
CC=${CC:-$(command -v clang || ls /usr/bin/clang-[0-9]* 2>/dev/null | sort -V | tail -1 || true)}
[ -n "$CC" ] || { echo "fuzz-native: clang is needed (apt-get install clang)" >&2; exit 1; }
BUILD=$ROOT/java/target/native-build-fuzz
cmake -S "$ROOT/native" -B "$BUILD" -DCMAKE_C_COMPILER="$CC" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS_DEBUG="${FUZZ_OPT:--O1} -g" -DPANAMAX_FUZZ=ON \
      -DBUILD_TESTING=OFF -DPANAMAX_EMU512=OFF >/dev/null
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
if [ "$NAME" = replay ]; then
  cmake --build "$BUILD" -j "$(nproc)" --target fuzz_matmul fuzz_quantize fuzz_attention fuzz_moe >/dev/null
  for d in "$ROOT"/native/fuzz/corpus/*/; do
    n=$(basename "$d")
    t0=$(date +%s)
    rc=0
    "$BUILD/fuzz/fuzz_$n" -runs=0 -artifact_prefix="$BUILD/" "$d" >"$BUILD/replay-$n.log" 2>&1 || rc=$?
    grep -E 'Done|ERROR|FINDING|SUMMARY' "$BUILD/replay-$n.log" || true
    echo "fuzz-native: $n replayed $(ls "$d" | wc -l) inputs in $(( $(date +%s) - t0 )) s"
    [ "$rc" -eq 0 ] || { tail -n 60 "$BUILD/replay-$n.log" >&2; echo "fuzz-native: $n fails on its corpus (exit $rc)" >&2; exit 1; }
  done
  exit 0
fi
cmake --build "$BUILD" -j "$(nproc)" --target "fuzz_$NAME" >/dev/null
SEEDS=$ROOT/native/fuzz/corpus/$NAME
CORPUS=$ROOT/java/target/fuzz-corpus/$NAME
mkdir -p "$SEEDS" "$CORPUS"
"$BUILD/fuzz/fuzz_$NAME" -max_total_time=$((MINUTES * 60)) -print_final_stats=1 -max_len=65536 -timeout="${FUZZ_TIMEOUT:-600}" -report_slow_units="${FUZZ_TIMEOUT:-600}" \
    -rss_limit_mb=4096 -artifact_prefix="$SEEDS/" "$CORPUS" "$SEEDS"
