#!/bin/sh
# Install what the tests run against: the real mail tools, not mocks.
#
# - exim4-daemon-heavy: Exim with content scanning (av_scanner, spam =); the light daemon
#   refuses configs that use them.
# - rsync, openssh-server, openssh-client, swaks: archive sync, SSH test hosts, SMTP client.
# - sudo: `inspect --host --sudo` is tested against it (rules only inside a test namespace).
# - iproute2, curl, openssl: the end-to-end cutover test (network namespaces, the web check,
#   a throwaway certificate).
# - apache2: the Apache parser's oracle (apache2 -t, -S) and the old host's proxy config.
# - cron: Debian's Vixie cron installs the emitted _mailman crontab only if it reads it.
# - gcc, make, libc6-dev, patchelf: the tests build the real GNU Mailman 2.1 from
#   ../shared/tools/mailman2 (its build.sh) into .cache/mailman2 (tests/mailmantools.py); it
#   runs with the Python 2.7 this image has under pyenv. The user and group `mailman` it is
#   built for, and OpenSMTPD's users (the mail group the new host's wrapper checks), are made
#   here as system users (gids of 100 or more: Debian's wrappers skip the group check below).
# - OpenSMTPD: Debian's package conflicts with exim4, so it is downloaded and unpacked (never
#   installed) into .cache/opensmtpd; tests run .cache/opensmtpd/usr/sbin/smtpd -n -f FILE.
# - cmake, bison, libevent-dev, libtls-dev, libssl-dev, pkg-config: the tests build OpenBSD's
#   own httpd from ../shared/tools/openbsd-httpd (its build.sh) into .cache/openbsd-httpd
#   (tests/httpdtools.py); it runs as the user `www`, made here. fcgiwrap: Debian's FastCGI to
#   CGI gateway, standing in for OpenBSD's slowcgi in front of Mailman's CGI wrappers.
# - sassc: mailman-web's compress step compiles Postorius's and HyperKitty's style sheets with it
#   (the Mailman 3 cutover's e2e runs the plan's step).
# - chromium: headless, it loads the plan's report.html (tests/test_plan_outputs.py) and is asked
#   over its DevTools protocol whether the page rendered, drew its chart and logged no error.
# - Mailman 3 core from PyPI, at the versions pinned in emitters/mailman3/requirements.txt, in its
#   own virtual environment .cache/mailman3/venv (tests/mm3tools.py), never in the project's:
#   made again only when the pins change (their copy is kept beside it). Its web UI likewise:
#   mailman-web, Postorius and HyperKitty at the pins of emitters/mailman3/web-requirements.txt
#   in .cache/mailman-web/venv (tests/hktools.py).
#
# Needs root (or sudo) for apt-get. Safe to run again: it skips what is already there.
set -eu
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ]; then
	SUDO="sudo"
fi
PACKAGES="exim4-daemon-heavy rsync openssh-server openssh-client swaks sudo iproute2 curl openssl
apache2 cron gcc make libc6-dev patchelf cmake bison libevent-dev libtls-dev libssl-dev pkg-config
fcgiwrap netcat-openbsd sassc chromium"
missing=""
for p in $PACKAGES; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ] || [ ! -x .cache/opensmtpd/usr/sbin/smtpd ]; then
	$SUDO apt-get update -qq
fi
if [ -n "$missing" ]; then
	echo "installing:$missing"
	# shellcheck disable=SC2086
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
if [ ! -x .cache/opensmtpd/usr/sbin/smtpd ]; then
	echo "unpacking opensmtpd into .cache/opensmtpd"
	tmp=$(mktemp -d)
	chmod 755 "$tmp"  # apt's _apt user downloads into it
	(cd "$tmp" && apt-get download -qq opensmtpd 2>/dev/null)
	rm -rf .cache/opensmtpd
	mkdir -p .cache/opensmtpd
	dpkg -x "$tmp"/opensmtpd_*.deb .cache/opensmtpd
	rm -rf "$tmp"
fi
.cache/opensmtpd/usr/sbin/smtpd -h 2>&1 | head -1 || true
for u in mailman opensmtpd opensmtpq www; do
	if ! id "$u" >/dev/null 2>&1; then
		$SUDO useradd --system --no-create-home --user-group --home-dir /nonexistent \
			--shell /usr/sbin/nologin "$u"
	fi
done
MM3=.cache/mailman3
if ! cmp -s emitters/mailman3/requirements.txt "$MM3/requirements.txt" ||
	[ ! -x "$MM3/venv/bin/mailman" ]; then
	echo "installing Mailman 3 core into $MM3/venv"
	rm -rf "$MM3"
	mkdir -p "$MM3"
	python3 -m venv "$MM3/venv"
	"$MM3/venv/bin/python" -m pip install -q -r emitters/mailman3/requirements.txt
	"$MM3/venv/bin/python" -m pip check
	cp emitters/mailman3/requirements.txt "$MM3/requirements.txt"
fi
WEB=.cache/mailman-web
if ! cmp -s emitters/mailman3/web-requirements.txt "$WEB/requirements.txt" ||
	[ ! -x "$WEB/venv/bin/mailman-web" ]; then
	echo "installing Mailman 3's web UI (mailman-web, Postorius, HyperKitty) into $WEB/venv"
	rm -rf "$WEB"
	mkdir -p "$WEB"
	python3 -m venv "$WEB/venv"
	"$WEB/venv/bin/python" -m pip install -q -r emitters/mailman3/web-requirements.txt
	"$WEB/venv/bin/python" -m pip check
	cp emitters/mailman3/web-requirements.txt "$WEB/requirements.txt"
fi
