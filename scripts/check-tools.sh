#!/usr/bin/env bash
# What `make` needs from the machine before it can install the rest: Python 3.11+,
# Java 17+ (the Kafka broker) and Maven (fetches the broker's jars once).
set -u
missing=0
need() { command -v "$1" >/dev/null 2>&1 || { echo "missing: $1 ($2)" >&2; missing=1; }; }
need python3 "Python 3.11 or newer"
need java "Java 17 or newer runs the embedded Kafka broker"
need mvn "Maven fetches the Kafka broker's jars from Maven Central once"
if [ "$missing" -ne 0 ]; then
  echo "On Debian: apt-get update && apt-get install -y openjdk-17-jre-headless maven python3-venv" >&2
  exit 1
fi
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11+ is needed" >&2; exit 1; }
