#!/usr/bin/env bash
# all-MiniLM-L6-v2 embeddings/s: Panamax (the converted ONNX file, through its LangChain4j provider) against
# LangChain4j's AllMiniLmL6V2EmbeddingModel (ONNX Runtime), batch 1 and 64, alternated in one JVM
# (langchain4j/src/test/.../MiniLmBench.java).
# usage: scripts/bench-embeddings.sh [THREADS=2] [TYPE=f32|f16|bf16|q8_0] [TEXTS=256] [REPS=3]
# MVN_ARGS="-o -Dexec.skip=true": extra Maven arguments (offline; the native library already built)
set -euo pipefail
cd "$(dirname "$0")/.."
JAVA_HOME=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64} mvn -B -q ${MVN_ARGS:-} -pl java,langchain4j -am -Dctest.skip=true \
  -Dtest=MiniLmBench -Dsurefire.failIfNoSpecifiedTests=false -Dpanamax.bench.threads="${1:-2}" \
  -Dpanamax.bench.type="${2:-f32}" -Dpanamax.bench.texts="${3:-256}" -Dpanamax.bench.reps="${4:-3}" \
  -Dsurefire.printSummary=false -DtrimStackTrace=false -Dsurefire.redirectTestOutputToFile=false verify 2>&1 \
  | grep -E '^(model|batch|before)|ERROR|FAIL'
