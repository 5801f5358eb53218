#!/usr/bin/env bash
# Serving speed through HTTP against the engine's own: K concurrent streaming clients over loopback against
# `./panamax serve`, then `./panamax bench --parallel K` on the same file, same threads, same shapes; prints a
# markdown table with HTTP / engine ratios (progress and the server's log on stderr).
#
#   usage: scripts/bench-serve.sh
#   env:   MODEL=/tmp/llamacpp-ref/models/tinyllama-shape-1.1b-q4_0.gguf  THREADS=2  CLIENTS=8
#          N_PROMPT=64  N_GEN=32  ROUNDS=3
#
# Both sides: K prompts of N_PROMPT random token ids (fixed seed), greedy decode of N_GEN tokens, an untimed warm-up
# then ROUNDS measured rounds, new prompts every round on both sides (nothing but warm code comes from earlier rounds:
# the prefix cache serves neither). The HTTP side is dev.panamax.server.LoadGenerator (server test classes): a virtual thread per client,
# java.net.http, /v1/completions with stream and include_usage. The server runs --parallel CLIENTS with a context of
# N_PROMPT + N_GEN, as the engine bench sizes its own.
set -euo pipefail
ROOT=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
MODEL=${MODEL:-/tmp/llamacpp-ref/models/tinyllama-shape-1.1b-q4_0.gguf}
THREADS=${THREADS:-2}
CLIENTS=${CLIENTS:-8}
N_PROMPT=${N_PROMPT:-64}
N_GEN=${N_GEN:-32}
ROUNDS=${ROUNDS:-3}
[ -f "$MODEL" ] || { echo "bench-serve: no model file $MODEL (set MODEL=...; the TinyLlama-shaped files come from ../shared/tools/llamacpp-ref/setup.sh DIR --big)" >&2; exit 1; }

cd "$ROOT"
. "$ROOT/scripts/serve-lib.sh"
find_java
build_server_and_clients
./panamax --version >&2   # the CLI jar, rebuilt by the launcher when stale
TMP=$(mktemp -d)
cleanup() {
  stop_server
  rm -rf "$TMP"
}
trap cleanup EXIT

echo "bench-serve: engine: ./panamax bench -m $MODEL --threads $THREADS --parallel $CLIENTS -p $N_PROMPT -n $N_GEN -r $ROUNDS --json" >&2
./panamax bench -m "$MODEL" --threads "$THREADS" --parallel "$CLIENTS" -p "$N_PROMPT" -n "$N_GEN" -r "$ROUNDS" --json > "$TMP/engine.json"
cat "$TMP/engine.json" >&2

echo "bench-serve: ./panamax serve -m $MODEL --threads $THREADS --parallel $CLIENTS -c $((N_PROMPT + N_GEN)) --port 0" >&2
start_server "$TMP/server.log" -m "$MODEL" --threads "$THREADS" --parallel "$CLIENTS" -c $((N_PROMPT + N_GEN)) --alias bench
echo "bench-serve: server at $URL; $CLIENTS clients x $ROUNDS rounds" >&2

"$JAVA" -XX:+UseParallelGC -cp server/target/test-classes:server/target/panamax-server.jar \
  dev.panamax.server.LoadGenerator --url "$URL" --model bench --clients "$CLIENTS" --prompt "$N_PROMPT" --gen "$N_GEN" \
  --rounds "$ROUNDS" --engine-json "$TMP/engine.json"
grep -c ' 200 ' "$TMP/server.log" | sed 's/^/bench-serve: requests logged 200: /' >&2
