#!/usr/bin/env bash
# Mutation testing of src/WorkerPool with Stryker.NET (a local tool, pinned in dotnet-tools.json).
# Too slow for CI: run it by hand and copy the score, date and commit into the README.
# Stryker swaps mutated builds into tests/WorkerPool.Tests/bin: do not build or test that project while it runs
# (or run it from a separate clone). The slow stress and memory tests (Category=Slow) are left out of mutant runs.
#   bash eng/mutation.sh            # writes StrykerOutput/<timestamp>/reports/mutation-report.{html,json}
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet tool restore
cd tests
log=$(mktemp)
trap 'rm -f "$log"' EXIT
dotnet tool run dotnet-stryker --config-file stryker-config.json "$@" 2>&1 | tee "$log"

# When a mutant does not compile in a way Stryker cannot pin down, it drops every mutant of the whole method ("Safe
# Mode") and the report then leaves them out without a word: a score from such a run is not comparable to the others.
if grep -q "Safe Mode" "$log"; then
  echo "Stryker dropped every mutant of the methods named below (Safe Mode): the score leaves them out." >&2
  grep "Safe Mode" "$log" >&2
  exit 1
fi
