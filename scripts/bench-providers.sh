#!/usr/bin/env bash
# Aggregate decode of N concurrent callers through the LangChain4j provider vs the engine driven directly, in one JVM,
# and the first streamed piece's engine->handler delay (langchain4j/src/test/.../ProviderBench.java); then the same
# aggregate through Spring AI's streaming ChatModel (spring-ai/src/test/.../SpringAiProviderBench.java).
# usage: scripts/bench-providers.sh MODEL.gguf [PARALLEL=8] [GEN=128]
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=$(realpath "$1"); PAR=${2:-8}; GEN=${3:-128}
JAVA_HOME=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64} mvn -B -q ${MVN_ARGS:-} -pl java,langchain4j -am -Dctest.skip=true \
  -Dtest=ProviderBench -Dsurefire.failIfNoSpecifiedTests=false -Dpanamax.bench.model="$MODEL" \
  -Dpanamax.bench.parallel="$PAR" -Dpanamax.bench.gen="$GEN" -Dsurefire.printSummary=false \
  -DtrimStackTrace=false -Dsurefire.redirectTestOutputToFile=false verify 2>&1 | grep -E '^(model|prompt|aggregate|first piece)|ERROR|FAIL'
JAVA_HOME=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64} mvn -B -q ${MVN_ARGS:-} -pl java,spring-ai -am -Dctest.skip=true \
  -Dtest=SpringAiProviderBench -Dsurefire.failIfNoSpecifiedTests=false -Dpanamax.bench.model="$MODEL" \
  -Dpanamax.bench.parallel="$PAR" -Dpanamax.bench.gen="$GEN" -Dsurefire.printSummary=false \
  -DtrimStackTrace=false -Dsurefire.redirectTestOutputToFile=false verify 2>&1 | grep -E '^(model|prompt|aggregate|first piece)|ERROR|FAIL'
