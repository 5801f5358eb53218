#!/usr/bin/env bash
# Quality of ./panamax prune on the trained models in models/: held-out perplexity and mean KL divergence against the
# unpruned model, importance-ranked pruning against random pruning of the same size (several seeds), file sizes, decode
# speed before/after, and prune-then-Q4_K_M against quantization alone. Prints markdown table rows; the README's table
# comes from it.
#
#   scripts/prune-quality.sh [WORKDIR]     (default /tmp/prune-quality; needs Debian's bible-kjv for the corpus)
#
# Environment: PANAMAX (default ./panamax), CHUNKS (held-out chunks of 256 tokens scored, default 100 of 205),
# CALIB_CHUNKS (calibration chunks, default 40), SEEDS (random baselines, default "1 2 3"), DS_SETTINGS / LL_SETTINGS
# (';'-separated prune options per row, defaults below; empty: none), QUANT=0 / BENCH=0 skip the quantization / speed runs. Runs under nice -n 10. The held-out text is models/train/corpus.py's split (every 20th chapter); the
# calibration text is every 40th chapter of the training split (offset 7), so it never overlaps the held-out text.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
W=${1:-/tmp/prune-quality}
PMX=${PANAMAX:-$ROOT/panamax}
CHUNKS=${CHUNKS:-100}
CALIB_CHUNKS=${CALIB_CHUNKS:-40}
SEEDS=${SEEDS:-1 2 3}
BENCH=${BENCH:-1}
QUANT=${QUANT:-1}
DS_SETTINGS=${DS_SETTINGS---experts-keep 7;--experts-keep 6;--experts-keep 4;--experts-keep 6 --expert-score frequency}
LL_SETTINGS=${LL_SETTINGS---ffn-keep-frac 0.9;--ffn-keep-frac 0.75;--ffn-keep-frac 0.6;--heads-keep 6}
mkdir -p "$W"
run() { nice -n 10 "$PMX" "$@"; }

if [ ! -f "$W/data/heldout.txt" ]; then
  (cd "$ROOT/models/train" && python3 corpus.py "$W/data") >&2
fi
python3 - "$W/data/train.txt" "$W/calib.txt" <<'EOF'
import sys
chaps = [c for c in open(sys.argv[1], encoding="utf-8").read().strip("\n").split("\n\n") if c]
open(sys.argv[2], "w", encoding="utf-8").write("\n\n".join(c for i, c in enumerate(chaps) if i % 40 == 7) + "\n")
EOF
HELD=$W/data/heldout.txt
CAL=$W/calib.txt

ppl() { # MODEL BASE_KLD -> "ppl kl"
  local out
  out=$(run perplexity -m "$1" -f "$HELD" -c 256 --chunks "$CHUNKS" --kl-divergence "$2" 2>&1)
  echo "$(sed -n 's/^Final estimate: PPL = \([0-9.]*\).*/\1/p' <<<"$out") $(sed -n 's/^Mean *KLD: *\([0-9.e-]*\).*/\1/p' <<<"$out")"
}
size_mib() { awk -v b="$(stat -L -c %s "$1")" 'BEGIN { printf "%.2f", b / 1048576 }'; }
row() { # LABEL FILE BASE_KLD
  read -r p k < <(ppl "$2" "$3")
  echo "| $1 | $(size_mib "$2") | $p | $k |"
}

model_rows() { # NAME MODEL PRUNE_ARGS_LIST...: one importance row and one row per random seed per setting
  local name=$1 model=$2; shift 2
  local base=$W/$name.kld
  run perplexity -m "$model" -f "$HELD" -c 256 --chunks "$CHUNKS" --kl-divergence-base "$base" > "$W/$name.base.log" 2>&1
  echo "| $name unpruned | $(size_mib "$model") | $(sed -n 's/^Final estimate: PPL = \([0-9.]*\).*/\1/p' "$W/$name.base.log") | 0 |"
  for setting in "$@"; do
    local tag; tag=$(tr ' =' '__' <<<"$setting" | tr -d -)
    local f=$W/$name$tag.gguf
    # shellcheck disable=SC2086
    run prune -m "$model" -o "$f" -f "$CAL" --chunks "$CALIB_CHUNKS" -c 256 $setting --report "$f.json" > "$f.log" 2>&1
    row "$name $setting (importance)" "$f" "$base"
    for s in $SEEDS; do
      local fr=$W/$name$tag-r$s.gguf
      # shellcheck disable=SC2086
      run prune -m "$model" -o "$fr" -f "$CAL" --chunks 1 -c 256 $setting --random "$s" > "$fr.log" 2>&1
      row "$name $setting (random seed $s)" "$fr" "$base"
      rm -f "$fr"
    done
  done
}

echo "| model, pruning | MiB | held-out PPL | mean KL vs unpruned |"
echo "|---|---:|---:|---:|"
DS=$ROOT/models/kjv-deepseek2-7.1m-f16.gguf
LL=$ROOT/models/kjv-llama-4.6m-f16.gguf
IFS=';' read -r -a dss <<<"$DS_SETTINGS"
IFS=';' read -r -a lls <<<"$LL_SETTINGS"
[ -n "$DS_SETTINGS" ] && model_rows ds2 "$DS" "${dss[@]}"
[ -n "$LL_SETTINGS" ] && model_rows llama "$LL" "${lls[@]}"

if [ "$QUANT" = 1 ]; then
echo
echo "| prune + quantize (deepseek2) | MiB | held-out PPL | mean KL vs unpruned F16 |"
echo "|---|---:|---:|---:|"
[ -f "$W/ds2.kld" ] || run perplexity -m "$DS" -f "$HELD" -c 256 --chunks "$CHUNKS" --kl-divergence-base "$W/ds2.kld" > /dev/null 2>&1
run quantize "$DS" "$W/ds2-q4km.gguf" q4_k_m > /dev/null 2>&1
row "Q4_K_M" "$W/ds2-q4km.gguf" "$W/ds2.kld"
run quantize "$DS" "$W/ds2-q3km.gguf" q3_k_m > /dev/null 2>&1
row "Q3_K_M" "$W/ds2-q3km.gguf" "$W/ds2.kld"
for k in 7 6; do
  run prune -m "$DS" -o "$W/ds2-e$k-q4km.gguf" -f "$CAL" --chunks "$CALIB_CHUNKS" -c 256 --experts-keep $k --type q4_k_m > /dev/null 2>&1
  row "experts-keep $k, then Q4_K_M" "$W/ds2-e$k-q4km.gguf" "$W/ds2.kld"
done
fi

if [ "$BENCH" = 1 ]; then
  echo
  echo "| decode speed (bench -p 64 -n 64, 1 thread, noisy shared machine) | MiB | tg tok/s | pp tok/s |"
  echo "|---|---:|---:|---:|"
  for f in "$DS" "$W/ds2expertskeep_4.gguf" "$W/ds2-q4km.gguf" "$W/ds2-e6-q4km.gguf" "$LL" "$W/llamaffnkeepfrac_0.6.gguf"; do
    [ -f "$f" ] || continue
    j=$(run bench -m "$f" -p 64 -n 64 --threads 1 --json 2>/dev/null | tail -1)
    tg=$(sed -n 's/.*"tg_tps":\([0-9.]*\).*/\1/p' <<<"$j"); pp=$(sed -n 's/.*"pp_tps":\([0-9.]*\).*/\1/p' <<<"$j")
    echo "| $(basename "$f") | $(size_mib "$f") | ${tg%.*} | ${pp%.*} |"
  done
fi
