#!/usr/bin/env bash
# The seed's architecture claim on the models trained here (models/MODEL_CARD.md): llama against deepseek2 (MLA + MoE)
# trained with the same work per token and the same tokens seen. Prints one Markdown row per model: parameters
# (total / active per token, from the training summaries in models/train/runs/), held-out perplexity through
# Panamax's `perplexity` (-c 256, the models' context), KV-cache bytes per token, and prompt / decode tok/s from
# `./panamax bench` (F16 file, 2 threads). The benches of the two models alternate ROUNDS times and the median of each
# is printed, so a load change on a shared machine hits both alike.
#
#   [ROUNDS=5] [TYPE=f16|q8_0|...] scripts/arch-compare.sh [MODEL_NAME ...]   (default: kjv-llama-4.6m kjv-deepseek2-7.1m)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PMX=${PANAMAX:-$ROOT/panamax}
W=${WORK:-$(mktemp -d)}
ROUNDS=${ROUNDS:-5}
TYPE=${TYPE:-f16}
MODELS=("$@"); [ ${#MODELS[@]} -gt 0 ] || MODELS=(kjv-llama-4.6m kjv-deepseek2-7.1m)
[ -f "$W/data/heldout.txt" ] || python3 "$ROOT/models/train/corpus.py" "$W/data" >/dev/null
file() {   # the model's file in TYPE (quantized from the F16 file when TYPE is not f16)
  local f16="$ROOT/models/$1-f16.gguf"
  if [ "$TYPE" = f16 ]; then echo "$f16"; return; fi
  [ -f "$W/$1-$TYPE.gguf" ] || "$PMX" quantize "$f16" "$W/$1-$TYPE.gguf" "$TYPE" --threads 2 >/dev/null 2>&1
  echo "$W/$1-$TYPE.gguf"
}
for r in $(seq "$ROUNDS"); do
  for m in "${MODELS[@]}"; do
    "$PMX" bench -m "$(file "$m")" -p 128 -n 64 -r 1 -c 256 --threads 2 --json 2>/dev/null | tail -1 >> "$W/$m.bench"
  done
done
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
key() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p" "$2"; }
echo "| model | parameters (total / active) | held-out PPL (-c 256) | KV cache bytes/token | prompt tok/s ($TYPE) | decode tok/s ($TYPE) |"
echo "|---|---:|---:|---:|---:|---:|"
for m in "${MODELS[@]}"; do
  s="$ROOT/models/train/runs/$m.summary.json"
  params=$(python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print('{:,} / {:,}'.format(d['params_total'], d['params_active']))" "$s")
  ppl=$("$PMX" perplexity -m "$(file "$m")" -f "$W/data/heldout.txt" -c 256 --threads 2 2>/dev/null \
        | sed -n 's/Final estimate: PPL = \([0-9.]*\) +\/- \([0-9.]*\)/\1 ± \2/p')
  echo "| $m | $params | $ppl | $(key kv_bytes_per_token "$W/$m.bench" | head -1) | $(key pp_tps "$W/$m.bench" | median) | $(key tg_tps "$W/$m.bench" | median) |"
done
