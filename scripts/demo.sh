#!/bin/bash
# make demo: build the test hosts, deploy the collection onto them, send
# authenticated, unauthenticated and forged mail from the client container,
# and print the table of what was accepted and refused.
# KEEP=1 leaves the hosts running afterwards (molecule login -h mx12 ...).
set -uo pipefail
cd "$(dirname "$0")/.."
scenario=default

molecule converge -s "$scenario" && molecule verify -s "$scenario"
rc=$?

report_file="$(find "$HOME/.ansible/tmp" "$HOME/.cache/molecule" -path "*$scenario*" -name smtp-report.txt 2>/dev/null | head -n 1)"
echo
echo "=== What the servers accepted and refused (sessions from the client container) ==="
if [ -n "$report_file" ]; then cat "$report_file"; else echo "no report: the run stopped before verify"; fi

if [ "${KEEP:-0}" = 1 ]; then
    echo "hosts kept: molecule login -s $scenario -h mx12 | mx13 | client | sink; make clean removes them"
else
    molecule destroy -s "$scenario" >/dev/null
fi
exit $rc
