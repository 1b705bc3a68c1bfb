# -*- python -*-
"""Site settings for lists.smallclub.example."""

from Defaults import *

DEFAULT_URL_HOST = 'lists.smallclub.example'
DEFAULT_EMAIL_HOST = 'lists.smallclub.example'
add_virtualhost(DEFAULT_URL_HOST, DEFAULT_EMAIL_HOST)
DEFAULT_URL_PATTERN = 'http://%s/mailman/'
MTA = None
DEFAULT_SERVER_LANGUAGE = 'en'
MAILMAN_SITE_LIST = 'mailman'
