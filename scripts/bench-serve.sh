#!/usr/bin/env bash
# Serving speed through HTTP against the engine's own: K concurrent streaming clients over loopback against
# `./panamax serve`, then `./panamax bench --parallel K` on the same file, same threads, same shapes; prints a
# markdown table with HTTP / engine ratios (progress and the server's log on stderr).
#
#   usage: scripts/bench-serve.sh
#   env:   MODEL=/tmp/llamacpp-ref/models/tinyllama-shape-1.1b-q4_0.gguf  THREADS=2  CLIENTS=8
#          N_PROMPT=64  N_GEN=32  ROUNDS=3
#          LLAMA_SERVER=/tmp/llamacpp-ref/bin/llama-server   also run the same clients against llama.cpp's server
#                      (the toolkit's `setup.sh DIR --server` build; same file, threads, slots = CLIENTS, context per slot
#                      N_PROMPT + N_GEN, continuous batching) first, and print the two servers side by side
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
LLAMA_PID=
cleanup() {
  stop_server
  [ -n "$LLAMA_PID" ] && kill "$LLAMA_PID" 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT

echo "bench-serve: engine: ./panamax bench -m $MODEL --threads $THREADS --parallel $CLIENTS -p $N_PROMPT -n $N_GEN -r $ROUNDS --json" >&2
./panamax bench -m "$MODEL" --threads "$THREADS" --parallel "$CLIENTS" -p "$N_PROMPT" -n "$N_GEN" -r "$ROUNDS" --json > "$TMP/engine.json"
cat "$TMP/engine.json" >&2

OTHER=()
if [ -n "${LLAMA_SERVER:-}" ]; then
  [ -x "$LLAMA_SERVER" ] || { echo "bench-serve: LLAMA_SERVER=$LLAMA_SERVER is not an executable" >&2; exit 1; }
  PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  echo "bench-serve: $LLAMA_SERVER -m $MODEL -t $THREADS -tb $THREADS -np $CLIENTS -c $((CLIENTS * (N_PROMPT + N_GEN))) --port $PORT" >&2
  "$LLAMA_SERVER" -m "$MODEL" -t "$THREADS" -tb "$THREADS" -np "$CLIENTS" -c $((CLIENTS * (N_PROMPT + N_GEN))) \
    --host 127.0.0.1 --port "$PORT" > "$TMP/llama-server.log" 2>&1 &
  LLAMA_PID=$!
  for _ in $(seq 1 600); do
    curl -sf "http://127.0.0.1:$PORT/health" > /dev/null 2>&1 && break
    kill -0 "$LLAMA_PID" 2>/dev/null || { tail -20 "$TMP/llama-server.log" >&2; echo "bench-serve: llama-server did not start" >&2; exit 1; }
    sleep 0.5
  done
  echo "bench-serve: llama-server's run (its table on stderr)" >&2
  "$JAVA" -XX:+UseParallelGC -cp server/target/test-classes:server/target/panamax-server.jar \
    dev.panamax.server.LoadGenerator --url "http://127.0.0.1:$PORT" --model bench --clients "$CLIENTS" --prompt "$N_PROMPT" \
    --gen "$N_GEN" --rounds "$ROUNDS" --summary-out "$TMP/llama.json" >&2
  kill "$LLAMA_PID"; wait "$LLAMA_PID" 2>/dev/null || true; LLAMA_PID=
  OTHER=(--other "$TMP/llama.json" --other-name llama-server)
fi

echo "bench-serve: ./panamax serve -m $MODEL --threads $THREADS --parallel $CLIENTS -c $((N_PROMPT + N_GEN)) --port 0" >&2
start_server "$TMP/server.log" -m "$MODEL" --threads "$THREADS" --parallel "$CLIENTS" -c $((N_PROMPT + N_GEN)) --alias bench
echo "bench-serve: server at $URL; $CLIENTS clients x $ROUNDS rounds" >&2

"$JAVA" -XX:+UseParallelGC -cp server/target/test-classes:server/target/panamax-server.jar \
  dev.panamax.server.LoadGenerator --url "$URL" --model bench --clients "$CLIENTS" --prompt "$N_PROMPT" --gen "$N_GEN" \
  --rounds "$ROUNDS" --engine-json "$TMP/engine.json" "${OTHER[@]}"
grep -c ' 200 ' "$TMP/server.log" | sed 's/^/bench-serve: requests logged 200: /' >&2
