#!/bin/bash
# make demo: build the test hosts, deploy the collection onto them, send
# authenticated, unauthenticated and forged mail from the client container,
# and print the table of what was accepted and refused.
# KEEP=1 leaves the hosts running afterwards; `make clean` removes them.
set -uo pipefail
cd "$(dirname "$0")/.."
scenario=default
log=.cache/demo.log
mkdir -p .cache
: > "$log"
# verify.yml writes its table here.
export AUTHSMTP_REPORT="$PWD/.cache/smtp-report.txt"
rm -f "$AUTHSMTP_REPORT"

step() {
    local what="$1"; shift
    local start=$SECONDS
    printf '%-62s' "$what"
    if "$@" >>"$log" 2>&1; then
        printf 'ok (%ds)\n' $((SECONDS - start))
        return 0
    fi
    printf 'FAILED (%ds)\n\n--- last lines of %s ---\n' $((SECONDS - start)) "$log"
    tail -n 40 "$log"
    return 1
}

rc=0
step "creating mx12 (Debian 12), mx13 (13), client, intruder, sink" molecule create -s "$scenario" &&
step "preparing the client, its TLS scanner and the sink" molecule prepare -s "$scenario" --force &&
step "deploying playbooks/site.yml onto mx12 and mx13" molecule converge -s "$scenario" &&
step "verifying: SMTP sessions, TLS, client files, host state" molecule verify -s "$scenario" || rc=1

if [ -f "$AUTHSMTP_REPORT" ]; then
    echo
    echo "What the servers answered to the untrusted client container, and what their hosts hold:"
    echo
    cat "$AUTHSMTP_REPORT"
fi
echo
echo "full log: $log"

if [ "${KEEP:-0}" = 1 ]; then
    echo "hosts kept: molecule login -s $scenario -h mx12 (or mx13, client, intruder, sink); make clean removes them"
else
    step "removing the test hosts" molecule destroy -s "$scenario" || true
fi
exit $rc
