#!/usr/bin/env bash
# Java tests against the AddressSanitizer + UBSan build of the C library: out-of-bounds reads and writes that Java's
# checks (Checks, before every downcall) let through abort the test JVM with an ASan report.
#   scripts/test-java-asan.sh [TEST-CLASSES]   (default: the set below; -Dpanamax.hostile.random=N via HOSTILE_RANDOM)
# The library is java/target/native-build-asan/libpanamax.so (the build ./panamax test's sanitizer run makes); the
# test JVMs preload gcc's libasan (the JVM itself is not instrumented) with JVM-friendly options: the JVM's own SIGSEGV
# handling stays (implicit null checks, safepoints), no leak check (the JVM never frees much at exit), no
# use-after-return (it swaps stacks under ASan). LibraryPathTest fails if the ASan library was not the one loaded.
# Processes the test JVM starts inherit the preload: procps' ps under gcc 12's libasan hangs at start (a futex wait),
# so tests that spawn tools do not belong in this set, and surefire's process checker (it runs ps) must stay off.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TESTS=${1:-LibraryPathTest,KernelsTest,HostileCorpusTest,EngineTest,PackedWeightsTest,QuantizedKvCacheTest,DeepseekStateTest}
if [ -z "${JAVA_HOME:-}" ] || ! "$JAVA_HOME/bin/java" -version 2>&1 | grep -q 'version "2[5-9]'; then
  for d in /usr/lib/jvm/*25*; do [ -x "$d/bin/java" ] && JAVA_HOME=$d && break; done
fi
export JAVA_HOME
BUILD=$ROOT/java/target/native-build-asan
cmake -S "$ROOT/native" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPANAMAX_WERROR=ON \
      -DPANAMAX_SANITIZE=address,undefined -DPANAMAX_EMU512=OFF >/dev/null
cmake --build "$BUILD" -j "$(nproc)" --target panamax >/dev/null
LIBASAN=$(gcc -print-file-name=libasan.so)
LIBUBSAN=$(gcc -print-file-name=libubsan.so)
[ -f "$LIBASAN" ] || { echo "test-java-asan: libasan not found (gcc -print-file-name=libasan.so)" >&2; exit 1; }
OPTS=detect_leaks=0:handle_segv=0:handle_sigbus=0:handle_sigfpe=0:allow_user_segv_handler=1:detect_stack_use_after_return=0
REPORTS=$ROOT/java/target/asan-java-reports
rm -rf "$REPORTS" && mkdir -p "$REPORTS"
OPTS=$OPTS:abort_on_error=1:halt_on_error=1:log_path=$REPORTS/asan
cd "$ROOT"
mvn -B -q -pl java test-compile -Dctest.skip=true >/dev/null
LOG=$ROOT/java/target/test-java-asan.log
# A test JVM can also end without a sanitizer report: a JVM crash (hs_err, sent to REPORTS), or surefire's fork
# ending itself with System.exit(1) when the test engine throws (JUnit rethrows an OutOfMemoryError or another
# unrecoverable error): surefire writes that reason only to surefire-reports/*.dump, shown below.
SUREFIRE=$ROOT/java/target/surefire-reports
mkdir -p "$SUREFIRE" && find "$SUREFIRE" -maxdepth 1 -name '*.dump*' -delete
rc=0
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$REPORTS/ubsan \
mvn -B -pl java surefire:test -Dtest="$TESTS" -Dsurefire.failIfNoSpecifiedTests=false \
    -Dpanamax.hostile.random="${HOSTILE_RANDOM:-25}" \
    -Dpanamax.test.preload="$LIBASAN:$LIBUBSAN" -Dpanamax.test.asanOptions="$OPTS" \
    -Dpanamax.test.jvmArgs="-Dpanamax.library.path=$BUILD/libpanamax.so -XX:ErrorFile=$REPORTS/hs_err_pid%p.log" \
    >"$LOG" 2>&1 || rc=$?
grep -E 'Tests run:|FAIL|==[0-9]+==|runtime error|SUMMARY|BUILD|Exit Code|terminated without' "$LOG" || true
# a report aborts its test JVM (surefire: a crashed fork) and is written to REPORTS
if [ -n "$(ls -A "$REPORTS")" ]; then cat "$REPORTS"/* >&2; rc=1; fi
for d in "$SUREFIRE"/*.dump; do
  [ -f "$d" ] || continue
  echo "test-java-asan: surefire's fork ended abnormally ($d):" >&2
  head -c 4000 "$d" >&2
  rc=1
done
[ "$rc" -eq 0 ] && echo "test-java-asan: passed ($TESTS)" || echo "test-java-asan: FAILED (log: $LOG)" >&2
exit "$rc"
