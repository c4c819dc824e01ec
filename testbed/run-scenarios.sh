#!/usr/bin/env bash
# Run Molecule scenarios one after the other, print how long each took, and
# fail if any failed. Scenarios joined by "+" run side by side: for those
# whose tests assert no latency (the machine has 2 cores; the scenarios
# that bound a request's time run alone). A member of such a group may be
# a lane of scenarios joined by "/", run one after the other beside the
# rest of the group ("cores+acme/sanity+runs": acme, then sanity, while
# cores and runs run). Each scenario of a group writes its output to
# .testbed/logs/<scenario>.log, printed once the whole group has ended.
#
# The member "sanity" is not a Molecule scenario: it runs ansible-test
# sanity with the oldest and the newest ansible-core (testbed/sanity.sh),
# which bounds no latency either.
#
# usage: run-scenarios.sh SCENARIO[+SCENARIO[/SCENARIO]...]...
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$TESTBED_ROOT" || exit

# Molecule probes for an optional "default" scenario before each run and logs
# "CRITICAL 'molecule/default/molecule.yml' glob failed. Exiting." when there
# is none; it then carries on. The summary below is what counts.
declare -a summary=()
declare -a failed_scenarios=()
failed=0
total=0
logs="$TESTBED_STATE/logs"
mkdir -p "$logs"

# note SCENARIO RC SECONDS [BESIDE]: add a line to the summary.
note() {
  local result=passed
  if [ "$2" -ne 0 ]; then
    result=FAILED
    failed=$((failed + 1))
    failed_scenarios+=("$1")
  fi
  total=$((total + 1))
  summary+=("$(printf '%-12s %-6s %4ss%s' "$1" "$result" "$3" "${4:+  (side by side: $4)}")")
}

# run SCENARIO: a Molecule scenario's test, or the sanity tests.
run() {
  if [ "$1" = sanity ]; then
    testbed/sanity.sh oldest && testbed/sanity.sh newest
  else
    molecule test --scenario-name "$1"
  fi
}

for group in "$@"; do
  IFS=+ read -ra members <<<"$group"
  if [ "${#members[@]}" -eq 1 ] && [[ $group != */* ]]; then
    log "scenario $group"
    start=$SECONDS
    rc=0
    run "$group" 2>&1 | tee "$logs/$group.log" || rc=$?
    note "$group" "$rc" "$((SECONDS - start))"
    continue
  fi
  beside="${group//+/, }"
  beside="${beside//\//, then }"
  log "scenarios ${beside}, side by side (output in $logs)"
  for lane in "${members[@]}"; do
    (
      IFS=/ read -ra scenarios <<<"$lane"
      for scenario in "${scenarios[@]}"; do
        start=$SECONDS
        rc=0
        run "$scenario" >"$logs/$scenario.log" 2>&1 || rc=$?
        echo "$rc $((SECONDS - start))" >"$logs/$scenario.result"
      done
    ) &
  done
  wait
  IFS=+/ read -ra scenarios <<<"$group"
  for scenario in "${scenarios[@]}"; do
    log "scenario $scenario (ran side by side: $beside)"
    cat "$logs/$scenario.log"
    read -r rc seconds <"$logs/$scenario.result"
    note "$scenario" "$rc" "$seconds" "$beside"
  done
done

# What failed, from each failed scenario's log: the lines that say so (a
# test's assertion, a task's error), so that the end of the output, which
# is all some CI systems show, names it.
for scenario in "${failed_scenarios[@]}"; do
  printf '\nWhat failed in %s (the whole output: %s):\n' "$scenario" "$logs/$scenario.log"
  sed 's/\x1b\[[0-9;]*m//g; s/^[[:space:]]*│[[:space:]]\{0,1\}//' "$logs/$scenario.log" |
    grep -E '^(FAILED|ERROR) |^E   |fatal: \[|Idempotence test failed|^CRITICAL Ansible return code' | head -n 60
done

printf '\nScenarios:\n'
printf '  %s\n' "${summary[@]}"
printf '%d passed, %d failed\n' "$((total - failed))" "$failed"
[ "$failed" -eq 0 ]
