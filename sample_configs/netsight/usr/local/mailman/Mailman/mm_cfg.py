# -*- python -*-

# Copyright (C) 1998,1999,2000,2001,2002 by the Free Software Foundation, Inc.
#
# This program is free software; you can redistribute it and/or
# modify it under the terms of the GNU General Public License
# as published by the Free Software Foundation; either version 2
# of the License, or (at your option) any later version.

"""This module contains your site-specific settings.

Local settings for mail.netsight.example.  Read Defaults.py first; only
overrides go here.
"""

###############################################
# Here's where we get the distributed defaults.

from Defaults import *

import socket

##################################################
# Put YOUR site-specific settings below this line.

DEFAULT_URL_HOST = 'lists.netsight.example'
DEFAULT_EMAIL_HOST = 'lists.netsight.example'
add_virtualhost(DEFAULT_URL_HOST, DEFAULT_EMAIL_HOST)
add_virtualhost('lists.riverbend.example', 'lists.riverbend.example')

# Exim routes by directory lookup (see usr/local/etc/exim/configure); Mailman
# must not write alias files.
MTA = None

DEFAULT_URL_PATTERN = 'http://%s/mailman/'
PUBLIC_ARCHIVE_URL = 'http://%(hostname)s/pipermail/%(listname)s'
IMAGE_LOGOS = '/icons/'
DEFAULT_SERVER_LANGUAGE = 'en'
MAILMAN_SITE_LIST = 'mailman'
# Offer the raw mbox of public lists (archives/public/NAME.mbox links)
PUBLIC_MBOX = Yes

# Deliver through the local Exim
SMTPHOST = socket.getfqdn()
SMTPPORT = 25
DELIVERY_MODULE = 'SMTPDirect'

DEFAULT_MAX_MESSAGE_SIZE = 40
DEFAULT_ARCHIVE_PRIVATE = 0
VERP_CONFIRMATIONS = Yes
# 2016: DMARC rejects from big providers
DEFAULT_FROM_IS_LIST = 1

# Note - if you're looking for something that is imported from mm_cfg, but you
# didn't find it above, it's probably in Defaults.py.
