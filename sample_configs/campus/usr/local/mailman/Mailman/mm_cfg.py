# -*- python -*-

# Copyright (C) 1998,1999,2000,2001,2002 by the Free Software Foundation, Inc.
#
# This program is free software; you can redistribute it and/or
# modify it under the terms of the GNU General Public License
# as published by the Free Software Foundation; either version 2
# of the License, or (at your option) any later version.

"""This module contains your site-specific settings.

CS department list server (mlist.cs.campus.example).  The lists were
moved here from the Solaris box in 2008; HTTPS since 2015.
"""

###############################################
# Here's where we get the distributed defaults.

from Defaults import *

##################################################
# Put YOUR site-specific settings below this line.

DEFAULT_URL_HOST   = 'lists.cs.campus.example'
DEFAULT_EMAIL_HOST = 'lists.cs.campus.example'
# Forget Defaults.py's entry for the machine's own name (the FAQ's advice)
VIRTUAL_HOSTS.clear()
add_virtualhost(DEFAULT_URL_HOST, DEFAULT_EMAIL_HOST)

# 2015: HTTPS.  Every list's web_page_url was changed with
# bin/withlist -l -a -r fix_url after this.
DEFAULT_URL_PATTERN = 'https://%s/mailman/'
PUBLIC_ARCHIVE_URL = 'https://%(hostname)s/pipermail/%(listname)s'

# Exim finds the lists by their config.pck (exim.org howto): no alias files
MTA = None

MAILMAN_SITE_LIST = 'mailman'
DEFAULT_SERVER_LANGUAGE = 'en'
IMAGE_LOGOS = '/icons/'

SMTPHOST = 'localhost'
DEFAULT_MAX_MESSAGE_SIZE = 2048
DEFAULT_SUBSCRIBE_POLICY = 1
DEFAULT_ARCHIVE_PRIVATE = 0
DEFAULT_SEND_REMINDERS = No
OWNERS_CAN_DELETE_THEIR_OWN_LISTS = No

# Note - if you're looking for something that is imported from mm_cfg, but you
# didn't find it above, it's probably in Defaults.py.
