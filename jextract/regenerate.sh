#!/usr/bin/env bash
# Regenerates the Java bindings (java/src/generated/java) from native/include/panamax.h with jextract.
# Run after every change of panamax.h and commit the result; BindingsTest fails on stale bindings.
#   usage: jextract/regenerate.sh        (JEXTRACT=/path/to/bin/jextract if it is not on PATH)
# jextract is not in any package registry: build it from github.com/openjdk/jextract (see jextract/VERSION
# for the version used) and keep it outside this repository.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
JEXTRACT=${JEXTRACT:-jextract}
HEADER=$ROOT/native/include/panamax.h
OUT=$ROOT/java/src/generated/java
cd "$ROOT"
INCLUDES=$(mktemp)
trap 'rm -f "$INCLUDES"' EXIT

# Only Panamax's own declarations: the symbols of panamax.h that start with pmx_/PMX_ (not stdint's).
"$JEXTRACT" --dump-includes "$INCLUDES" "$HEADER" 2>/dev/null
{
  cat jextract/options.txt
  grep -E -- '--include-[a-z]+ (pmx_|PMX_)' "$INCLUDES" | sed 's/ *#.*$//' | sort
} > jextract/includes.txt

rm -rf "$OUT/dev/panamax/ffi"
"$JEXTRACT" @jextract/includes.txt --output "$OUT" "$HEADER" 2> >(grep -v 'max_align' >&2)
sha256sum native/include/panamax.h | cut -d' ' -f1 > jextract/panamax.h.sha256
# lets BindingsTest notice a hand edit of the generated files
(cd "$OUT" && find . -name '*.java' | LC_ALL=C sort | xargs sha256sum) > jextract/generated.sha256
"$JEXTRACT" --version 2>&1 | head -3 > jextract/VERSION
echo "jextract sources: github.com/openjdk/jextract ${JEXTRACT_COMMIT:-(commit not given: set JEXTRACT_COMMIT)}" >> jextract/VERSION
echo "bindings regenerated in $OUT"
