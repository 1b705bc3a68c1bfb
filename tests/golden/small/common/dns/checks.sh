#!/bin/sh
# After the switch: what the world sees. Exit 1 on the first difference.
set -u
fail=0
check() { got=$(dig +short "$2" "$1" | sort | tr '\n' ' ');
  case "$got" in *"$3"*) echo "ok   $1 $2 $3";;
  *) echo "FAIL $1 $2: want $3, got $got"; fail=1;; esac; }
absent() { got=$(dig +short "$2" "$1" | sort | tr '\n' ' ');
  case " $got" in *" $3 "*) echo "FAIL $1 $2: must not be $3, got $got"; fail=1;;
  *) echo "ok   $1 $2 not $3";; esac; }
check lists.example.org AAAA 2001:db8:60::25
check lists.smallclub.example MX '10 lists.example.org'
check lists.smallclub.example MX '20 lists.smallclub.example'
check lists.smallclub.example A 198.51.100.7
absent lists.smallclub.example AAAA 2001:db8:60::25
exit $fail
