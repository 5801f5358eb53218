#!/usr/bin/env bash
# Batch generation speed (a benchmark, not a test): Panamax on Spark (PanamaxSpark.generate, local[2]) against
# ./panamax bench --parallel 16 on the same file, and against the AutoGGUFModel way of running a batch (java-llama.cpp,
# de.kherud:llama, one model per JVM, rows in groups of 8, one blocking call per group). Same prompts, same threads.
#   MODEL=M.gguf ROWS=256 N_GEN=64 THREADS=2 GROUP=8 [PARTS="bench spark baseline"] [SKIP_BUILD=1] scripts/bench-spark.sh
# PARTS picks the systems to run (a long run can be split into jobs); SKIP_BUILD=1 uses the jars already built.
# Prompts: ROWS lines of mixed lengths (about 32 to 512 tokens). Prints one JSON line per system, then the like-for-like
# ratio against the engine alone: bench --parallel's agg_tg_tps counts decode steps only, after its prompts, while the
# Spark job's time includes prefilling its rows; so the engine-alone time of the Spark job's work is priced at bench's
# rates (its prompt tokens / agg_pp_tps + its generated tokens / agg_tg_tps) and compared with the job's whole time.
# On a shared machine the figures move between runs: compare the ratios of one run (the load average is printed).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MODEL=${MODEL:-/tmp/llamacpp-ref/models/tinyllama-shape-1.1b-q4_0.gguf}
ROWS=${ROWS:-256} N_GEN=${N_GEN:-64} THREADS=${THREADS:-2} GROUP=${GROUP:-8} PARALLEL=${PARALLEL:-16}
PARTITIONS=${PARTITIONS:-8}
PARTS=${PARTS:-"bench spark baseline"}
part() { case " $PARTS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
[ -f "$MODEL" ] || { echo "bench-spark: no model at $MODEL (set MODEL=...; /tmp/llamacpp-ref/setup.sh --big writes the TinyLlama-shaped one)" >&2; exit 1; }
JAVA_HOME=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}
WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT

# prompts: words of a fixed vocabulary, 24 to 400 words (about 32 to 512 tokens), a fixed seed
python3 - "$ROWS" > "$WORK/prompts.txt" <<'PY'
import random, sys
r = random.Random(7)
words = "the of and to in that is was he for it with as his on be at by had not are but from or have an they which one you were her all she there would their we him been has when who will more no if out so said what up its about into than them can only other new some could time these two may then do first any my now such like our over man me even most made after also did many before must through back years where much your way well down should because each just those people how too little state good very make world still own see men work long get here between both life being under never day same another know while last might us great old year off come since against go came right used take three".split()
for i in range(int(sys.argv[1])):
    n = 24 + (i * 97) % 377
    print(" ".join(r.choice(words) for _ in range(n)))
PY

echo "model $MODEL, $ROWS rows, $N_GEN tokens each, $THREADS threads ($(date -u +%H:%M) UTC, load average $(cut -d' ' -f1-3 /proc/loadavg))"

# 1. ./panamax bench --parallel: the serving engine alone (the ceiling)
if part bench; then
"$ROOT/panamax" bench -m "$MODEL" --parallel "$PARALLEL" -p 256 -n "$N_GEN" --threads "$THREADS" --json | tee "$WORK/bench.json" \
  | sed 's/^/panamax-bench: /'
echo "  ($(date -u +%H:%M) UTC, load average $(cut -d' ' -f1-3 /proc/loadavg))"
fi

# 2. Panamax on Spark, local[THREADS]
if part spark; then
[ -n "${SKIP_BUILD:-}" ] || (cd "$ROOT" && "$ROOT/panamax" build >/dev/null 2>&1)
CP=$(ls "$ROOT"/spark/target/panamax-spark-*.jar | grep -v -e sources -e tests | head -1):$(cat "$ROOT/spark/target/classpath.txt")
FLAGS=$(sed -n 's:.*<spark.jvm.flags>\(.*\)</spark.jvm.flags>.*:\1:p' "$ROOT/spark/pom.xml")
mkdir -p "$WORK/classes"
"$JAVA_HOME/bin/javac" -nowarn -d "$WORK/classes" -cp "$CP" "$ROOT/scripts/bench-spark/BenchSpark.java"
"$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED --add-modules jdk.incubator.vector $FLAGS -XX:+UseParallelGC \
  -cp "$WORK/classes:$CP" BenchSpark "$MODEL" "$WORK/prompts.txt" "$N_GEN" "local[$THREADS]" "$PARTITIONS" "$PARALLEL" \
  2>"$WORK/spark.log" | tee "$WORK/spark.json" | sed 's/^/panamax-spark: /' || { tail -30 "$WORK/spark.log" >&2; exit 1; }
echo "  ($(date -u +%H:%M) UTC, load average $(cut -d' ' -f1-3 /proc/loadavg))"
part bench && python3 - "$WORK/bench.json" "$WORK/spark.json" <<'PY'
import json, sys
b = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1]); s = json.loads(open(sys.argv[2]).read().strip().splitlines()[-1])
alone = s["prompt_tokens"] / b["agg_pp_tps"] + s["gen_tokens"] / b["agg_tg_tps"]
print("like-for-like: the Spark job's %d prompt + %d generated tokens take %.1f s at bench's rates (%.1f pp, %.1f tg tok/s);"
      " the job took %.1f s: %.1f%% of the engine alone (whole job, prompts included, for both)"
      % (s["prompt_tokens"], s["gen_tokens"], alone, b["agg_pp_tps"], b["agg_tg_tps"], s["seconds"], 100 * alone / s["seconds"]))
PY
fi

# 3. the AutoGGUFModel-style baseline (java-llama.cpp's jar carries llama.cpp's natives)
part baseline || exit 0
mvn -B -q dependency:get -Dartifact=de.kherud:llama:4.2.0 >/dev/null 2>&1
LLAMA_JAR=$HOME/.m2/repository/de/kherud/llama/4.2.0/llama-4.2.0.jar
"$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED -cp "$LLAMA_JAR" "$ROOT/scripts/bench-spark/AutoGgufBaseline.java" \
  "$MODEL" "$WORK/prompts.txt" "$N_GEN" "$THREADS" "$GROUP" 2>"$WORK/llama.log" | sed 's/^/autogguf-style: /' \
  || { tail -30 "$WORK/llama.log" >&2; exit 1; }
echo "  ($(date -u +%H:%M) UTC, load average $(cut -d' ' -f1-3 /proc/loadavg))"
