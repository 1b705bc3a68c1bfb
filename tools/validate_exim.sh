#!/bin/sh
# Validate a sample host's Exim configuration with the real Exim (Debian's
# exim4-daemon-heavy).  Exim resolves absolute paths, so this re-execs itself
# in a private mount namespace and bind-mounts the sample folders onto the
# host paths the config names.  Needs root (unshare) and the users the config
# names (mailman, mailnull, cyrus) to exist locally.
#
#   tools/validate_exim.sh sample_configs/netsight [address ...]
set -eu
if [ "${_IN_NS:-}" != 1 ]; then
	exec env _IN_NS=1 unshare --mount "$0" "$@"
fi
T=$(cd "$1" && pwd); shift
CONF=/usr/local/etc/exim/configure
mkdir -p /usr/local/etc/exim /usr/local/mailman
mount --bind "$T/usr/local/etc/exim" /usr/local/etc/exim
[ -d "$T/usr/local/mailman" ] && mount --bind "$T/usr/local/mailman" /usr/local/mailman
# etc/aliases may be a relative symlink (FreeBSD): bind its target
mount --bind "$(readlink -f "$T/etc/aliases")" /etc/aliases
exim4 -C $CONF -bV 2>&1 | grep -v -e 'purging the environment' -e keep_environment
echo "--- routers";    exim4 -C $CONF -bP router_list
echo "--- transports"; exim4 -C $CONF -bP transport_list
[ $# -gt 0 ] && exim4 -C $CONF -bt "$@" 2>&1 | grep -v -e 'purging the environment' -e keep_environment
exit 0
