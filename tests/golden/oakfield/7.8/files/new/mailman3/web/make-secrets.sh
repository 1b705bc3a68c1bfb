#!/bin/sh
# Makes the secrets of Mailman 3 and its web UI on this host, once (written by
# migrate; the plan holds none): core's REST password, which mailman.cfg reads from
# /etc/mailman-secrets.cfg, and HyperKitty's archiver key, which core reads from
# /etc/mailman-hyperkitty.cfg; both, and Django's SECRET_KEY, for the web UI in
# /etc/mailman3/secrets.ini. Files that exist are kept: a second run changes nothing.
set -eu
umask 077
install -d -m 0755 /etc/mailman3
if [ -s /etc/mailman-secrets.cfg ] && [ -s /etc/mailman3/secrets.ini ] && [ -s /etc/mailman-hyperkitty.cfg ]; then
	exit 0
fi
key=$(openssl rand -hex 50)
rest=$(openssl rand -hex 24)
archiver=$(openssl rand -hex 32)
printf '[webservice]\nadmin_pass: %s\n' "$rest" >/etc/mailman-secrets.cfg.tmp
printf '[general]\nbase_url: http://localhost/hyperkitty/\napi_key: %s\n' "$archiver" >/etc/mailman-hyperkitty.cfg.tmp
printf '[web]\nsecret_key: %s\nrest_pass: %s\narchiver_key: %s\n' "$key" "$rest" "$archiver" >/etc/mailman3/secrets.ini.tmp
chown root:_mailman3 /etc/mailman-secrets.cfg.tmp /etc/mailman-hyperkitty.cfg.tmp
chown root:_mailmanweb /etc/mailman3/secrets.ini.tmp
chmod 0640 /etc/mailman-secrets.cfg.tmp /etc/mailman-hyperkitty.cfg.tmp /etc/mailman3/secrets.ini.tmp
mv -f /etc/mailman-secrets.cfg.tmp /etc/mailman-secrets.cfg
mv -f /etc/mailman-hyperkitty.cfg.tmp /etc/mailman-hyperkitty.cfg
mv -f /etc/mailman3/secrets.ini.tmp /etc/mailman3/secrets.ini
