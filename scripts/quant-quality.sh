#!/usr/bin/env bash
# Quality of quantized KJV models (models/, "Models trained here"): perplexity of the F16 file and of its quantizations
# (TYPES; "+imatrix": with an importance matrix) on the held-out chapters (never trained on),
# with the KL divergence of each against the F16 model. The importance matrix is computed on the first 64k tokens of
# the training text (not the held-out text). Prints a Markdown table (README "Quantization quality").
#
#   scripts/quant-quality.sh [MODEL_NAME ...]    (default: kjv-llama-4.6m kjv-deepseek2-7.1m; -c 256, 2 threads)
#   TYPES="q4_k_m q4_0" ...  only those rows (default: every type and mix, and imatrix rows; see DEFAULT_TYPES); WORK=DIR reuses DIR's F16
#   logits (the KL base) and importance matrix from an earlier run
# Needs: the KJV corpus split (models/train/corpus.py, Debian's bible-kjv), ~1 min per row on 2 cores (llppl: a few more). With the
# llama.cpp reference toolkit (LLREF, default /tmp/llamacpp-ref) each row also gets llama.cpp's perplexity of the same
# file (llppl, same -c), else "-".
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PMX=${PANAMAX:-$ROOT/panamax}
W=${WORK:-$(mktemp -d)}
LLPPL=${LLREF:-/tmp/llamacpp-ref}/bin/llppl
CTX=${CTX:-256}      # the KJV models are trained on 256-token windows (context_length 256)
DEFAULT_TYPES="q8_0 q6_k q5_k_m q5_k_s q5_1 q5_0 q4_k_m q4_k_m+imatrix q4_k_s q4_1 q4_0 iq4_xs iq4_xs+imatrix iq4_nl q3_k_l q3_k_m q3_k_m+imatrix q3_k_s q2_k q2_k+imatrix"
MODELS=("$@"); [ ${#MODELS[@]} -gt 0 ] || MODELS=(kjv-llama-4.6m kjv-deepseek2-7.1m)
[ -f "$W/data/heldout.txt" ] || python3 "$ROOT/models/train/corpus.py" "$W/data" >/dev/null
head -c 260000 "$W/data/train.txt" > "$W/calib.txt"      # ~64k tokens of training text for the importance matrix
llppl() { # llama.cpp's final PPL of a file on the held-out text
  if [ -x "$LLPPL" ]; then "$LLPPL" -m "$1" -f "$W/data/heldout.txt" -c "$CTX" -T 2 2>/dev/null | sed -n 's/.*Final estimate: PPL = \([0-9.]*\).*/\1/p'
  else echo "-"; fi
}
echo "| model | type | size (MiB) | BPW | PPL (held-out, -c $CTX) | llama.cpp PPL | ΔPPL vs F16 | mean KLD | median KLD | 99% KLD | same top token |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for m in "${MODELS[@]}"; do
  f16="$ROOT/models/$m-f16.gguf"
  [ -s "$W/$m.base" ] && [ -s "$W/$m-f16.ppl" ] ||
    "$PMX" perplexity -m "$f16" -f "$W/data/heldout.txt" -c "$CTX" --threads 2 --kl-divergence-base "$W/$m.base" > "$W/$m-f16.ppl"
  size() { awk -v b="$(stat -c %s "$1")" 'BEGIN{printf "%.2f", b/1048576}'; }
  ppl=$(sed -n 's/Final estimate: PPL = \([0-9.]*\) +\/- \([0-9.]*\)/\1 ± \2/p' "$W/$m-f16.ppl")
  bpw=$("$PMX" quantize "$f16" "$W/$m-copy.gguf" f16 --threads 2 2>&1 | sed -n 's/.*-> .* MiB (\([0-9.]*\) BPW).*/\1/p')
  echo "| $m | F16 | $(size "$f16") | $bpw | $ppl | $(llppl "$f16") | | | | | |"
  [[ " ${TYPES:-$DEFAULT_TYPES} " != *+imatrix* ]] || [ -s "$W/$m.imatrix.gguf" ] ||
    "$PMX" imatrix -m "$f16" -f "$W/calib.txt" -c "$CTX" --threads 2 -o "$W/$m.imatrix.gguf" 2>/dev/null
  for t in ${TYPES:-$DEFAULT_TYPES}; do
    q=${t%+imatrix}; extra=(); [ "$t" = "$q" ] || extra=(--imatrix "$W/$m.imatrix.gguf")
    out="$W/$m-$t.gguf"
    bpw=$("$PMX" quantize "$f16" "$out" "$q" --threads 2 "${extra[@]}" 2>&1 | sed -n 's/.*-> .* MiB (\([0-9.]*\) BPW).*/\1/p')
    "$PMX" perplexity -m "$out" -f "$W/data/heldout.txt" -c "$CTX" --threads 2 --kl-divergence "$W/$m.base" > "$W/$m-$t.ppl"
    r=$W/$m-$t.ppl
    ppl=$(sed -n 's/Final estimate: PPL = \([0-9.]*\) +\/- \([0-9.]*\)/\1 ± \2/p' "$r")
    dppl=$(sed -n 's/^Mean PPL(Q)-PPL(base) *: *\([-0-9.]*\) ± *\([0-9.]*\)/\1 ± \2/p' "$r")
    kl=$(sed -n 's/^Mean    KLD: *\([-0-9.]*\) ± *\([0-9.]*\)/\1 ± \2/p' "$r")
    med=$(sed -n 's/^Median  KLD: *\([-0-9.]*\)/\1/p' "$r")
    p99=$(sed -n 's/^99.0%   KLD: *\([-0-9.]*\)/\1/p' "$r")
    top=$(sed -n 's/^Same top p: *\([0-9.]*\) ± *\([0-9.]*\) %/\1 ± \2 %/p' "$r")
    name=$(echo "$q" | tr a-z A-Z); [ "$t" = "$q" ] || name="$name + imatrix"
    echo "| $m | $name | $(size "$out") | $bpw | $ppl | $(llppl "$out") | $dppl | $kl | $med | $p99 | $top |"
  done
done
