# /etc/mailman3/settings.py: Mailman 3's web UI (mailman-web: Django, Postorius, HyperKitty),
# written by migrate. mailman-web reads this file (MAILMAN_WEB_CONFIG, by default this
# path) and imports it as the settings module. No secret is in it: they are read from
# /etc/mailman3/secrets.ini, which the plan's make-secrets.sh wrote on this host.
import configparser

from mailman_web.settings.base import *  # noqa: F401,F403
from mailman_web.settings.mailman import *  # noqa: F401,F403

_secrets = configparser.ConfigParser(interpolation=None)
with open('/etc/mailman3/secrets.ini') as _fh:
    _secrets.read_file(_fh)
SECRET_KEY = _secrets['web']['secret_key']
MAILMAN_REST_API_PASS = _secrets['web']['rest_pass']  # core's [webservice] admin_pass
MAILMAN_ARCHIVER_KEY = _secrets['web']['archiver_key']  # core's archiver's api_key

DEBUG = False
ALLOWED_HOSTS = ['lists.hillcrest.example', 'localhost', '127.0.0.1']
CSRF_TRUSTED_ORIGINS = ['https://lists.hillcrest.example']
SITE_ID = 1
TIME_ZONE = 'UTC'  # HyperKitty's months are UTC months, as the inspection counts them
# the URLs: Mailman 2's pages redirected, then mailman-web's own
ROOT_URLCONF = 'mailman2_urls'

# every path of mailman-web's base settings names /opt/mailman/web: here, its own folder
DATA = '/var/mailman3-web'
DATABASES = {'default': {'ENGINE': 'django.db.backends.sqlite3',
                         'NAME': DATA + '/mailman-web.db',
                         # the FastCGI server's threads and qcluster write at once
                         'OPTIONS': {'timeout': 30}}}
HAYSTACK_CONNECTIONS = {'default': {
    'ENGINE': 'haystack.backends.whoosh_backend.WhooshEngine',
    'PATH': DATA + '/fulltext_index'}}
LOGGING['handlers']['file']['filename'] = DATA + '/logs/mailmanweb.log'  # noqa: F405
# collectstatic and compress write here; httpd serves it at STATIC_URL
STATIC_ROOT = '/var/www/mailman3-web/static'
STATIC_URL = '/static/'

MAILMAN_REST_API_URL = 'http://127.0.0.1:8001'
MAILMAN_REST_API_USER = 'restadmin'
MAILMAN_ARCHIVER_FROM = ('127.0.0.1', '::1')  # core's posts, through httpd's loopback
POSTORIUS_TEMPLATE_BASE_URL = 'http://localhost/'

SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
ACCOUNT_DEFAULT_HTTP_PROTOCOL = 'https'
DEFAULT_FROM_EMAIL = 'postorius@lists.hillcrest.example'
SERVER_EMAIL = 'root@lists.hillcrest.example'
EMAIL_HOST = '127.0.0.1'  # the local smtpd
EMAIL_PORT = 25
