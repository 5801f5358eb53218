#!/usr/bin/env bash
# The local-cluster test of the spark module alone (./panamax test runs it with the others; two executor JVMs start
# from the whole Spark class path: 26 s idle, minutes on a busy 2-core machine): local-cluster[2,1,1024], one executor
# JVM killed mid-job, every row back and
# equal to the engine's greedy completion alone. SPARK_HOME (spark/target/spark-home, links to the test class path)
# and SPARK_SCALA_VERSION=2.13 are set by the spark module's surefire configuration.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export JAVA_HOME=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}
cd "$ROOT" && mvn -B -q -pl spark -am -Dctest.skip=true -Dtest=LocalClusterTest -Dsurefire.failIfNoSpecifiedTests=false test
echo "spark local-cluster test: 1 passed, 0 failed"
