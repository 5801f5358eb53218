#!/usr/bin/env bash
# Soak: CLIENTS streaming clients send requests back to back for MINUTES against `./panamax serve` (completions and
# chat, random prompts and lengths, sampled; one request in ten dropped by its client mid-prompt or mid-stream), one
# table row per minute (finished, failed, dropped, TTFT and inter-token p50/p99, server RSS, KV blocks in use), then
# the checks: no failed request, every KV block and queue slot back when idle, RSS after the warm-up minute within 5%
# at the end. Exit status 1 when a check fails. The client is dev.panamax.server.SoakClient (server test classes).
#
#   usage: scripts/soak.sh
#   env:   MODEL=/tmp/llamacpp-ref/models/tinyllama-shape-1.1b-q4_0.gguf  THREADS=2  CLIENTS=32  MINUTES=30
#          PARALLEL=16 (engine sequences)  CTX=512 (per sequence)  HEAP=1g  SERVE_ARGS= (more `serve` flags,
#          e.g. "--step-target-ms 150")
# The server's heap is fixed and touched at start (-Xms = -Xmx = HEAP, -XX:+AlwaysPreTouch; PANAMAX_JAVA_OPTS
# overrides), as a latency-sensitive JVM service runs: RSS then shows what the server holds, not the collector
# growing its heap (with a default heap, 32 clients grew RSS by 16% over 15 minutes, then it stayed level).
set -euo pipefail
ROOT=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
MODEL=${MODEL:-/tmp/llamacpp-ref/models/tinyllama-shape-1.1b-q4_0.gguf}
THREADS=${THREADS:-2}
CLIENTS=${CLIENTS:-32}
MINUTES=${MINUTES:-30}
PARALLEL=${PARALLEL:-16}
CTX=${CTX:-512}
[ -f "$MODEL" ] || { echo "soak: no model file $MODEL (set MODEL=...; the TinyLlama-shaped files come from ../shared/tools/llamacpp-ref/setup.sh DIR --big)" >&2; exit 1; }

cd "$ROOT"
. "$ROOT/scripts/serve-lib.sh"
find_java
build_server_and_clients
TMP=$(mktemp -d)
cleanup() {
  stop_server
  rm -rf "$TMP"
}
trap cleanup EXIT
export PANAMAX_JAVA_OPTS=${PANAMAX_JAVA_OPTS:-"-Xms${HEAP:-1g} -Xmx${HEAP:-1g} -XX:+AlwaysPreTouch"}
echo "soak: PANAMAX_JAVA_OPTS=$PANAMAX_JAVA_OPTS ./panamax serve -m $MODEL --threads $THREADS --parallel $PARALLEL -c $CTX ${SERVE_ARGS:-}" >&2
# shellcheck disable=SC2086 # SERVE_ARGS: words
start_server "$TMP/server.log" -m "$MODEL" --threads "$THREADS" --parallel "$PARALLEL" -c "$CTX" --alias soak ${SERVE_ARGS:-}
VOCAB=$(./panamax info -m "$MODEL" 2>/dev/null | sed -n 's/^model.n_vocab *//p' | head -1)
"$JAVA" -XX:+UseParallelGC -cp server/target/test-classes:server/target/panamax-server.jar \
  dev.panamax.server.SoakClient --url "$URL" --clients "$CLIENTS" --minutes "$MINUTES" --pid "$SERVER_PID" --vocab "${VOCAB:-32000}"
echo "soak: server log lines by status: $(awk '{for (i = 1; i <= NF; i++) if ($i ~ /^[1-5][0-9][0-9]$/) {print $i; break}}' "$TMP/server.log" | sort | uniq -c | tr '\n' ' ')" >&2
