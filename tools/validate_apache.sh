#!/bin/sh
# Syntax-check a sample host's Apache 2.4 config with Debian's apache2
# (apache2 -t) on a temporary adapted copy:
#  - ServerRoot -> a temp dir holding etc/apache24 (so the relative
#    "Include etc/apache24/Includes/*.conf" resolves as on FreeBSD);
#  - libexec/apache24/mod_X.so -> /usr/lib/apache2/modules/mod_X.so, and the
#    LoadModule lines for modules Debian compiles in statically are dropped;
#  - TypesConfig -> /etc/mime.types; log and TLS files and the DocumentRoot -> the temp dir (a
#    throw-away self-signed pair, since mod_ssl opens them at parse time).
#
#   tools/validate_apache.sh sample_configs/netsight
set -eu
T=$(cd "$1" && pwd)
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
mkdir -p "$W/etc" "$W/logs" "$W/ssl" "$W/www"
cp -r "$T/usr/local/etc/apache24" "$W/etc/apache24"
openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=lists.netsight.example \
	-keyout "$W/ssl/key.pem" -out "$W/ssl/crt.pem" -days 1 2>/dev/null
for f in "$W/etc/apache24/httpd.conf" "$W"/etc/apache24/Includes/*.conf; do
	sed -i \
	    -e "s|^ServerRoot .*|ServerRoot \"$W\"|" \
	    -e '/^LoadModule \(log_config\|unixd\|so\)_module/d' \
	    -e 's|libexec/apache24/|/usr/lib/apache2/modules/|' \
	    -e 's|^TypesConfig .*|TypesConfig /etc/mime.types|' \
	    -e "s|\"/usr/local/www/apache24/data\"|\"$W/www\"|" \
	    -e "s|\"/var/log/|\"$W/logs/|" \
	    -e "s|\"/var/run/|\"$W/logs/|" \
	    -e "s|SSLCertificateFile .*|SSLCertificateFile \"$W/ssl/crt.pem\"|" \
	    -e "s|SSLCertificateKeyFile .*|SSLCertificateKeyFile \"$W/ssl/key.pem\"|" \
	    "$f"
done
APACHE_RUN_DIR=$W/logs APACHE_LOCK_DIR=$W/logs APACHE_LOG_DIR=$W/logs \
	apache2 -d "$W" -f "$W/etc/apache24/httpd.conf" -t
APACHE_RUN_DIR=$W/logs APACHE_LOCK_DIR=$W/logs APACHE_LOG_DIR=$W/logs \
	apache2 -d "$W" -f "$W/etc/apache24/httpd.conf" -S 2>&1 | sed -n '1,12p'
