#!/usr/bin/env bash
# llama.cpp's speculative decoding on the trained KJV models, single stream, for the README's comparison with
# scripts/spec-bench.sh: llama-server (the toolkit's `setup.sh --server` build) with one slot, THREADS threads (2),
# greedy completions of the same held-out prompt, N tokens (96), each configuration on its own server: one untimed
# warm-up request, then REPS (10) timed ones; reports the median and best decode tok/s (the server's own
# timings.predicted_per_second), the drafted and accepted tokens, and the ratio of the median to the same model's
# "off" row. Configurations: deepseek2 off / draft-mtp (its nextn layer) / ngram-simple / ngram-mod; llama off /
# -md the distilled 0.9M draft model (llama.cpp's defaults; k <= 4 with p_min 0.5; k <= 2 with p_min 0, Panamax's best
# fixed k; with DRAFT_Q8=file also that Q8_0 copy of the draft at k <= 2) / ngram-simple / ngram-mod.
#   scripts/spec-bench-llamacpp.sh [REPS] [N]      LLAMA_SERVER=path (default /tmp/llamacpp-ref/bin/llama-server)
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=${1:-10}
N=${2:-96}
SRV=${LLAMA_SERVER:-/tmp/llamacpp-ref/bin/llama-server}
PORT=${PORT:-18431}
DS=models/kjv-deepseek2-7.1m-f16.gguf
LL=models/kjv-llama-4.6m-f16.gguf
DRAFT=models/kjv-llama-draft-0.9m-kd-f16.gguf
HELDOUT="And Abraham journeyed from thence toward the south country, and dwelled between Kadesh and Shur, and sojourned in Gerar."
OUT=$(mktemp)
LOG=$(mktemp)
run() { # case model spec-label server-args...
    local name=$1 model=$2 label=$3; shift 3
    "$SRV" -m "$model" -t "${THREADS:-2}" -tb "${THREADS:-2}" -np 1 -c 512 --port "$PORT" --host 127.0.0.1 "$@" >"$LOG" 2>&1 &
    local pid=$!
    for _ in $(seq 1 200); do
        curl -sf "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && break
        kill -0 $pid 2>/dev/null || { echo "llama-server $label failed:"; tail -20 "$LOG"; return 0; }
        sleep 0.1
    done
    local body
    body=$(python3 -c "import json,sys; print(json.dumps({'prompt': sys.argv[1], 'n_predict': int(sys.argv[2]), 'temperature': 0, 'top_k': 1, 'ignore_eos': True}))" "$HELDOUT" "$N")
    for i in $(seq 0 "$REPS"); do
        r=$(curl -sf "http://127.0.0.1:$PORT/completion" -H 'Content-Type: application/json' -d "$body") || { echo "request failed ($label)"; tail -20 "$LOG"; break; }
        [ "$i" = 0 ] && continue # warm-up
        echo "$r" | python3 -c "import json,sys; t=json.load(sys.stdin)['timings']; print(json.dumps({'case': sys.argv[1], 'spec': sys.argv[2], 'tps': t['predicted_per_second'], 'n': t['predicted_n'], 'drafted': t.get('draft_n', 0), 'accepted': t.get('draft_n_accepted', 0)}))" "$name" "$label" >> "$OUT"
    done
    grep -i -E "draft acceptance|speculative implementation|error" "$LOG" | tail -3 || true
    kill $pid; wait $pid 2>/dev/null || true
}
run deepseek2 "$DS" off
run deepseek2 "$DS" draft-mtp --spec-type draft-mtp
run deepseek2 "$DS" ngram-simple --spec-type ngram-simple
run deepseek2 "$DS" ngram-mod --spec-type ngram-mod
run llama "$LL" off
run llama "$LL" "draft (defaults)" -md "$DRAFT"
run llama "$LL" "draft (k<=4, p_min 0.5)" -md "$DRAFT" --spec-draft-n-max 4 --spec-draft-p-min 0.5
run llama "$LL" "draft (k<=2, p_min 0)" -md "$DRAFT" --spec-draft-n-max 2 --spec-draft-p-min 0
[ -n "${DRAFT_Q8:-}" ] && run llama "$LL" "Q8_0 draft (k<=2, p_min 0)" -md "$DRAFT_Q8" --spec-draft-n-max 2 --spec-draft-p-min 0
run llama "$LL" ngram-simple --spec-type ngram-simple
run llama "$LL" ngram-mod --spec-type ngram-mod
python3 - "$OUT" <<'PY'
import json, sys, statistics
rows = [json.loads(l) for l in open(sys.argv[1])]
groups = {}
for r in rows: groups.setdefault((r['case'], r['spec']), []).append(r)
print("| llama.cpp, model | spec | decode tok/s (median / best) | vs off | acceptance |")
print("|---|---|---:|---:|---:|")
for (case, spec), rs in groups.items():
    med = statistics.median(r['tps'] for r in rs)
    off = statistics.median(r['tps'] for r in groups.get((case, 'off'), rs))
    d = sum(r['drafted'] for r in rs); a = sum(r['accepted'] for r in rs); n = sum(r['n'] for r in rs)
    acc = f"{a / d:.2f}" if d else ""
    print(f"| {case} | {spec} | {med:.1f} / {max(r['tps'] for r in rs):.1f} | {med / off:.2f}x | {acc} |")
PY
rm -f "$OUT" "$LOG"
