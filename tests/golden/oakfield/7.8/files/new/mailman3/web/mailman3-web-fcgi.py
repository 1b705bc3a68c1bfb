#!/usr/local/mailman3-web/bin/python
# /usr/local/libexec/mailman3-web-fcgi.py, written by migrate: mailman-web (Django) as a FastCGI server on
# /var/www/run/mailman3-web/fcgi.sock, for httpd. flup's threaded server; the socket is group www (its
# folder's), mode 0660: httpd's children have that group only.
import os

os.environ.setdefault('MAILMAN_WEB_CONFIG', '/etc/mailman3/settings.py')
from flup.server.fcgi import WSGIServer  # noqa: E402
from mailman_web.wsgi import application  # noqa: E402

SOCKET = '/var/www/run/mailman3-web/fcgi.sock'
if os.path.exists(SOCKET):  # a stale socket of a server that was killed
    os.unlink(SOCKET)
WSGIServer(application, bindAddress=SOCKET, umask=0o007).run()
