#!/bin/sh
# After the switch: what the world sees. Exit 1 on the first difference.
set -u
fail=0
check() { got=$(dig +short "$2" "$1" | sort | tr '\n' ' ');
  case "$got" in *"$3"*) echo "ok   $1 $2 $3";;
  *) echo "FAIL $1 $2: want $3, got $got"; fail=1;; esac; }
check lists.netsight.example AAAA 2001:db8:50::25
check lists.netsight.example MX '10 lists.netsight.example'
check lists.netsight.example MX '20 mail.netsight.example'
check lists.riverbend.example MX '10 lists.netsight.example'
check lists.riverbend.example MX '20 mail.netsight.example'
check lists.riverbend.example AAAA 2001:db8:50::25
check lists.netsight.example A 192.0.2.25
check lists.riverbend.example A 192.0.2.25
exit $fail
