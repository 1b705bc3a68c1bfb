# -*- python -*-

# Copyright (C) 1998,1999,2000,2001,2002 by the Free Software Foundation, Inc.
#
# This program is free software; you can redistribute it and/or
# modify it under the terms of the GNU General Public License
# as published by the Free Software Foundation; either version 2
# of the License, or (at your option) any later version.

"""This module contains your site-specific settings.

Local settings for lists.oakfield.example (the FreeBSD port, set up as the
Mailman 2 guides say: the CGI under /cgi-bin/mailman/, the logos under
/images/mailman/).  Read Defaults.py first; only overrides go here.
"""

###############################################
# Here's where we get the distributed defaults.

from Defaults import *

##################################################
# Put YOUR site-specific settings below this line.

DEFAULT_URL_HOST = 'lists.oakfield.example'
DEFAULT_EMAIL_HOST = 'lists.oakfield.example'
add_virtualhost(DEFAULT_URL_HOST, DEFAULT_EMAIL_HOST)

# Exim finds the lists by their config.pck (see usr/local/etc/exim/configure);
# Mailman must not write alias files.
MTA = None

DEFAULT_URL_PATTERN = 'https://%s/cgi-bin/mailman/'
PUBLIC_ARCHIVE_URL = 'https://%(hostname)s/pipermail/%(listname)s'
IMAGE_LOGOS = '/images/mailman/'
DEFAULT_SERVER_LANGUAGE = 'en'
MAILMAN_SITE_LIST = 'mailman'

# Deliver through the local Exim
SMTPHOST = 'localhost'
SMTPPORT = 25
DELIVERY_MODULE = 'SMTPDirect'

DEFAULT_MAX_MESSAGE_SIZE = 40
DEFAULT_ARCHIVE_PRIVATE = 0

# Note - if you're looking for something that is imported from mm_cfg, but you
# didn't find it above, it's probably in Defaults.py.
