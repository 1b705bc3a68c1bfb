"""The old Mailman 2 addresses on the new host: mailman-web's URLs, and before them a permanent
redirect for each Mailman 2 page to its Postorius or HyperKitty equivalent.

Written by migrate into mailman-web's configuration folder (beside settings.py, which names it
as ROOT_URLCONF); ``mailman2-lists.json`` beside it says, per old list name, its address and
list id in Mailman 3 and where its private pipermail HTML was copied; the old URL prefixes of
Mailman's CGI (``/mailman/``, ``/cgi-bin/mailman/``...); and the folder of the plan's
``hyperkitty_archive.py``, whose reading of a Message-ID this module uses.

* ``PREFIX/listinfo/LIST`` (and ``subscribe``, ``confirm``): the list's Postorius page;
  ``admin/LIST``: its settings; ``admindb/LIST``: its held messages; ``roster/LIST``: its
  members; ``options/LIST``: the member's own subscriptions; ``PREFIX/listinfo`` (and
  ``admin``): the list index;
* ``PREFIX/private/LIST/``: the list's archive in HyperKitty, whose own privacy applies there;
  a monthly volume's pages (``2007-March/``, ``date.html``...) that month in HyperKitty; an
  article ``2007-March/000123.html`` the same message in HyperKitty, named by the hash of its
  Message-ID (read from the article, where pipermail wrote it into the reply link), or, for
  an article whose Message-ID is not found there, that month; ``LIST.mbox/LIST.mbox``: the
  list's archive page;
* anything else of an old prefix, or a list the plan did not move: 404.

The article file is read (its first 16 KiB), never served: a private archive stays private.
"""

import html
import json
import os
import re
import sys
from urllib.parse import unquote

from django.http import Http404, HttpResponsePermanentRedirect
from django.urls import re_path, reverse
from mailman_web.urls import urlpatterns as web_urlpatterns

HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(HERE, "mailman2-lists.json"), encoding="utf-8") as _fh:
    _MAP = json.load(_fh)
LISTS = _MAP["lists"]
# the archive's preparation script: how HyperKitty names a message (one definition, there)
sys.path.insert(0, _MAP["tools"])
from hyperkitty_archive import hyperkitty_id, id_hash  # noqa: E402
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")
_VOLUME = re.compile(r"(\d{4})-(%s)\Z" % "|".join(MONTHS))
_ARTICLE = re.compile(r"\d{6}\.html\Z")
# pipermail's reply link: mailto:LIST?Subject=...&In-Reply-To=<the article's Message-ID>
_IN_REPLY_TO = re.compile(r'In-Reply-To=([^"\s>]*)', re.I)


def _list(name):
    entry = LISTS.get(name.lower())
    if entry is None:
        raise Http404("no such list")
    return entry


def _to(url):
    return HttpResponsePermanentRedirect(url)


def page(request, script, name=None):
    """A Mailman 2 CGI page: its Postorius (or HyperKitty) equivalent."""
    if name is None:
        return _to(reverse("list_index"))
    entry = LISTS.get(name.lower()) if script == "private" else _list(name)
    list_id = entry["list_id"]
    if script in ("listinfo", "subscribe", "confirm"):
        return _to(reverse("list_summary", args=[list_id]))
    if script == "admin":
        return _to(reverse("list_settings", args=[list_id]))
    if script == "admindb":
        return _to(reverse("list_held_messages", args=[list_id]))
    if script == "roster":
        return _to(reverse("list_members", args=[list_id, "subscriber"]))
    if script == "options":
        return _to(reverse("ps_user_profile"))  # the member's subscriptions
    if script == "private":  # private/LIST, private/LIST.mbox/LIST.mbox
        entry = _list(name[:-5] if name.endswith(".mbox") else name)
        return _to(reverse("hk_list_overview", args=[entry["address"]]))
    raise Http404("no such page")


def _month(entry, volume):
    m = _VOLUME.match(volume)
    if m is None:
        return reverse("hk_list_overview", args=[entry["address"]])
    return reverse("hk_archives_with_month",
                   args=[entry["address"], int(m.group(1)), MONTHS.index(m.group(2)) + 1])


def _message_id(entry, volume, article):
    folder = entry.get("archive")
    if not folder or not _VOLUME.match(volume) and not re.match(r"[\w-]+\Z", volume):
        return None
    try:
        with open(os.path.join(folder, volume, article), "rb") as fh:
            head = fh.read(16384).decode("latin-1")
    except OSError:
        return None
    m = _IN_REPLY_TO.search(head)
    if m is None:
        return None
    value = unquote(html.unescape(m.group(1)))
    return hyperkitty_id(value) if value.strip("<> ") else None


def private(request, name, rest=""):
    """A path below a list's private archive (``LIST.mbox/LIST.mbox``: the list's archive
    page; Mailman 2's list names may hold dots)."""
    entry = LISTS.get(name.lower())
    if entry is None and name.endswith(".mbox"):
        return _to(reverse("hk_list_overview", args=[_list(name[:-5])["address"]]))
    if entry is None:
        raise Http404("no such list")
    parts = [p for p in rest.split("/") if p]
    if not parts:
        return _to(reverse("hk_list_overview", args=[entry["address"]]))
    volume = parts[0]
    if len(parts) == 2 and _ARTICLE.match(parts[1]):
        mid = _message_id(entry, volume, parts[1])
        if mid:
            from hyperkitty.models import Email
            digest = id_hash(mid)
            if Email.objects.filter(mailinglist__name=entry["address"],
                                    message_id_hash=digest).exists():
                return _to(reverse("hk_message_index", args=[entry["address"], digest]))
    return _to(_month(entry, volume))


def _prefix(prefix):
    return re.escape(prefix.strip("/")) + "/"


urlpatterns = []
for _p in _MAP["cgi_prefixes"]:
    urlpatterns += [
        re_path(r"^%s(?P<script>listinfo|admin)/?$" % _prefix(_p), page),
        re_path(r"^%s(?P<script>listinfo|subscribe|confirm|admin|admindb|roster|options|"
                r"private)/(?P<name>[^/]+)(?:/.*)?$" % _prefix(_p), page),
    ]
    urlpatterns.insert(0, re_path(r"^%sprivate/(?P<name>[^/]+)/(?P<rest>.*)$" % _prefix(_p),
                                  private))
urlpatterns += web_urlpatterns
