#!/usr/bin/env bash
# The paired runs of 2026-12-08-spec8-zen5.md: each row one JVM, `bench --vs-off` (the speculative engine and a plain
# one, run by run in alternation after a full-length warm-up of each), 2 threads; "A/A" rows pair two plain engines.
#   docs/bench/2026-12-08-spec8-zen5/run.sh REPS ROWS...     ROWS: names below (default: all); prints JSON lines
# PANAMAX=CMD runs another CLI (a frozen copy of the jar: ./panamax rebuilds when the sources change); FLOCK= (empty)
# when the caller holds /work/bench.lock for the whole list.
set -euo pipefail
cd "$(dirname "$0")/../../.."
REPS=${1:-60}; shift || true
LL=models/kjv-llama-4.6m-f16.gguf DS=models/kjv-deepseek2-7.1m-f16.gguf
KD=models/kjv-llama-draft-0.9m-kd-f16.gguf
HELDOUT="And Abraham journeyed from thence toward the south country, and dwelled between Kadesh and Shur, and sojourned in Gerar."
VERSE="In the beginning God created the heaven and the earth. And the earth was without form, and void; and darkness was upon the face of the deep."
COPY="$VERSE
$VERSE
$VERSE
In the beginning"
row() { # name model prompt streams tokens [bench options...]
    local name=$1 m=$2 p=$3 n=$4 t=$5; shift 5
    ${FLOCK-flock /work/bench.lock} ${PANAMAX:-./panamax} bench -m "$m" --prompt-text "$p" --parallel "$n" -n "$t" --warmup "$t" -r "$REPS" \
        --threads 2 --vs-off --json "$@" 2>/dev/null | python3 -c "
import json,sys
o=json.load(sys.stdin); s=o.get('spec_all_runs') or {}  # over every timed run, not the best
print(json.dumps({'row':'$name','streams':$n,'vs':o['vs_off'],'lo':o['vs_off_min'],'hi':o['vs_off_max'],
  'tps':o['agg_tg_tps'],'off_tps':o['off_agg_tg_tps'],'acc':s.get('acceptance',0),'tpp':s.get('tokens_per_pass',0),
  'from_drafting':round(s.get('passes',0)*s.get('tokens_per_pass',0)/max(1,s.get('gen_tokens',1)),3),
  'load':open('/proc/loadavg').read().split()[0]}))" || echo "{\"row\": \"$name\", \"error\": true}"
}
all="aa1 draft1 draft1-k2 draft1-f16-k2 ngram-copy1 ngram-held1 aa-ds1 mtp1 aa4 draft4 ngram4 mtp4 aa8 draft8 ngram8 mtp8"
for r in ${*:-$all}; do
    case $r in
    aa1) row "$r" $LL "$HELDOUT" 1 192 ;;
    draft1) row "$r" $LL "$HELDOUT" 1 192 --spec draft:$KD ;;
    draft1-k2) row "$r" $LL "$HELDOUT" 1 192 --spec draft:$KD --spec-fixed --spec-k 2 ;;
    draft1-f16-k2) row "$r" $LL "$HELDOUT" 1 192 --spec draft:$KD --spec-fixed --spec-k 2 --no-spec-draft-q8 ;;
    ngram-copy1) row "$r" $LL "$COPY" 1 144 --spec ngram ;;
    ngram-held1) row "$r" $LL "$HELDOUT" 1 192 --spec ngram ;;
    aa-ds1) row "$r" $DS "$HELDOUT" 1 192 ;;
    mtp1) row "$r" $DS "$HELDOUT" 1 192 --spec mtp ;;
    mtp1-fixed) row "$r" $DS "$HELDOUT" 1 192 --spec mtp --spec-fixed ;;
    aa4|aa8) row "$r" $LL "$HELDOUT" ${r#aa} 192 ;;
    draft4|draft8) row "$r" $LL "$HELDOUT" ${r#draft} 192 --spec draft:$KD ;;
    ngram4|ngram8) row "$r" $LL "$COPY" ${r#ngram} 144 --spec ngram ;;
    mtp4|mtp8) row "$r" $DS "$HELDOUT" ${r#mtp} 192 --spec mtp ;;
    *) echo "unknown row $r" >&2; exit 2 ;;
    esac
done
