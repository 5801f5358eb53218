#!/usr/bin/env bash
# A time-boxed coverage-guided fuzzing campaign with Jazzer on one target:
#   scripts/fuzz.sh TARGET [MINUTES]     (default 10 minutes)
#   TARGET: gguf | tokenizer | vocabulary | template | grammar | schema | request (the server module), or
#           native-NAME: a libFuzzer harness of the C library (scripts/fuzz-native.sh)
# The targets are the @FuzzTest methods that every `./panamax test` replays over their committed inputs
# (java/src/test/resources/dev/panamax/**/*FuzzTestInputs/). Here Jazzer instruments the library and mutates: the
# corpus it grows is kept in java/.cifuzz-corpus/ (not committed) and reused by the next campaign; a finding stops the
# run and is written as crash-<sha1> into the target's inputs directory, where it then replays in every test run
# (commit it with the fix). Prints libFuzzer's status lines: executions (#N), coverage (cov:), exec/s.
# MVN_ARGS: more Maven arguments, e.g. "-o -Dexec.skip=true" to skip the native build (no Java target needs it).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${1:?usage: scripts/fuzz.sh gguf|tokenizer|vocabulary|template|grammar|schema|request|native-NAME [minutes]}
MINUTES=${2:-10}
MODULE=java
case "$TARGET" in
  gguf) TEST='GgufFuzzTest#parse'; INSTRUMENT='dev.panamax.**' ;;
  tokenizer) TEST='TokenizerFuzzTest#encodeDecode'; INSTRUMENT='dev.panamax.**' ;;
  vocabulary) TEST='TokenizerFuzzTest#vocabulary'; INSTRUMENT='dev.panamax.**' ;;
  template) TEST='ChatTemplateFuzzTest#render'; INSTRUMENT='dev.panamax.**,com.hubspot.jinjava.**,jinjava.**' ;;
  grammar) TEST='GrammarFuzzTest#gbnf'; INSTRUMENT='dev.panamax.**' ;;
  schema) TEST='GrammarFuzzTest#schema'; INSTRUMENT='dev.panamax.**,com.fasterxml.jackson.**' ;;
  request) TEST='RequestFuzzTest#post'; INSTRUMENT='dev.panamax.**,com.fasterxml.jackson.**'; MODULE=server ;;
  native-*) exec "$ROOT/scripts/fuzz-native.sh" "${TARGET#native-}" "$MINUTES" ;;
  *) echo "unknown target '$TARGET' (gguf, tokenizer, vocabulary, template, grammar, schema, request, native-NAME)" >&2; exit 2 ;;
esac
if [ -z "${JAVA_HOME:-}" ] || ! "$JAVA_HOME/bin/java" -version 2>&1 | grep -q 'version "2[5-9]'; then
  for d in /usr/lib/jvm/*25*; do [ -x "$d/bin/java" ] && JAVA_HOME=$d && break; done
fi
export JAVA_HOME JAZZER_FUZZ=1
cd "$ROOT"
if [ "$MODULE" = java ]; then
  mvn -B -q ${MVN_ARGS:-} -pl java test-compile >/dev/null
  # surefire:test runs only the tests (not the native ctest suite); one fuzz test per JVM in fuzzing mode
  RUN=(-pl java surefire:test)
else
  # the server's tests use the library's test classes: from this reactor (not a jar another checkout installed)
  RUN=(-pl java,"$MODULE" test -Dctest.skip=true)
fi
mvn -B ${MVN_ARGS:-} "${RUN[@]}" -Dtest="$TEST" -Dsurefire.failIfNoSpecifiedTests=false \
    -Djazzer.max_duration="${MINUTES}m" -Djazzer.instrument="$INSTRUMENT" 2>&1 \
  | grep --line-buffered -E '^#[0-9]+|^INFO: (Seed|Loaded [0-9]+ module|Running with)|==[0-9]+==|crash-|Tests run|FAIL|ERROR|Exception' \
  | grep --line-buffered -v -E 'Loaded [0-9]* hooks|^INFO: Instrumented'
