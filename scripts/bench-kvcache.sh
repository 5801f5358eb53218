#!/usr/bin/env bash
# Decode speed and KV memory by KV cache type (-ctk/-ctv), Panamax against llama.cpp on the same file, same threads,
# run back to back: a long random prompt (the context the decode attends over), then N_GEN greedy steps.
#
#   usage: scripts/bench-kvcache.sh        prints a markdown table (progress on stderr)
#   env:   REF=/tmp/llamacpp-ref  FILE=REF/models/tinyllama-shape-1.1b-q4_0.gguf  CTYPES="f16 q8_0 q4_0"
#          THREADS=2  N_PROMPT=2048  N_GEN=32  REPS=2
# llama.cpp: REF/bin/llref --fa 1 --ctk T --ctv T (a quantized V cache needs flash attention there). Panamax:
# ./panamax bench -ctk T -ctv T. Rates are per decode step at a context of N_PROMPT..N_PROMPT+N_GEN tokens.
set -euo pipefail
ROOT=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
REF=${REF:-/tmp/llamacpp-ref}
FILE=${FILE:-$REF/models/tinyllama-shape-1.1b-q4_0.gguf}
CTYPES=${CTYPES:-"f16 q8_0 q4_0"}
THREADS=${THREADS:-2}
N_PROMPT=${N_PROMPT:-2048}
N_GEN=${N_GEN:-32}
REPS=${REPS:-2}
[ -f "$FILE" ] || { echo "bench-kvcache: $FILE not found (the toolkit's setup.sh --big writes it)" >&2; exit 1; }
IDS=$(python3 -c "import random; r=random.Random(42); print(','.join(str(r.randrange(3, 32000)) for _ in range($N_PROMPT)))")
CTX=$((N_PROMPT + N_GEN + 16))

echo "$(basename "$FILE"), prompt $N_PROMPT random ids, $N_GEN decoded tokens, $THREADS threads, best of $REPS runs," \
     "$(date -u +%Y-%m-%d), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| K / V cache | KV bytes/token | Panamax decode tok/s | llama.cpp decode tok/s |"
echo "|---|---:|---:|---:|"
for t in $CTYPES; do
  echo "bench-kvcache: $t ..." >&2
  read -r kv tg < <("$ROOT/panamax" bench -m "$FILE" -p "$N_PROMPT" -n "$N_GEN" -c "$CTX" --threads "$THREADS" -r "$REPS" \
      -ctk "$t" -ctv "$t" --json | python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["kv_bytes_per_token"], j["tg_tps"])')
  ltg="-"
  if [ -x "$REF/bin/llref" ]; then
    out=$("$REF/bin/llref" -m "$FILE" -t "$IDS" -n "$N_GEN" -T "$THREADS" -r "$REPS" --fa 1 --ctk "$t" --ctv "$t" 2>/dev/null)
    if [ "$REPS" -gt 1 ]; then ltg=$(echo "$out" | sed -n 's/^best: pp [0-9.]* tok\/s, tg \([0-9.]*\) tok\/s.*/\1/p')
    else ltg=$(echo "$out" | sed -n 's/^rep 0: pp .* | tg .* = \([0-9.]*\) tok\/s.*/\1/p'); fi
  fi
  echo "| $t / $t | $kv | $tg | ${ltg:--} |"
done
