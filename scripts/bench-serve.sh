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
if [ ! -f server/target/panamax-server.jar ] || [ ! -f server/target/test-classes/dev/panamax/server/LoadGenerator.class ] \
   || [ -n "$(find server/src java/src/main native -newer server/target/panamax-server.jar -type f -print -quit)" ]; then
  echo "bench-serve: building..." >&2
  ./panamax build >&2
fi
./panamax --version >&2   # the CLI jar, rebuilt by the launcher when stale
# a JDK 25+ for the load generator, looked for as the launcher does (JAVA_HOME, then /usr/lib/jvm/*)
JAVA=
for d in ${JAVA_HOME:-} /usr/lib/jvm/*25* /usr/lib/jvm/*; do
  [ -x "$d/bin/java" ] || continue
  v=$("$d/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')
  if [ "${v:-0}" -ge 25 ] 2>/dev/null; then JAVA=$d/bin/java; break; fi
done
[ -n "$JAVA" ] || { echo "bench-serve: no JDK 25+ found" >&2; exit 1; }
TMP=$(mktemp -d)
SERVER_PID=
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then kill -TERM "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT

echo "bench-serve: engine: ./panamax bench -m $MODEL --threads $THREADS --parallel $CLIENTS -p $N_PROMPT -n $N_GEN -r $ROUNDS --json" >&2
./panamax bench -m "$MODEL" --threads "$THREADS" --parallel "$CLIENTS" -p "$N_PROMPT" -n "$N_GEN" -r "$ROUNDS" --json > "$TMP/engine.json"
cat "$TMP/engine.json" >&2

echo "bench-serve: ./panamax serve -m $MODEL --threads $THREADS --parallel $CLIENTS -c $((N_PROMPT + N_GEN)) --port 0" >&2
./panamax serve -m "$MODEL" --threads "$THREADS" --parallel "$CLIENTS" -c $((N_PROMPT + N_GEN)) --port 0 --alias bench \
  2> "$TMP/server.log" &
SERVER_PID=$!
URL=
for _ in $(seq 1 600); do
  URL=$(sed -n 's#^panamax: serving .* at \(http://[^ ]*\)/v1 .*#\1#p' "$TMP/server.log" | head -1)
  [ -n "$URL" ] && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$TMP/server.log" >&2; echo "bench-serve: the server did not start" >&2; exit 1; }
  sleep 0.5
done
[ -n "$URL" ] || { echo "bench-serve: the server did not start in 300 s" >&2; exit 1; }
echo "bench-serve: server at $URL; $CLIENTS clients x $ROUNDS rounds" >&2

"$JAVA" -XX:+UseParallelGC -cp server/target/test-classes:server/target/panamax-server.jar \
  dev.panamax.server.LoadGenerator --url "$URL" --model bench --clients "$CLIENTS" --prompt "$N_PROMPT" --gen "$N_GEN" \
  --rounds "$ROUNDS" --engine-json "$TMP/engine.json"
grep -c ' 200 ' "$TMP/server.log" | sed 's/^/bench-serve: requests logged 200: /' >&2
