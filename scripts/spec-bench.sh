#!/usr/bin/env bash
# Speculative decoding on the trained KJV models: acceptance, tokens per verify pass and greedy decode speed with and
# without it, at 1, 4 and 8 concurrent streams (`bench --parallel N --spec off|mtp|ngram --prompt-text ... --json`:
# warm-up, then the best of -r runs). This machine is shared and noisy: compare ratios of one run of this script.
#   scripts/spec-bench.sh [REPS] [N] [STREAMS...]     (defaults: 3 runs, 128 tokens, streams 1 4 8; ~10 min here)
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=${1:-3}
N=${2:-128}
shift $(( $# > 2 ? 2 : $# ))
STREAMS=${*:-1 4 8}
DS=models/kjv-deepseek2-7.1m-f16.gguf
LL=models/kjv-llama-4.6m-f16.gguf
# a held-out passage (every 20th chapter is held out: Genesis 20) and a copy-heavy prompt (a verse three times)
HELDOUT="And Abraham journeyed from thence toward the south country, and dwelled between Kadesh and Shur, and sojourned in Gerar."
VERSE="In the beginning God created the heaven and the earth. And the earth was without form, and void; and darkness was upon the face of the deep."
COPY="$VERSE
$VERSE
$VERSE
In the beginning"
OUT=$(mktemp)
run() { # case model prompt streams spec
    ./panamax bench -m "$2" --prompt-text "$3" --parallel "$4" --spec "$5" -n "$N" -r "$REPS" --threads 2 --json 2>/dev/null \
        | python3 -c "import json,sys; o=json.load(sys.stdin); s=o.get('spec') or {}; print(json.dumps({'case': '$1', 'streams': $4, 'spec': '$5', 'tps': o['agg_tg_tps'], 'acc': s.get('acceptance', 0), 'tpp': s.get('tokens_per_pass', 0)}))" >> "$OUT"
}
for p in $STREAMS; do
    for spec in off mtp ngram; do run "deepseek2, held-out prompt" "$DS" "$HELDOUT" "$p" "$spec"; done
    for spec in off ngram; do run "deepseek2, copy prompt" "$DS" "$COPY" "$p" "$spec"; done
    for spec in off ngram; do run "llama, held-out prompt" "$LL" "$HELDOUT" "$p" "$spec"; done
    for spec in off ngram; do run "llama, copy prompt" "$LL" "$COPY" "$p" "$spec"; done
done
python3 - "$OUT" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print("| model, prompt | streams | spec | decode tok/s (all streams) | vs off | acceptance | tokens per verify pass |")
print("|---|---:|---|---:|---:|---:|---:|")
for r in rows:
    off = next(o for o in rows if o['case'] == r['case'] and o['streams'] == r['streams'] and o['spec'] == 'off')
    extra = f"{r['acc']:.2f} | {r['tpp']:.2f}" if r['spec'] != 'off' else " | "
    print(f"| {r['case']} | {r['streams']} | {r['spec']} | {r['tps']:.1f} | {r['tps'] / off['tps']:.2f}x | {extra} |")
PY
rm -f "$OUT"
