#!/bin/bash
# Mail generated on a satellite, as cron and applications make it: one
# message every INTERVAL seconds through /usr/sbin/sendmail (no sender
# given: it is root@ this host), alternately to a user of the servers and to
# the outside, until STOP_FILE exists. The Message-ID of every message
# sendmail accepted (exit status 0: it is in the local queue) goes to
# ACCEPTED, one per line; the others to FAILED. At the end it creates
# ACCEPTED with .done instead of .accepted.
#   mailgen.sh TOKEN INTERVAL STOP_FILE ACCEPTED FAILED [COUNT]
# With COUNT, it sends that many messages and stops.
set -u
token=$1 interval=$2 stop=$3 accepted=$4 failed=$5 count=${6:-0}
host=$(hostname -f)
n=0
while [ ! -e "$stop" ]; do
    n=$((n + 1))
    id="<fleet-$token-${host%%.*}-$n@$host>"
    if [ $((n % 2)) -eq 0 ]; then rcpt=alice@example.test; else rcpt=ops@external.test; fi
    if printf 'Message-ID: %s\nSubject: fleet %s %s #%d\nTo: %s\n\nGenerated on %s.\n' \
        "$id" "$token" "$host" "$n" "$rcpt" "$host" | /usr/sbin/sendmail -i "$rcpt"; then
        echo "$id" >> "$accepted"
    else
        echo "$id" >> "$failed"
    fi
    [ "$count" -gt 0 ] && [ "$n" -ge "$count" ] && break
    sleep "$interval"
done
touch "${accepted%.accepted}.done"
