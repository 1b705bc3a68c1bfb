"""Where the OpenBSD mailman package (ports mail/mailman) puts Mailman 2: code in MMHOME, data
in MMSPOOL, its user and group, and the mail group its smtpd-flavoured wrapper expects."""

MM_PREFIX = "/usr/local/lib/mailman"
MM_VAR = "/var/spool/mailman"
MM_WRAPPER = f"{MM_PREFIX}/mail/mailman"
MM_CGI = f"{MM_PREFIX}/cgi-bin"
MM_ICONS = f"{MM_PREFIX}/icons"
MM_USER = "_mailman"
MM_GROUP = "_mailman"
#: The group the smtpd-flavoured package's mail wrapper expects (--with-mail-gid=_smtpd): the
#: primary group of smtpd's MTA_USER (emitters/common.py), or the wrapper refuses every post
#: with "Group mismatch error".
MM_MAIL_GID = "_smtpd"
#: The URL prefixes the package's README (ports mail/mailman, pkg/README) gives its pages:
#: ``ScriptAlias /mailman/``, ``Alias /pipermail/``, and IMAGE_LOGOS's default ``/icons/``.
MM_CGI_PREFIX = "/mailman/"
MM_ICONS_PREFIX = "/icons/"
MM_ARCHIVE_PREFIX = "/pipermail/"
