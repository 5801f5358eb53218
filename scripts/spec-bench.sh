#!/usr/bin/env bash
# Speculative decoding on the trained KJV models: acceptance, tokens per verify pass and greedy decode speed with and
# without it, at 1, 4, 8 and 16 concurrent streams (`bench --parallel N --spec off|mtp|ngram|draft:M --prompt-text
# ... --json`: warm-up, then the best of -r runs): MTP on the deepseek2 file, prompt lookup on both, the 0.9M draft
# model for the 4.6M llama. With TINYLLAMA=path/to/tinyllama-shape-1.1b-q4_0.gguf also that file (random weights:
# its own greedy loops are what prompt lookup finds; TL_N tokens, default 32) for the cost on a model whose steps
# read 600 MB of weights. This machine is shared and noisy: compare ratios of one run of this script; ROUNDS=R
# repeats the whole list R times (the configurations interleaved in time) and reports medians: tok/s, and the median
# of each round's ratio to that round's "off" (in brackets: the lowest and highest round's ratio).
# PANAMAX=CMD runs another build's CLI (default ./panamax); ONLY=ds|llama|tl runs one model's rows; THREADS=T (2).
# PAIRED=1: each speculative configuration runs `bench --vs-off` (plain decoding on a second engine in the same JVM,
# run by run in alternation) and "vs off" is the median of those paired ratios (range: the lowest and highest pair);
# the "off" rows are then that JVM's plain runs. Separate JVMs differ by more than the few percent being compared.
# With PAIRED=1 each case also gets an "A/A" row: `bench --vs-off` on two plain engines, the pairing's own offset and
# spread (what a "vs off" below 1.00x must be compared with).
# Every configuration first runs one untimed full-length warm-up on its engine (JIT, and the adaptive policy's
# measurements, as in a server that has been running): on the KJV models a timed run lasts only 0.1-0.3 s.
#   scripts/spec-bench.sh [REPS] [N] [STREAMS...]     (defaults: 3 runs, 128 tokens, streams 1 4 8 16)
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=${1:-3}
N=${2:-128}
shift $(( $# > 2 ? 2 : $# ))
STREAMS=${*:-1 4 8 16}
DS=models/kjv-deepseek2-7.1m-f16.gguf
LL=models/kjv-llama-4.6m-f16.gguf
DRAFT=draft:models/kjv-llama-draft-0.9m-kd-f16.gguf
# a held-out passage (every 20th chapter is held out: Genesis 20) and a copy-heavy prompt (a verse three times)
HELDOUT="And Abraham journeyed from thence toward the south country, and dwelled between Kadesh and Shur, and sojourned in Gerar."
VERSE="In the beginning God created the heaven and the earth. And the earth was without form, and void; and darkness was upon the face of the deep."
COPY="$VERSE
$VERSE
$VERSE
In the beginning"
OUT=$(mktemp)
run() { # case model prompt streams spec [tokens]
    local paired= label=${5%%:*}
    if [ -n "${PAIRED:-}" ]; then
        paired=--vs-off
        [ "$5" = off ] && label=A/A # two plain engines paired: the method's own offset and spread
    fi
    ${PANAMAX:-./panamax} bench -m "$2" --prompt-text "$3" --parallel "$4" --spec "$5" $paired -n "${6:-$N}" --warmup "${6:-$N}" -r "$REPS" --threads "${THREADS:-2}" --json 2>/dev/null \
        | python3 -c "
import json,sys
o=json.load(sys.stdin); s=o.get('spec') or {}
row={'case': '$1', 'streams': $4, 'spec': '$label', 'tps': o['agg_tg_tps'], 'acc': s.get('acceptance', 0), 'tpp': s.get('tokens_per_pass', 0)}
if 'vs_off' in o:
    if '$label' != 'A/A':
        print(json.dumps({'case': '$1', 'streams': $4, 'spec': 'off', 'tps': o['off_agg_tg_tps']}))
    row.update(vs=o['vs_off'], vmin=o['vs_off_min'], vmax=o['vs_off_max'])
print(json.dumps(row))" >> "$OUT"
}
for round in $(seq 1 "${ROUNDS:-1}"); do
for p in $STREAMS; do
    if [ -z "${ONLY:-}" ] || [ "$ONLY" = ds ]; then
    for spec in off mtp ngram; do run "deepseek2, held-out prompt" "$DS" "$HELDOUT" "$p" "$spec"; done
    for spec in off ngram; do run "deepseek2, copy prompt" "$DS" "$COPY" "$p" "$spec"; done
    fi
    if [ -z "${ONLY:-}" ] || [ "$ONLY" = llama ]; then
    for spec in off ngram $DRAFT; do run "llama, held-out prompt" "$LL" "$HELDOUT" "$p" "$spec"; done
    for spec in off ngram $DRAFT; do run "llama, copy prompt" "$LL" "$COPY" "$p" "$spec"; done
    fi
    if [ -n "${TINYLLAMA:-}" ] && { [ -z "${ONLY:-}" ] || [ "$ONLY" = tl ]; }; then
        for spec in off ngram; do run "TinyLlama-shaped Q4_0, copy prompt" "$TINYLLAMA" "$COPY" "$p" "$spec" "${TL_N:-32}"; done
    fi
done
done
python3 - "$OUT" <<'PY'
import json, sys, statistics
rows = [json.loads(l) for l in open(sys.argv[1])]
key = lambda r: (r['case'], r['streams'], r['spec'])
groups = {}
for r in rows: groups.setdefault(key(r), []).append(r)  # one entry per round, in order
print("| model, prompt | streams | spec | decode tok/s (all streams) | vs off | acceptance | tokens per verify pass |")
print("|---|---:|---|---:|---:|---:|---:|")
for k, rs in groups.items():
    offs = groups[(k[0], k[1], 'off')]
    if 'vs' in rs[0]:  # paired in one JVM: that JVM's ratios
        ratios = [r['vs'] for r in rs]
        lo, hi = min(r['vmin'] for r in rs), max(r['vmax'] for r in rs)
    else:
        ratios = [r['tps'] / o['tps'] for r, o in zip(rs, offs)]
        lo, hi = min(ratios), max(ratios)
    ratio = statistics.median(ratios)
    med = lambda f: statistics.median(r[f] for r in rs)
    extra = f"{med('acc'):.2f} | {med('tpp'):.2f}" if k[2] not in ('off', 'A/A') else " | "
    spread = f" ({lo:.2f}-{hi:.2f})" if (len(ratios) > 1 or 'vs' in rs[0]) and k[2] != 'off' else ""
    print(f"| {k[0]} | {k[1]} | {k[2]} | {med('tps'):.1f} | {ratio:.2f}x{spread} | {extra} |")
PY
rm -f "$OUT"
