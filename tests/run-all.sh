#!/usr/bin/env bash
# `make test`: the whole suite as two concurrent pytest processes. The unit tests are
# CPU-bound; the integration, reliability, deploy and docs tests mostly wait on Kafka,
# Java start-ups and subprocesses, so on a 2-core machine running them side by side
# takes about the time of the longer half instead of the sum. The unit half's output is
# printed after the other half; the exit code is pytest's: 0 when both pass, 5 when
# either collected nothing, else the first failure's.
set -u
BIN="${BIN:-.venv/bin}"
unit_log="$(mktemp)"
"$BIN/pytest" -q tests/unit >"$unit_log" 2>&1 &
unit_pid=$!
"$BIN/pytest" -q tests/integration tests/reliability tests/deploy tests/docs
rest_rc=$?
wait "$unit_pid"
unit_rc=$?
echo "== unit tests (ran beside the above)"
cat "$unit_log"
rm -f "$unit_log"
echo "== unit: exit $unit_rc; integration/reliability/deploy/docs: exit $rest_rc"
for rc in "$unit_rc" "$rest_rc"; do
  if [ "$rc" -eq 5 ]; then exit 5; fi
done
if [ "$unit_rc" -ne 0 ]; then exit "$unit_rc"; fi
exit "$rest_rc"
