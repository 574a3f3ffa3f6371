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
dotnet tool run dotnet-stryker --config-file stryker-config.json "$@"
