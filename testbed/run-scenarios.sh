#!/usr/bin/env bash
# Run Molecule scenarios one after the other (never in parallel: the machine
# is small), print how long each took, and fail if any failed.
#
# usage: run-scenarios.sh SCENARIO...
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$TESTBED_ROOT"

# Molecule probes for an optional "default" scenario before each run and logs
# "CRITICAL 'molecule/default/molecule.yml' glob failed. Exiting." when there
# is none; it then carries on. The summary below is what counts.
declare -a summary=()
failed=0
for scenario in "$@"; do
  log "scenario $scenario"
  start=$SECONDS
  if molecule test --scenario-name "$scenario"; then
    result=passed
  else
    result=FAILED
    failed=$((failed + 1))
  fi
  summary+=("$(printf '%-12s %-6s %4ss' "$scenario" "$result" "$((SECONDS - start))")")
done

printf '\nMolecule scenarios:\n'
printf '  %s\n' "${summary[@]}"
printf '%d passed, %d failed\n' "$(( $# - failed ))" "$failed"
[ "$failed" -eq 0 ]
