#!/usr/bin/env bash
# Panamax vs llama.cpp speed on the same GGUF files, same threads, same machine, run back to back.
#
#   usage: scripts/bench-vs-llamacpp.sh            prints a markdown table (progress on stderr)
#   env:   REF=/tmp/llamacpp-ref  THREADS="1 2"  TYPES="q4_0 q8_0 q4_k_m"  JAVA_TYPES="q4_0"  REPS=3
#          N_PROMPT=128  N_GEN=64  MODEL=tinyllama|deepseek2|qwen3moe
#          ISAS="avx512 avx2"   native rows per kernel set (./panamax --isa); default: the best this CPU runs
#          PARALLEL="1 4 8 16"  serving mode: N sequences decoded together, Panamax's engine (bench --parallel N) against
#                               llama.cpp's llbatch (one batch per step; the better of its unified and split KV modes);
#                               SHARED_PREFIX=K adds rows where the prompts share their first K tokens
#   e.g.   MODEL=deepseek2 TYPES="q4_0 q8_0" JAVA_TYPES= scripts/bench-vs-llamacpp.sh
#          MODEL=deepseek2 TYPES=q4_0 JAVA_TYPES= REPS=1 N_PROMPT=4096 N_GEN=32 scripts/bench-vs-llamacpp.sh   (decode at 4k context)
#
# Files (random weights): MODEL=tinyllama: REF/models/tinyllama-shape-1.1b-{TYPES}.gguf (TinyLlama-1.1B shapes),
# written by the llama.cpp reference toolkit (../shared/tools/llamacpp-ref/setup.sh REF --big), which this script
# runs when they are missing; other mixes (TYPES="q5_k_m q3_k_m") are quantized from its F16 file by its llquant. MODEL=deepseek2: REF/models/deepseek2-shape-1b-{TYPES}.gguf, a DeepSeek-V2-shaped MoE
# of 1.0B parameters (1024 wide, 12 layers, 16 heads, q_lora 384, kv_lora 256, rope 64, 32 experts of 704 with 4 used
# + 1 shared, first layer dense, sigmoid routing, YaRN), written here with the toolkit's make_tiny_gguf.py and
# quantized by llama.cpp (llquant) when missing. MODEL=qwen3moe: REF/models/qwen3moe-shape-1.2b-{TYPES}.gguf, a
# Qwen3-MoE-shaped model of 1.2B parameters (1024 wide, 16 layers, 16 heads of 128 with 4 KV heads, per-head Q/K
# norms, 32 experts of 512 with 4 used, no shared expert, untied head, Qwen2 vocabulary), made the same way. llama.cpp: REF/bin/llref (llama.cpp's own prebuilt CPU libraries) with flash attention on, a
# 128-token prompt of random ids in one batch, greedy decode; best of REPS runs. Panamax: ./panamax bench with the
# same counts, best of REPS runs after a warm-up. Both time the prompt as one forward call and decode as single-token
# steps (llref times n-1 steps, panamax n; the rate is per step either way). Both Panamax backends run --threads
# threads (the Java one splits matmul rows and attention heads over a pool of its own); the table shows what ran.
set -euo pipefail
ROOT=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
REF=${REF:-/tmp/llamacpp-ref}
THREADS=${THREADS:-"1 2"}
TYPES=${TYPES:-"q4_0 q8_0 q4_k_m"}
JAVA_TYPES=${JAVA_TYPES-"q4_0"}   # empty: no Java backend rows
REPS=${REPS:-3}
N_PROMPT=${N_PROMPT:-128}
N_GEN=${N_GEN:-64}
MODEL=${MODEL:-tinyllama}
TOOLS=$ROOT/../shared/tools/llamacpp-ref
SETUP=$TOOLS/setup.sh
case "$MODEL" in
  tinyllama) STEM=tinyllama-shape-1.1b ;;
  deepseek2) STEM=deepseek2-shape-1b
    SHAPE="deepseek2 --vocab $REF/src/models/ggml-vocab-deepseek-llm.gguf --n-embd 1024 --n-layer 12 --n-head 16
      --n-ff 2816 --q-lora 384 --kv-lora 256 --qk-nope 128 --qk-rope 64 --v-head 128 --n-ff-exp 704
      --n-expert 32 --n-expert-used 4 --tied --embd-scale 0.09 --yarn --n-ctx 8192" ;;
  qwen3moe) STEM=qwen3moe-shape-1.2b
    SHAPE="qwen3moe --vocab $REF/src/models/ggml-vocab-qwen2.gguf --n-embd 1024 --n-layer 16 --n-head 16 --n-head-kv 4
      --head-dim 128 --n-expert 32 --n-expert-used 4 --n-ff-exp 512 --n-ctx 8192" ;;
  *) echo "bench-vs-llamacpp: MODEL must be tinyllama, deepseek2 or qwen3moe, got $MODEL" >&2; exit 1 ;;
esac

missing() {
  [ -x "$REF/bin/llref" ] || return 0
  [ "$MODEL" != tinyllama ] && return 1 # made below
  local t
  for t in $TYPES $JAVA_TYPES; do [ -f "$REF/models/$STEM-$t.gguf" ] || return 0; done
  return 1
}

# the mixes setup.sh --big does not write (q5_k_m, q3_k_m, iq4_xs, ...): llama.cpp's quantizer makes them from the F16 file
if [ "$MODEL" = tinyllama ] && [ -x "$REF/bin/llquant" ] && [ -f "$REF/models/$STEM-f16.gguf" ]; then
  for t in $TYPES $JAVA_TYPES; do
    f=$REF/models/$STEM-$t.gguf
    [ -f "$f" ] || { echo "quantizing $STEM to $t with llquant" >&2; "$REF/bin/llquant" "$REF/models/$STEM-f16.gguf" "$f" "$t" >/dev/null 2>&1; }
  done
fi

if missing; then
  if [ -f "$SETUP" ]; then
    echo "installing the llama.cpp reference with the TinyLlama-shaped models (~4 GB, a few minutes) in $REF" >&2
    bash "$SETUP" "$REF" --big >&2
  else
    cat >&2 <<EOF
bench-vs-llamacpp: the llama.cpp reference is not in $REF and its installer was not found at
  $SETUP
Get the reference toolkit (llamacpp-ref: setup.sh, llref.c, make_tiny_gguf.py) next to this repository as
../shared/tools/llamacpp-ref/, or install it elsewhere and run:  REF=/path/to/ref $0
(setup.sh DIR --big installs llama.cpp's CPU libraries from npm and writes the TinyLlama-shaped test models.)
EOF
    exit 1
  fi
fi
missing && { echo "bench-vs-llamacpp: setup did not produce the models in $REF/models" >&2; exit 1; }

if [ "$MODEL" != tinyllama ]; then
  F16=$REF/models/$STEM-f16.gguf
  for t in $TYPES $JAVA_TYPES; do
    [ -f "$REF/models/$STEM-$t.gguf" ] && continue
    if [ ! -f "$F16" ]; then
      echo "writing the $MODEL-shaped model (random weights, ~2.5 GB F16, a minute or two) to $F16" >&2
      read -r arch shape <<<"$(echo $SHAPE)"
      # shellcheck disable=SC2086 # the shape is a list of options
      PYTHONPATH=$REF/src/gguf-py python3 "$TOOLS/make_tiny_gguf.py" "$arch" "$F16.partial" --type f16 $shape >&2
      mv "$F16.partial" "$F16"
    fi
    echo "quantizing it to $t with llama.cpp" >&2
    "$REF/bin/llquant" "$F16" "$REF/models/$STEM-$t.gguf.partial" "$t" >/dev/null 2>&1
    mv "$REF/models/$STEM-$t.gguf.partial" "$REF/models/$STEM-$t.gguf"
  done
fi
command -v python3 >/dev/null || { echo "bench-vs-llamacpp: python3 is needed to read the JSON" >&2; exit 1; }

# Build once, then run a copy of the jar (the native library is inside it): the launcher rebuilds whenever a source
# is newer than the jar, and a source edited during a long comparison must not change (or break) the code measured.
"$ROOT/panamax" info >/dev/null
SNAP=$(mktemp -d)
trap 'rm -rf "$SNAP"' EXIT
cp "$ROOT/cli/target/panamax-cli.jar" "$SNAP/"
JAVA=
for j in ${JAVA_HOME:+"$JAVA_HOME/bin/java"} /usr/lib/jvm/*25*/bin/java /usr/lib/jvm/*/bin/java; do
  [ -x "$j" ] && "$j" --add-modules jdk.incubator.vector -jar "$SNAP/panamax-cli.jar" --version >/dev/null 2>&1 && { JAVA=$j; break; }
done
[ -n "$JAVA" ] || { echo "bench-vs-llamacpp: no JDK 25 found to run the jar" >&2; exit 1; }
pmx() { "$JAVA" --enable-native-access=ALL-UNNAMED --add-modules jdk.incubator.vector -XX:+UseParallelGC \
          -jar "$SNAP/panamax-cli.jar" "$@" 2>/dev/null; }
ISA=$(pmx info --json | python3 -c 'import json,sys; j=json.load(sys.stdin); print(j.get("isa"))')

# the same random prompt ids for every llama.cpp run (panamax bench draws its own: speed does not depend on them)
IDS=$(python3 -c "import random; r=random.Random(42); print(','.join(str(r.randrange(3, 32000)) for _ in range($N_PROMPT)))")
CTX=$((N_PROMPT + N_GEN + 16))

llamacpp() { # FILE THREADS -> "pp tg"
  local out
  out=$("$REF/bin/llref" -m "$1" -t "$IDS" -n "$N_GEN" -T "$2" -r "$REPS" --fa 1 2>/dev/null)
  if [ "$REPS" -gt 1 ]; then
    echo "$out" | sed -n 's/^best: pp \([0-9.]*\) tok\/s, tg \([0-9.]*\) tok\/s.*/\1 \2/p'
  else
    echo "$out" | sed -n 's/^rep 0: pp .* = \([0-9.]*\) tok\/s | tg .* = \([0-9.]*\) tok\/s.*/\1 \2/p'
  fi
}

panamax() { # FILE THREADS BACKEND[:ISA] -> "pp tg threads_used"
  local isa=()
  case "$3" in *:*) isa=(--isa "${3#*:}");; esac
  pmx bench -m "$1" -p "$N_PROMPT" -n "$N_GEN" -c "$CTX" --threads "$2" --backend "${3%%:*}" "${isa[@]}" -r "$REPS" --json \
    | python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["pp_tps"], j["tg_tps"], j["threads"])'
}

ratio() { python3 -c "print(f'{$1/$2:.2f}x' if $2 > 0 else 'n/a')"; }

if [ -n "${PARALLEL:-}" ]; then
  llbatch() { # FILE THREADS N [extra] -> "pp tg" (best of --kvu 1 and --kvu 0 by decode speed)
    local best_pp=0 best_tg=0 kvu out pp tg
    for kvu in 1 0; do
      out=$("$REF/bin/llbatch" -m "$1" -P "$3" -p "$N_PROMPT" -n "$N_GEN" -T "$2" -r "$REPS" --kvu $kvu ${4:-} 2>/dev/null) || continue
      read -r pp tg < <(echo "$out" | sed -n 's/^best: pp \([0-9.]*\) tok\/s, tg \([0-9.]*\) tok\/s.*/\1 \2/p') || continue
      if python3 -c "import sys; sys.exit(0 if $tg > $best_tg else 1)"; then best_pp=$pp; best_tg=$tg; fi
    done
    echo "$best_pp $best_tg"
  }
  prows=()
  for t in $TYPES; do
    f=$REF/models/$STEM-$t.gguf
    for th in $THREADS; do
      for n in $PARALLEL; do
        for k in 0 ${SHARED_PREFIX:-}; do
          extra=; pextra=; [ "$k" != 0 ] && { extra="--shared-prefix $k"; pextra="--shared-prefix $k"; }
          echo "llbatch    $t  threads $th  parallel $n $extra ..." >&2
          read -r lpp ltg < <(llbatch "$f" "$th" "$n" "$extra") || true
          echo "panamax    $t  threads $th  parallel $n $pextra ..." >&2
          read -r ppp ptg p50 p99 tt < <(pmx bench -m "$f" -p "$N_PROMPT" -n "$N_GEN" --threads "$th" --parallel "$n" $pextra \
              -r "$REPS" --json | python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["agg_pp_tps"], j["agg_tg_tps"], j["step_ms_p50"], j["step_ms_p99"], j.get("ttft_ms_others_p50", j["ttft_ms_p50"]))') || true
          [ -n "${ptg:-}" ] || { echo "bench-vs-llamacpp: ./panamax bench --parallel failed on $f" >&2; exit 1; }
          prows+=("| $(basename "$f") | $th | $n | ${k} | $ppp | $lpp | $(ratio "$ppp" "$lpp") | $ptg | $ltg | $(ratio "$ptg" "$ltg") | $p50 / $p99 |")
          echo "  ${prows[-1]}" >&2
        done
      done
    done
  done
  echo
  echo "Serving: N sequences together — $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), panamax ISA $ISA,"
  echo "prompt $N_PROMPT random ids and $N_GEN decoded tokens per sequence, best of $REPS runs, $(date -u +%Y-%m-%d), load average $(cut -d' ' -f1-3 /proc/loadavg)"
  echo
  echo "| file | threads | N | shared prefix | agg pp tok/s panamax | agg pp tok/s llama.cpp | pp ratio | agg tg tok/s panamax | agg tg tok/s llama.cpp | tg ratio | panamax step ms p50 / p99 |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"
  printf '%s\n' "${prows[@]}"
  exit 0
fi

rows=()
for t in $TYPES; do
  f=$REF/models/$STEM-$t.gguf
  for th in $THREADS; do
    backends=native
    [ -n "${ISAS:-}" ] && backends=$(for i in $ISAS; do printf 'native:%s ' "$i"; done)
    case " $JAVA_TYPES " in *" $t "*) backends="$backends java";; esac
    # llama.cpp once per (file, threads); each Panamax backend right after it, so all see the same machine load
    echo "llama.cpp  $t  threads $th ..." >&2
    read -r lpp ltg < <(llamacpp "$f" "$th") || true
    [ -n "${ltg:-}" ] || { echo "bench-vs-llamacpp: could not read llref's timing for $f" >&2; exit 1; }
    for b in $backends; do
      echo "panamax    $t  threads $th  $b ..." >&2
      read -r ppp ptg pth < <(panamax "$f" "$th" "$b") || true
      [ -n "${pth:-}" ] || { echo "bench-vs-llamacpp: ./panamax bench failed on $f ($b, threads $th)" >&2; exit 1; }
      shown=$th; [ "$pth" != "$th" ] && shown="$th ($b: $pth)"
      rows+=("| $(basename "$f") | $b | $shown | $ppp | $lpp | $(ratio "$ppp" "$lpp") | $ptg | $ltg | $(ratio "$ptg" "$ltg") |")
      echo "  ${rows[-1]}" >&2
    done
  done
done

echo
echo "Panamax vs llama.cpp — $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), panamax ISA $ISA,"
echo "prompt $N_PROMPT random ids, $N_GEN decoded tokens, best of $REPS runs, $(date -u +%Y-%m-%d), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| file | panamax backend | threads | pp tok/s panamax | pp tok/s llama.cpp | pp ratio | tg tok/s panamax | tg tok/s llama.cpp | tg ratio |"
echo "|---|---|---|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${rows[@]}"
