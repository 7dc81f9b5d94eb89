#!/usr/bin/env bash
# `make test`: the whole suite as three concurrent pytest processes. The unit tests are
# CPU-bound; the integration tests and the reliability/deploy/docs tests mostly wait on
# Kafka, Java start-ups and subprocesses, each with its own session broker (the CLI
# integration tests run with the reliability part, to even the two out), so on
# a 2-core machine running them side by side takes about the time of the longest part
# instead of the sum. The unit and reliability parts' output is printed after the
# integration part's; the exit code is pytest's: 0 when all pass, 5 when any collected
# nothing, else the first failure's.
set -u
BIN="${BIN:-.venv/bin}"
unit_log="$(mktemp)"
rel_log="$(mktemp)"
"$BIN/pytest" -q tests/unit >"$unit_log" 2>&1 &
unit_pid=$!
"$BIN/pytest" -q --durations=15 tests/reliability tests/deploy tests/docs tests/integration/cli \
  >"$rel_log" 2>&1 &
rel_pid=$!
"$BIN/pytest" -q --durations=15 tests/integration --ignore=tests/integration/cli
int_rc=$?
wait "$rel_pid"
rel_rc=$?
wait "$unit_pid"
unit_rc=$?
echo "== reliability/deploy/docs/CLI-integration tests (ran beside the above)"
cat "$rel_log"
echo "== unit tests (ran beside the above)"
cat "$unit_log"
rm -f "$unit_log" "$rel_log"
echo "== unit: exit $unit_rc; integration: exit $int_rc; reliability/deploy/docs/CLI: exit $rel_rc"
for rc in "$unit_rc" "$int_rc" "$rel_rc"; do
  if [ "$rc" -eq 5 ]; then exit 5; fi
done
for rc in "$unit_rc" "$int_rc" "$rel_rc"; do
  if [ "$rc" -ne 0 ]; then exit "$rc"; fi
done
exit 0
