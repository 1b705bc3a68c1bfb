#!/bin/sh
# After the switch: what the world sees. Exit 1 on the first difference.
set -u
fail=0
check() { got=$(dig +short "$2" "$1" | sort | tr '\n' ' ');
  case "$got" in *"$3"*) echo "ok   $1 $2 $3";;
  *) echo "FAIL $1 $2: want $3, got $got"; fail=1;; esac; }
check lists.oakfield.example AAAA 2001:db8:a0::25
check lists.oakfield.example MX '10 lists.oakfield.example'
check lists.oakfield.example MX '20 mail.oakfield.example'
check lists.oakfield.example A 192.0.2.120
exit $fail
