#!/usr/bin/env bash
# Decode and prompt speed with other work on the machine: `./panamax bench` on an idle machine, then beside BUSY
# busy-looping processes (a stand-in for another service, the JIT or the GC holding a core), at 1 and 2 threads.
# Prints a markdown table (best of REPS measured runs per cell, ROUNDS rounds alternating the cells).
#
#   usage: scripts/bench-busy-core.sh
#   env:   MODELS="models/kjv-llama-4.6m-f16.gguf"  THREADS="1 2"  BUSY=1  ROUNDS=2  REPS=15  N_PROMPT=32  N_GEN=220
#          JAR=path/to/panamax-cli.jar (default: this checkout's, built first)
set -euo pipefail
ROOT=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
MODELS=${MODELS:-$ROOT/models/kjv-llama-4.6m-f16.gguf}
THREADS=${THREADS:-1 2}
BUSY=${BUSY:-1}
ROUNDS=${ROUNDS:-2}
REPS=${REPS:-15}
N_PROMPT=${N_PROMPT:-32}
N_GEN=${N_GEN:-220}
JAVA=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}/bin/java
if [ -z "${JAR:-}" ]; then
  "$ROOT/panamax" info >/dev/null # builds when the sources changed
  JAR=$ROOT/cli/target/panamax-cli.jar
fi

bench() { # MODEL THREADS -> "pp tg"
  "$JAVA" --enable-native-access=ALL-UNNAMED --add-modules jdk.incubator.vector -XX:+UseParallelGC -jar "$JAR" bench \
    -m "$1" -p "$N_PROMPT" -n "$N_GEN" -r "$REPS" --threads "$2" 2>&1 |
    awk '/^prompt \(/ {pp=$(NF-1)} /^decode \(/ {tg=$(NF-1)} END {print pp, tg}'
}
best() { awk -v a="$1" -v b="$2" 'BEGIN {print (a + 0 > b + 0 ? a : b)}'; }

declare -A PP TG
HOGS=()
stop_hogs() { for p in "${HOGS[@]}"; do kill "$p" 2>/dev/null || true; done; HOGS=(); }
trap stop_hogs EXIT
for round in $(seq "$ROUNDS"); do
  for busy in 0 "$BUSY"; do
    for ((i = 0; i < busy; i++)); do (while :; do :; done) & HOGS+=($!); done
    for m in $MODELS; do
      for t in $THREADS; do
        read -r pp tg < <(bench "$m" "$t")
        k="$m|$t|$busy"
        PP[$k]=$(best "${PP[$k]:-0}" "$pp")
        TG[$k]=$(best "${TG[$k]:-0}" "$tg")
      done
    done
    stop_hogs
  done
done

echo "| model | threads | prompt tok/s, idle | prompt, $BUSY busy core(s) | decode tok/s, idle | decode, $BUSY busy core(s) |"
echo "|---|---:|---:|---:|---:|---:|"
for m in $MODELS; do
  for t in $THREADS; do
    echo "| $(basename "$m") | $t | ${PP[$m|$t|0]} | ${PP[$m|$t|$BUSY]} | ${TG[$m|$t|0]} | ${TG[$m|$t|$BUSY]} |"
  done
done
