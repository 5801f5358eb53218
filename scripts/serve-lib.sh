# Shared by the scripts that drive `./panamax serve` (bench-serve.sh, soak.sh); sourced, with ROOT set.
#   build_server_and_clients    builds the server jar and the test classes (load generators) when sources changed
#   find_java                   sets JAVA to a JDK 25+ (JAVA_HOME, then /usr/lib/jvm/*), as the launcher looks
#   start_server LOG ARGS...    starts ./panamax serve ARGS (port 0) in the background, sets SERVER_PID and URL
#   stop_server                 SIGTERM (graceful shutdown) and wait

build_server_and_clients() {
  if [ ! -f "$ROOT/server/target/panamax-server.jar" ] || [ ! -f "$ROOT/server/target/test-classes/dev/panamax/server/LoadGenerator.class" ] \
     || [ -n "$(find "$ROOT/server/src" "$ROOT/java/src/main" "$ROOT/native" -newer "$ROOT/server/target/panamax-server.jar" -type f -print -quit)" ]; then
    echo "$(basename "$0"): building..." >&2
    (cd "$ROOT" && ./panamax build >&2 && JAVA_HOME=$(dirname "$(dirname "$JAVA")") mvn -B -q -o test-compile -pl server >&2)
  fi
}

find_java() {
  JAVA=
  local d v
  for d in ${JAVA_HOME:-} /usr/lib/jvm/*25* /usr/lib/jvm/*; do
    [ -x "$d/bin/java" ] || continue
    v=$("$d/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')
    if [ "${v:-0}" -ge 25 ] 2>/dev/null; then JAVA=$d/bin/java; return; fi
  done
  echo "$(basename "$0"): no JDK 25+ found" >&2
  exit 1
}

start_server() {
  local log=$1
  shift
  (cd "$ROOT" && exec ./panamax serve "$@" --port 0) 2> "$log" &
  SERVER_PID=$!
  URL=
  for _ in $(seq 1 600); do
    URL=$(sed -n 's#^panamax: serving .* at \(http://[^ ]*\)/v1 .*#\1#p' "$log" | head -1)
    [ -n "$URL" ] && return
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$log" >&2; echo "$(basename "$0"): the server did not start" >&2; exit 1; }
    sleep 0.5
  done
  echo "$(basename "$0"): the server did not start in 300 s" >&2
  exit 1
}

stop_server() {
  if [ -n "${SERVER_PID:-}" ] && kill -0 "$SERVER_PID" 2>/dev/null; then kill -TERM "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; fi
}
