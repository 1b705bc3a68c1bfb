#!/bin/sh
# After the switch: what the world sees. Exit 1 on the first difference.
set -u
fail=0
check() { got=$(dig +short "$2" "$1" | sort | tr '\n' ' ');
  case "$got" in *"$3"*) echo "ok   $1 $2 $3";;
  *) echo "FAIL $1 $2: want $3, got $got"; fail=1;; esac; }
check lists.hillcrest.example AAAA 2001:db8:90::25
check alumni.hillcrest.example MX '10 lists.hillcrest.example'
check lists.hillcrest.example MX '10 lists.hillcrest.example'
check lists.hillcrest.example A 192.0.2.90
exit $fail
