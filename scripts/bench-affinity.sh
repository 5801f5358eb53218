#!/usr/bin/env bash
# Session affinity for prefix reuse through a balancer: CONVERSATIONS two-turn chats through 2 replicas of
# `./panamax serve` behind HAProxy (docs/haproxy.cfg), once per balancing mode; prints a markdown table of the second
# turns' prompt tokens that came from the replica's prefix cache (usage.prompt_tokens_details.cached_tokens).
#
#   usage: scripts/bench-affinity.sh
#   env:   MODEL=models/kjv-llama-4.6m-f16.gguf  CTX=256  THREADS=1  CONVERSATIONS=16  GEN=16  PARALLEL=16
#          MODES="leastconn hdr(X-Session-Id) user"   (user: HAProxy hashes the request body's "user" field)
#
# Per mode: two fresh replicas (empty caches) and a fresh HAProxy. Turn 1 of every conversation is sent at once, then
# turn 2 (turn 1's messages + the reply + a new user message) of every conversation at once, in a shuffled order, as
# a chat client would, with the header X-Session-Id: conv-N and "user": "conv-N" in the body. No system prompt is shared
# between conversations: whatever turn 2 finds in a cache, its own turn 1 put there. Needs haproxy, curl, jq.
set -euo pipefail
ROOT=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
MODEL=${MODEL:-$ROOT/models/kjv-llama-4.6m-f16.gguf}
CTX=${CTX:-256}
THREADS=${THREADS:-1}
CONVERSATIONS=${CONVERSATIONS:-16}
GEN=${GEN:-16}
PARALLEL=${PARALLEL:-16}
MODES=${MODES:-leastconn hdr(X-Session-Id) user}
for tool in haproxy curl jq; do
  command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || { echo "bench-affinity: needs $tool" >&2; exit 1; }
done
HAPROXY=$(command -v haproxy || echo /usr/sbin/haproxy)
[ -f "$MODEL" ] || { echo "bench-affinity: no model file $MODEL" >&2; exit 1; }

cd "$ROOT"
TMP=$(mktemp -d)
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

# start_replica NAME: ./panamax serve on a free port, waits until /ready; sets ADDR_<NAME>
start_replica() {
  local name=$1 port log=$TMP/$1.log
  port=$(free_port)
  ./panamax serve -m "$MODEL" --port "$port" --threads "$THREADS" --parallel "$PARALLEL" -c "$CTX" --alias bench 2> "$log" &
  PIDS+=($!)
  for _ in $(seq 1 600); do
    if curl -sf "http://127.0.0.1:$port/ready" >/dev/null 2>&1; then printf -v "ADDR_$name" '%s' "127.0.0.1:$port"; return; fi
    kill -0 "${PIDS[-1]}" 2>/dev/null || { cat "$log" >&2; echo "bench-affinity: replica $name did not start" >&2; exit 1; }
    sleep 0.5
  done
  echo "bench-affinity: replica $name not ready in 300 s" >&2
  exit 1
}

stop_all() {
  local p
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  PIDS=()
}

# the first user message of conversation N: its own words from the start (a pseudo-random verse-like passage)
WORDS=(and the lord said unto moses behold i will send my people into the land of thy fathers which he sware to give
       them for an inheritance by the waters of the river before the mountain where the children of israel dwelt in tents)
first_message() {
  local n=$1 out="Conversation $n." i
  RANDOM=$((n * 7919 + 1))
  for i in $(seq 1 70); do out+=" ${WORDS[$((RANDOM % ${#WORDS[@]}))]}"; done
  printf '%s' "$out"
}

# send TURN N MESSAGES_JSON: one chat completion through HAProxy; writes $TMP/TURN-N.{json,hdr}
send() {
  local turn=$1 n=$2 messages=$3
  jq -n --argjson m "$messages" --arg user "conv-$n" --argjson gen "$GEN" \
     '{model: "bench", messages: $m, max_tokens: $gen, temperature: 0, user: $user}' |
    curl -s --max-time 300 -D "$TMP/$turn-$n.hdr" -o "$TMP/$turn-$n.json" -H 'Content-Type: application/json' \
         -H "X-Session-Id: conv-$n" --data-binary @- "http://$LB/v1/chat/completions"
}

# waits for the requests in flight (background jobs that are not replicas or HAProxy)
wait_requests() {
  local j
  for j in $(jobs -p); do case " ${PIDS[*]} " in *" $j "*) ;; *) wait "$j" ;; esac; done
}

replica_of() { sed -n 's/^[Xx]-[Pp]anamax-[Rr]eplica: *\([a-z]*\).*/\1/p' "$1" | head -1; }

echo "| balance | second turns on turn 1's replica | prompt tokens (turn 2) | from the prefix cache | share | turns 2 with a cache hit |"
echo "|---|---|---|---|---|---|"
for mode in $MODES; do
  case $mode in
    user) balance="hash req.body,json_query('\$.user')" ;;
    *) balance=$mode ;;
  esac
  start_replica a
  start_replica b
  LB=127.0.0.1:$(free_port)
  STATS=127.0.0.1:$(free_port)
  PANAMAX_LB=$LB PANAMAX_STATS=$STATS PANAMAX_A=$ADDR_a PANAMAX_B=$ADDR_b PANAMAX_BALANCE=$balance PANAMAX_CHECK=1s \
    "$HAPROXY" -db -f docs/haproxy.cfg > "$TMP/haproxy.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 100); do
    [ "$(curl -s "http://$STATS/stats;csv" | awk -F, '$1=="panamax" && ($2=="a" || $2=="b") && $18=="UP"' | wc -l)" = 2 ] && break
    sleep 0.2
  done

  for n in $(seq 1 "$CONVERSATIONS"); do
    send t1 "$n" "$(jq -n --arg u "$(first_message "$n")" '[{role: "user", content: $u}]')" &
  done
  wait_requests
  for n in $(shuf -i 1-"$CONVERSATIONS"); do
    reply=$(jq -r '.choices[0].message.content' "$TMP/t1-$n.json")
    send t2 "$n" "$(jq -n --arg u "$(first_message "$n")" --arg a "$reply" --arg u2 "And what came after that, in conversation $n?" \
      '[{role: "user", content: $u}, {role: "assistant", content: $a}, {role: "user", content: $u2}]')" &
  done
  wait_requests

  same=0 prompt=0 cached=0 hit=0
  for n in $(seq 1 "$CONVERSATIONS"); do
    jq -e '.usage' "$TMP/t2-$n.json" >/dev/null || { echo "bench-affinity: turn 2 of conversation $n failed: $(cat "$TMP/t2-$n.json")" >&2; exit 1; }
    [ "$(replica_of "$TMP/t1-$n.hdr")" = "$(replica_of "$TMP/t2-$n.hdr")" ] && same=$((same + 1))
    p=$(jq '.usage.prompt_tokens' "$TMP/t2-$n.json")
    c=$(jq '.usage.prompt_tokens_details.cached_tokens' "$TMP/t2-$n.json")
    prompt=$((prompt + p))
    cached=$((cached + c))
    [ "$c" -gt 0 ] && hit=$((hit + 1))
  done
  printf '| `%s` | %d / %d | %d | %d | %.0f%% | %d / %d |\n' "$balance" "$same" "$CONVERSATIONS" "$prompt" "$cached" \
    "$(jq -n "100 * $cached / $prompt")" "$hit" "$CONVERSATIONS"
  stop_all
  rm -f "$TMP"/t[12]-*
done
echo "bench-affinity: $CONVERSATIONS conversations, model $(basename "$MODEL"), -c $CTX, --parallel $PARALLEL, --threads $THREADS, $GEN tokens per reply" >&2
