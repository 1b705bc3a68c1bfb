#!/usr/bin/env python3
"""Regenerate the generated artefacts of the sample host trees.

Hand-written configuration (Exim, Apache, rc.conf, aliases, mm_cfg.py, ...)
lives as plain files under ``sample_configs/``.  This script owns everything
binary or bulky that a real Mailman 2.1 host accumulates and that is easier to
derive than to type:

* ``lists/NAME/config.pck`` (+ ``config.pck.last``), ``pending.pck``,
  ``request.pck``, a stray empty ``config.pck.tmp.*``;
* ``data/heldmsg-*.pck``, ``data/adm.pw``, a shunted ``qfiles/shunt/*.pck``;
* ``archives/private/NAME.mbox/NAME.mbox`` and the pipermail tree
  ``archives/private/NAME/`` (month folders, ``.txt``/``.txt.gz``,
  ``index.html``, scrubbed attachments);
* the ``archives/public/`` symlinks;
* ground truth for tests, ``tests/sample_truth/HOST.json``.

Everything is derived from fixed seeds, so the output is byte-for-byte
reproducible: ``python tools/make_samples.py`` rewrites the files,
``python tools/make_samples.py --check`` exits 1 if the committed files
differ (or are missing/extra), 0 otherwise.  ``--out DIR`` writes the whole
output under another root (used by the tests).

Truth is computed from what is put in, never by re-parsing the output.
"""

from __future__ import annotations

import argparse
import base64
import calendar
import gzip
import hashlib
import html
import io
import json
import os
import quopri
import random
import shutil
import sys
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.header import Header
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from py2pickle import Py2Instance, dumps  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SEED = 20061114  # the day the netsight host got Mailman; any constant works
JAN_2009 = -2009  # marker: "the last post of January 2009"
MM_HOME = "usr/local/mailman"
UTC = timezone.utc

# Attribute names of a Mailman 2.1 list at data_version 97 (the schema of the
# real pickle in ../shared/fixtures; names only, values are ours).  campus's lists (and
# netsight's planted old site list) keep it.
SCHEMA_KEYS = """
accept_these_nonmembers acceptable_aliases admin_immed_notify
admin_member_chunksize admin_notify_mchanges admin_responses administrivia
advertised anonymous_list archive archive_private archive_volume_frequency
autorespond_admin autorespond_postings autorespond_requests
autoresponse_admin_text autoresponse_graceperiod autoresponse_postings_text
autoresponse_request_text available_languages ban_list bounce_info
bounce_info_stale_after bounce_matching_headers bounce_notify_owner_on_disable
bounce_notify_owner_on_removal bounce_processing bounce_score_threshold
bounce_unrecognized_goes_to_list_owner bounce_you_are_disabled_warnings
bounce_you_are_disabled_warnings_interval collapse_alternatives
convert_html_to_plaintext created_at data_version default_member_moderation
delivery_status description digest_footer digest_header digest_is_default
digest_last_sent_at digest_members digest_send_periodic digest_size_threshhold
digest_volume_frequency digestable discard_these_nonmembers emergency
encode_ascii_prefixes filter_action filter_content filter_filename_extensions
filter_mime_types first_strip_reply_to forward_auto_discards gateway_to_mail
gateway_to_news generic_nonmember_action goodbye_msg header_filter_rules
hold_and_cmd_autoresponses hold_these_nonmembers host_name
include_list_post_header include_rfc2369_headers info language last_post_time
linked_newsgroup max_days_to_hold max_message_size max_num_recipients
member_moderation_action member_moderation_notice members
mime_is_default_digest mod_password moderator msg_footer msg_header
new_member_options news_moderation news_prefix_subject_too next_digest_number
next_post_number next_request_id nntp_host nondigestable
nonmember_rejection_notice obscure_addresses one_last_digest owner
pass_filename_extensions pass_mime_types password passwords personalize
post_id postings_responses preferred_language private_roster real_name
regular_exclude_lists regular_include_lists reject_these_nonmembers
reply_goes_to_list reply_to_address request_responses
require_explicit_destination respond_to_post_requests scrub_nondigest
send_goodbye_msg send_reminders send_welcome_msg subject_prefix
subscribe_policy topics topics_bodylines_limit topics_enabled
topics_userinterest umbrella_list umbrella_member_suffix unsubscribe_policy
user_options usernames volume web_page_url welcome_msg
""".split()

# What GNU Mailman 2.1.26 (DATA_FILE_VERSION 110, the real Mailman the tests build from
# ../shared/tools/mailman2) adds to them: a list `bin/newlist` makes there has exactly these
# 143 names, with these default values (tests/test_mailman_real.py checks both, names and
# types).  netsight's and small's lists are stored at this schema.
SCHEMA_110 = 110
SCHEMA_110_DEFAULTS: dict[bytes, Any] = {
    b"bounce_notify_owner_on_bounce_increment": False, b"dmarc_moderation_action": 0,
    b"dmarc_moderation_notice": b"", b"dmarc_none_moderation_action": False,
    b"dmarc_quarantine_moderation_action": True, b"dmarc_wrapped_message_text": b"",
    b"equivalent_domains": b"", b"from_is_list": 0, b"include_sender_header": 1,
    b"member_verbosity_interval": 300, b"member_verbosity_threshold": 0,
    b"post_password": None, b"regular_exclude_ignore": True, b"subscribe_auto_approval": [],
}

MONTHS = list(calendar.month_name)[1:]
FOOTER = (b"_______________________________________________\n%(real_name)s mailing list\n"
          b"%(real_name)s@%(host_name)s\n%(web_page_url)slistinfo%(cgiext)s/%(_internal_name)s\n")
BOUNCE_HEADERS = (b"\n# Lines that *start* with a '#' are comments.\nto: friend@public.com\n"
                  b"message-id: relay.comanche.denmark.eu\nfrom: list@listme.com\n"
                  b"from: .*@uplinkpro.com\n")  # Mailman's DEFAULT_BOUNCE_MATCHING_HEADERS

# Mailman user option bits (Mailman/Defaults.py)
# (DISABLE_DELIVERY is obsolete since 2.1: a disabled member is in delivery_status and never
# has the bit in user_options; Mailman's upgrade turns a set bit into the state "unknown".)
DISABLE_DELIVERY, DONT_RECEIVE_OWN, ACK_POSTS, DISABLE_MIME = 1, 2, 4, 8
CONCEAL, SUPPRESS_REMINDER, MODERATE, NODUPES = 16, 32, 128, 256

FIRST = ["Alice", "Bob", "Carol", "Dave", "Erin", "Frank", "Grace", "Heidi", "Ivan",
         "Judy", "Mallory", "Niaj", "Olivia", "Peggy", "Rupert", "Sybil", "Trent",
         "Uma", "Victor", "Wendy", "Xavier", "Yvonne", "Zoltan", "Anke", "Bernd"]
LAST = ["Archer", "Baker", "Carter", "Dawson", "Ellis", "Fischer", "Gruber", "Hayes",
        "Iverson", "Jansen", "Keller", "Lambert", "Moreau", "Novak", "Olsen", "Price",
        "Quinn", "Reyes", "Schmidt", "Turner", "Underwood", "Vogel", "Walsh", "Young"]
# Names with non-ASCII letters (stored latin-1 in usernames, encoded in headers)
LATIN_NAMES = [("J\u00fcrgen", "M\u00fcller"), ("Ren\u00e9e", "Fa\u00dfbender"),
               ("Bj\u00f6rn", "\u00d6stlund"), ("G\u00fcnther", "Gro\u00df"),
               ("Zo\u00eb", "Ch\u00e2telet")]
DOMAINS = ["example.org", "example.com", "example.net", "mail.example", "uni-riverbend.example",
           "netsight.example", "isp.example", "web.example"]

WORDS_EN = ("the release server list archive mirror upgrade patch downtime schedule meeting "
            "notes agenda proposal budget network switch firewall backup restore ticket "
            "volunteer workshop talk slides minutes vote board members newsletter reminder "
            "migration mailbox quota spam filter policy account password reset weekend "
            "maintenance window kernel port package build test").split()
WORDS_DE = ("die der das Version Server Liste Archiv Spiegel Aktualisierung Fehler Treffen "
            "Protokoll Vorschlag Netzwerk Sicherung Wartung f\u00fcr \u00fcber gr\u00f6\u00dfer "
            "K\u00fcnftig \u00c4nderung Schl\u00fcssel Gr\u00fc\u00dfe Paket \u00dcbersetzung "
            "Stra\u00dfe m\u00f6glich n\u00e4chste Woche").split()


# ---------------------------------------------------------------------------
# Data model
# ---------------------------------------------------------------------------

@dataclass
class Post:
    """One archived post, as Mailman received and archived it."""
    received: datetime           # envelope time (Unix-from line, pipermail date)
    envelope: str                # envelope sender in the Unix-from line
    name: str                    # display name (unicode)
    addr: str
    subject: str                 # without the list's subject prefix
    body: list[str]              # unicode lines
    charset: str = "us-ascii"    # us-ascii | iso-8859-1 | utf-8
    header_style: str = "plain"  # plain | rfc2047-latin1 | rfc2047-utf8 | raw-latin1
    date_header: str | None = ""  # "" = well-formed from `received`; None = missing
    bad_date: bool = False
    kind: str = "plain"          # plain | alternative | attachment
    mangle_from: bool = True     # escape body "From " lines as ">From " (Generator)
    msgid: str = ""
    in_reply_to: str | None = None
    seq: int = -1                # pipermail article number
    full_sep_in_body: int = 0    # body lines matching the full Unix-from pattern


@dataclass
class ListSpec:
    name: str
    real_name: bytes
    host: str
    created: datetime
    language: str
    description: bytes
    info: bytes
    owners: list[str]
    moderators: list[str]
    n_regular: int
    n_digest: int
    n_posts: int
    first_month: tuple[int, int]
    last_month: tuple[int, int]
    active_months: int
    archive_private: int
    advertised: bool
    subscribe_policy: int
    data_version: int = SCHEMA_110
    public_mbox: bool = False
    charset: str = "us-ascii"
    mta: str = "mail.netsight.example"
    extra_months: list[tuple[int, int]] = field(default_factory=list)
    # The defaults below keep netsight's and small's output unchanged; campus sets them.
    url_scheme: str = "http"     # scheme of web_page_url (config.pck and truth)
    cgi_path: str = "/mailman/"  # URL path of Mailman's CGI (web_page_url, headers, pages)
    page_scheme: str = "http"    # scheme of the listinfo links in the pipermail pages
    https_from: int = 0          # year from which List-* headers carry https URLs (0: never)
    exim_version: str = "4.92"   # in the Received: header Exim adds
    mailman_max: str = ""        # X-Mailman-Version never above this ("": no cap)
    domains: list[str] = field(default_factory=list)  # member address domains ([]: DOMAINS)
    members: dict[str, dict[str, Any]] = field(default_factory=dict)
    posts: list[Post] = field(default_factory=list)


class Tree:
    """Collects generated files (bytes) and symlinks under one output root."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.links: dict[str, str] = {}

    def add(self, rel: str, data: bytes) -> None:
        assert rel not in self.files, rel
        self.files[rel] = data

    def link(self, rel: str, target: str) -> None:
        self.links[rel] = target


def web_page_url(spec: ListSpec) -> str:
    return f"{spec.url_scheme}://{spec.host}{spec.cgi_path}"


def listinfo_url(spec: ListSpec) -> str:
    """The list's listinfo page as pipermail's pages link it."""
    return f"{spec.page_scheme}://{spec.host}{spec.cgi_path}listinfo/{spec.name}"


def ts(dt: datetime) -> float:
    return dt.timestamp()


def ctime(dt: datetime) -> str:
    """``time.ctime()`` format, as in Unix-from lines (``Sat Jan  3 01:05:34 2009``)."""
    return dt.strftime("%a %b ") + f"{dt.day:2d}" + dt.strftime(" %H:%M:%S %Y")


def rfc2822(dt: datetime, offset_h: int) -> str:
    local = dt.astimezone(timezone(timedelta(hours=offset_h)))
    sign = "+" if offset_h >= 0 else "-"
    return local.strftime("%a, %d %b %Y %H:%M:%S ") + f"{sign}{abs(offset_h):02d}00"


def month_key(dt: datetime) -> str:
    return f"{dt.year}-{MONTHS[dt.month - 1]}"


def sha1hex(text: str) -> bytes:
    return hashlib.sha1(text.encode()).hexdigest().encode()


# ---------------------------------------------------------------------------
# Members and list pickles
# ---------------------------------------------------------------------------

def make_members(spec: ListSpec, rng: random.Random) -> None:
    """Fill ``spec.members``: addr -> {name, digest, password, options, ...}."""
    used: set[str] = set()
    total = spec.n_regular + spec.n_digest
    i = 0
    while len(spec.members) < total:
        if spec.language == "de" and i % 4 == 0 or i % 11 == 5:
            first, last = LATIN_NAMES[i % len(LATIN_NAMES)]
        else:
            first, last = rng.choice(FIRST), rng.choice(LAST)
        i += 1
        plain = (first + "." + last).lower()
        for a, b in (("\u00fc", "ue"), ("\u00f6", "oe"), ("\u00e4", "ae"), ("\u00df", "ss"),
                     ("\u00e9", "e"), ("\u00eb", "e"), ("\u00e2", "a"), ("\u00d6", "oe")):
            plain = plain.replace(a, b)
        addr = f"{plain}@{rng.choice(spec.domains or DOMAINS)}"
        if addr.lower() in used:
            continue
        # a few members subscribed with capitals; Mailman keeps the case in `members`
        if rng.random() < 0.08:
            addr = addr[0].upper() + addr[1:addr.index("@")] + addr[addr.index("@"):]
        used.add(addr.lower())
        digest = len(spec.members) >= spec.n_regular
        options = NODUPES
        if rng.random() < 0.1:
            options |= SUPPRESS_REMINDER
        if rng.random() < 0.05:
            options |= CONCEAL
        spec.members[addr] = {
            "name": f"{first} {last}" if rng.random() < 0.85 else "",
            "digest": digest,
            "password": f"pw-{spec.name}-{plain.split('.')[0]}-{rng.getrandbits(16):04x}",
            "options": options,
            "lang": spec.language if rng.random() < 0.9 else "en",
        }


def list_config(spec: ListSpec, *, last: bool = False) -> tuple[dict[bytes, Any], list[str]]:
    """Build the config.pck dict (Python 2 shaped) and the secrets it holds.

    ``last`` builds the previous save (``config.pck.last``): one post fewer.
    """
    enc = "iso-8859-1" if spec.language == "de" else "us-ascii"
    posts = spec.posts[:-1] if last else spec.posts
    members: dict[bytes, Any] = {}
    digest_members: dict[bytes, Any] = {}
    user_options: dict[bytes, int] = {}
    passwords: dict[bytes, bytes] = {}
    language: dict[bytes, bytes] = {}
    usernames: dict[bytes, bytes] = {}
    delivery_status: dict[bytes, Any] = {}
    bounce_info: dict[bytes, Any] = {}
    secrets: list[str] = []
    for n, (addr, m) in enumerate(spec.members.items()):
        low = addr.lower().encode()
        # `members` maps the lowercased address to 0, or to the address with
        # its original case when that differs (OldStyleMemberships).
        value: Any = 0 if addr == addr.lower() else addr.encode()
        (digest_members if m["digest"] else members)[low] = value
        opts = m["options"]
        passwords[low] = m["password"].encode()
        secrets.append(m["password"])
        language[low] = m["lang"].encode()
        if m["name"]:
            usernames[low] = m["name"].encode("iso-8859-1")
        if n % 17 == 3:  # disabled by bounces (and one by the user)
            status = 4 if n % 2 else 2
            delivery_status[low] = (status, ts(spec.created) + 86400.0 * (300 + n))
            if status == 4:
                bounce_info[low] = Py2Instance("Mailman.Bouncer", "_BounceInfo", {
                    b"member": low, b"cookie": None, b"score": 5.0,
                    b"date": (2025, 10, 2 + n % 20), b"noticesleft": 0,
                    b"lastnotice": (2025, 10, 30)})
        elif n % 23 == 7 and spec.name == "devtalk":  # bouncing, not yet disabled
            bounce_info[low] = Py2Instance("Mailman.Bouncer", "_BounceInfo", {
                b"member": low, b"cookie": None, b"score": 2.0,
                b"date": (2026, 11, 19), b"noticesleft": 3, b"lastnotice": (1970, 1, 2)})
        user_options[low] = opts
    admin_pw = sha1hex(f"admin-{spec.name}-s3cret")
    secrets.append(admin_pw.decode())
    mod_pw: bytes | None = None
    if spec.moderators:
        mod_pw = sha1hex(f"mod-{spec.name}-s3cret")
        secrets.append(mod_pw.decode())
    last_post = ts(posts[-1].received) if posts else 0
    prefix = b"[" + spec.real_name + b"] "
    cfg: dict[bytes, Any] = {
        b"accept_these_nonmembers": [b"^.*@netsight\\.example$"] if spec.name == "announce" else [],
        b"acceptable_aliases": b"\n",
        b"admin_immed_notify": True, b"admin_member_chunksize": 30,
        b"admin_notify_mchanges": spec.name != "mailman",
        b"admin_responses": {}, b"administrivia": True, b"advertised": spec.advertised,
        b"anonymous_list": False, b"archive": True, b"archive_private": spec.archive_private,
        b"archive_volume_frequency": 1, b"autorespond_admin": 0, b"autorespond_postings": 0,
        b"autorespond_requests": 0, b"autoresponse_admin_text": b"",
        b"autoresponse_graceperiod": 90, b"autoresponse_postings_text": b"",
        b"autoresponse_request_text": b"",
        b"available_languages": [b"de", b"en"] if spec.language == "de" else [b"en"],
        b"ban_list": [b"^.*@spam\\.example$"] if spec.name == "users" else [],
        b"bounce_info": bounce_info, b"bounce_info_stale_after": 604800,
        b"bounce_matching_headers": BOUNCE_HEADERS, b"bounce_notify_owner_on_disable": True,
        b"bounce_notify_owner_on_removal": True, b"bounce_processing": True,
        b"bounce_score_threshold": 5.0, b"bounce_unrecognized_goes_to_list_owner": True,
        b"bounce_you_are_disabled_warnings": 3,
        b"bounce_you_are_disabled_warnings_interval": 604800,
        b"collapse_alternatives": True, b"convert_html_to_plaintext": True,
        b"created_at": ts(spec.created), b"data_version": spec.data_version,
        b"default_member_moderation": spec.name == "announce",
        b"delivery_status": delivery_status, b"description": spec.description,
        b"digest_footer": FOOTER, b"digest_header": b"", b"digest_is_default": False,
        b"digest_last_sent_at": ts(posts[-1].received) + 3600.0 if posts and spec.n_digest else 0,
        b"digest_members": digest_members, b"digest_send_periodic": True,
        b"digest_size_threshhold": 30, b"digest_volume_frequency": 1, b"digestable": True,
        b"discard_these_nonmembers": [], b"emergency": 0, b"encode_ascii_prefixes": 0,
        b"filter_action": 0, b"filter_content": spec.name == "users",
        b"filter_filename_extensions": [b"exe", b"bat", b"cmd", b"com", b"pif", b"scr",
                                        b"vbs", b"cpl"],
        b"filter_mime_types": [], b"first_strip_reply_to": False,
        b"forward_auto_discards": True, b"gateway_to_mail": 0, b"gateway_to_news": 0,
        b"generic_nonmember_action": 2 if spec.name == "announce" else 1,
        b"goodbye_msg": b"", b"header_filter_rules": [], b"hold_and_cmd_autoresponses": {},
        b"hold_these_nonmembers": [], b"host_name": spec.host.encode(),
        b"include_list_post_header": 1, b"include_rfc2369_headers": 1, b"info": spec.info,
        b"language": language, b"last_post_time": last_post, b"linked_newsgroup": b"",
        b"max_days_to_hold": 0, b"max_message_size": 40, b"max_num_recipients": 10,
        b"member_moderation_action": 0, b"member_moderation_notice": b"",
        b"members": members, b"mime_is_default_digest": False, b"mod_password": mod_pw,
        b"moderator": [m.encode() for m in spec.moderators], b"msg_footer": FOOTER,
        b"msg_header": b"", b"new_member_options": 256, b"news_moderation": 0,
        b"news_prefix_subject_too": 1, b"next_digest_number": 1 + len(posts) // 30,
        b"next_post_number": len(posts) + 1,
        b"next_request_id": 20 if spec.name == "users" else 1,
        b"nntp_host": b"", b"nondigestable": True, b"nonmember_rejection_notice": b"",
        b"obscure_addresses": True, b"one_last_digest": {},
        b"owner": [o.encode() for o in spec.owners], b"pass_filename_extensions": [],
        b"pass_mime_types": [b"multipart/mixed", b"multipart/alternative", b"text/plain"],
        b"password": admin_pw, b"passwords": passwords, b"personalize": 0,
        # post_id is a float in Mailman 2.1 ("so it never overflows"): next post number
        b"post_id": float(len(posts) + 1), b"postings_responses": {},
        b"preferred_language": spec.language.encode(), b"private_roster": 1,
        b"real_name": spec.real_name, b"regular_exclude_lists": [],
        b"regular_include_lists": [], b"reject_these_nonmembers": [],
        b"reply_goes_to_list": 0, b"reply_to_address": b"", b"request_responses": {},
        # Yes (1) at schema 97 (the fixture), True from 2.1.26's newlist
        b"require_explicit_destination": True,
        b"respond_to_post_requests": True if spec.data_version >= SCHEMA_110 else 1,
        b"scrub_nondigest": False, b"send_goodbye_msg": True, b"send_reminders": True,
        b"send_welcome_msg": True, b"subject_prefix": prefix,
        b"subscribe_policy": spec.subscribe_policy, b"topics": [],
        b"topics_bodylines_limit": 5, b"topics_enabled": 0, b"topics_userinterest": {},
        b"umbrella_list": False, b"umbrella_member_suffix": b"-owner",
        b"unsubscribe_policy": 0, b"user_options": user_options, b"usernames": usernames,
        b"volume": 1, b"web_page_url": web_page_url(spec).encode(),
        b"welcome_msg": (b"Willkommen auf der Liste f\xfcr Entwickler." if enc != "us-ascii"
                         else b""),
    }
    if spec.data_version >= SCHEMA_110:
        cfg.update(SCHEMA_110_DEFAULTS)
        assert sorted(cfg) == sorted([k.encode() for k in SCHEMA_KEYS] + list(
            SCHEMA_110_DEFAULTS)), "schema drift"
    else:
        assert sorted(k.decode() for k in cfg) == sorted(SCHEMA_KEYS), "schema drift"
    return cfg, secrets


# ---------------------------------------------------------------------------
# Posts, mbox and pipermail
# ---------------------------------------------------------------------------

def sentence(rng: random.Random, lang: str) -> str:
    words = WORDS_DE if lang == "de" else WORDS_EN
    s = " ".join(rng.choice(words) for _ in range(rng.randint(6, 12)))
    return s[0].upper() + s[1:] + "."


def pick_months(spec: ListSpec, rng: random.Random) -> list[tuple[int, int]]:
    y, m = spec.first_month
    allm: list[tuple[int, int]] = []
    while (y, m) <= spec.last_month:
        allm.append((y, m))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    chosen = set(rng.sample(allm[1:-1], spec.active_months - 2))
    chosen |= {allm[0], allm[-1], *spec.extra_months}
    return sorted(chosen)


def make_posts(spec: ListSpec, rng: random.Random) -> None:
    months = pick_months(spec, rng)
    # spread n_posts over the months, at least one each
    counts = [1] * len(months)
    for _ in range(spec.n_posts - len(months)):
        counts[rng.randrange(len(months))] += 1
    addrs = list(spec.members)
    posts: list[Post] = []
    for (y, m), n in zip(months, counts):
        days = calendar.monthrange(y, m)[1]
        start_day = spec.created.day if (y, m) == (spec.created.year, spec.created.month) else 1
        times = sorted(datetime(y, m, rng.randint(start_day, days), rng.randint(0, 23),
                                rng.randint(0, 59), rng.randint(0, 59), tzinfo=UTC)
                       for _ in range(n))
        month_posts: list[Post] = []
        for t in times:
            addr = rng.choice(addrs)
            name = spec.members[addr]["name"]
            lang = spec.language
            if month_posts and rng.random() < 0.45:
                parent = rng.choice(month_posts)
                subject = parent.subject if parent.subject.startswith("Re: ") else "Re: " + parent.subject
                reply_to: str | None = parent.msgid
            else:
                subject = " ".join(rng.choice(WORDS_DE if lang == "de" else WORDS_EN)
                                   for _ in range(rng.randint(2, 5))).capitalize()
                reply_to = None
            body = [sentence(rng, lang) for _ in range(rng.randint(2, 5))]
            if reply_to:
                body = [f"On {t.strftime('%d.%m.%Y')}, someone wrote:", "> " + sentence(rng, lang), ""] + body
            p = Post(received=t, envelope=addr.lower(), name=name, addr=addr.lower(),
                     subject=subject, body=body, in_reply_to=reply_to,
                     msgid=f"<{t.strftime('%Y%m%d%H%M%S')}.{rng.getrandbits(32):08x}@"
                           f"{addr.split('@')[1]}>")
            if lang == "de":
                p.charset = "iso-8859-1"
            if any(ord(c) > 127 for c in name):
                p.header_style = "raw-latin1" if t.year < 2012 else "rfc2047-utf8"
                if p.charset == "us-ascii":
                    p.charset = "utf-8"
            month_posts.append(p)
        posts.extend(month_posts)
    spec.posts = posts


def decorate(spec: ListSpec, rng: random.Random) -> None:
    """Give a list's posts the oddities real archives have (deterministic choices)."""
    posts = spec.posts
    if len(posts) < 10:  # tiny archives (the site list) stay plain
        return
    # multipart/alternative and one attachment
    for p in posts[5::40]:
        p.kind = "alternative"
    posts[len(posts) // 2].kind = "attachment"
    # RFC 2047 encoded subjects, latin-1 and UTF-8
    posts[3].subject = "Neue Version f\u00fcr alle \u00c4nderungen"
    posts[3].header_style = "rfc2047-latin1"
    posts[3].charset = "iso-8859-1"
    posts[7].subject = "Caf\u00e9 meetup \u2013 na\u00efve questions welcome"
    posts[7].header_style = "rfc2047-utf8"
    posts[7].charset = "utf-8"
    # a body line starting "From " that is NOT a separator
    for p in posts[9::50]:
        p.body.insert(1, "From what I heard, the " + sentence(rng, "en").lower())


def apply_dates(spec: ListSpec, bad: list[tuple[int, str | None]]) -> None:
    for idx, value in bad:
        spec.posts[idx].date_header = value
        spec.posts[idx].bad_date = True


def encode_header_value(text: str, style: str) -> bytes:
    if all(ord(c) < 128 for c in text):
        return text.encode()
    if style == "raw-latin1":
        return text.encode("iso-8859-1")
    charset = "iso-8859-1" if style == "rfc2047-latin1" else "utf-8"
    return Header(text, charset).encode().encode()


def from_header(p: Post) -> bytes:
    if not p.name:
        return p.addr.encode()
    name = encode_header_value(p.name, p.header_style)
    if p.header_style == "plain" or name.startswith(b"=?") or all(ord(c) < 128 for c in p.name):
        return name + b" <" + p.addr.encode() + b">"
    return name + b" <" + p.addr.encode() + b">"


def mailman_version(year: int, cap: str = "") -> str:
    """The Mailman release a host had in ``year``; never above ``cap`` (a host that stopped
    upgrading)."""
    version = "2.1.29"
    for y, v in ((2007, "2.1.5"), (2009, "2.1.9"), (2012, "2.1.11"), (2015, "2.1.14"),
                 (2017, "2.1.18"), (2019, "2.1.23")):
        if year < y:
            version = v
            break
    if cap and tuple(map(int, version.split("."))) > tuple(map(int, cap.split("."))):
        return cap
    return version


def body_bytes(p: Post, text: str) -> tuple[bytes, bytes]:
    """Return (Content-Transfer-Encoding, encoded body) for text in p.charset."""
    if p.charset == "iso-8859-1":
        return b"8bit", text.encode("iso-8859-1", "replace")
    if p.charset == "utf-8":
        return b"quoted-printable", quopri.encodestring(text.encode("utf-8"))
    return b"7bit", text.encode("ascii", "replace")


def render_message(spec: ListSpec, p: Post, rng: random.Random) -> bytes:
    """One mbox entry (Unix-from line, headers, body, trailing blank line)."""
    lpost = f"{spec.name}@{spec.host}"
    subj = b"[" + spec.real_name + b"] "
    h: list[bytes] = [
        f"From {p.envelope} {ctime(p.received)}".encode(),
        f"Return-Path: <{p.envelope}>".encode(),
        f"Received: from [{rng.choice(['192.0.2', '198.51.100'])}.{rng.randint(2, 250)}] "
        f"(helo={p.addr.split('@')[1]})\n\tby {spec.mta} with esmtp (Exim {spec.exim_version})\n"
        f"\tfor {lpost}; {rfc2822(p.received, 0)}".encode(),
        b"From: " + from_header(p),
        f"To: {lpost}".encode(),
    ]
    if p.date_header is None:
        pass  # missing Date: header entirely
    elif p.date_header:
        h.append(b"Date: " + p.date_header.encode())
    else:
        h.append(b"Date: " + rfc2822(p.received - timedelta(seconds=40), 1 if p.received.month < 4 or p.received.month > 10 else 2).encode())
    h.append(b"Subject: " + subj + encode_header_value(p.subject, p.header_style))
    h.append(b"Message-ID: " + p.msgid.encode())
    if p.in_reply_to:
        h.append(b"In-Reply-To: " + p.in_reply_to.encode())
        h.append(b"References: " + p.in_reply_to.encode())
    h.append(b"MIME-Version: 1.0")
    text = "\n".join(p.body) + "\n"
    # Python 2's email Generator escaped body "From " lines; old imports did not.
    if p.mangle_from:
        text = "\n".join(">" + ln if ln.startswith("From ") else ln for ln in text.split("\n"))
    cte, payload = body_bytes(p, text)
    ctype = f'text/plain; charset="{p.charset}"'.encode()
    if p.kind == "plain":
        h += [b"Content-Type: " + ctype, b"Content-Transfer-Encoding: " + cte]
        body = payload
    else:
        boundary = "===============%019d==" % rng.getrandbits(60)
        sub = b"alternative" if p.kind == "alternative" else b"mixed"
        h.append(b'Content-Type: multipart/' + sub + f'; boundary="{boundary}"'.encode())
        parts = [b"Content-Type: " + ctype + b"\nContent-Transfer-Encoding: " + cte + b"\n\n" + payload]
        if p.kind == "alternative":
            htmltext = "<html><body>" + "".join(f"<p>{html.escape(x)}</p>" for x in p.body) + "</body></html>\n"
            hcte, hpay = body_bytes(p, htmltext)
            parts.append(f'Content-Type: text/html; charset="{p.charset}"\n'.encode()
                         + b"Content-Transfer-Encoding: " + hcte + b"\n\n" + hpay)
        else:
            blob = attachment_blob(spec.name)
            b64 = base64.encodebytes(blob)
            parts.append(b'Content-Type: application/pdf; name="agenda.pdf"\n'
                         b"Content-Transfer-Encoding: base64\n"
                         b'Content-Disposition: attachment; filename="agenda.pdf"\n\n' + b64)
        bnd = boundary.encode()
        body = b"This is a multi-part message in MIME format.\n\n"
        for part in parts:
            body += b"--" + bnd + b"\n" + part
            if not body.endswith(b"\n"):
                body += b"\n"
        body += b"--" + bnd + b"--\n"
    year = p.received.year
    scheme = "https" if spec.https_from and year >= spec.https_from else "http"
    h += [f"X-BeenThere: {lpost}".encode(),
          f"X-Mailman-Version: {mailman_version(year, spec.mailman_max)}".encode(),
          b"Precedence: list",
          f"List-Id: {spec.real_name.decode('latin-1')} <{spec.name}.{spec.host}>".encode("latin-1"),
          f"List-Unsubscribe: <{scheme}://{spec.host}{spec.cgi_path}options/{spec.name}>,\n"
          f"\t<mailto:{spec.name}-request@{spec.host}?subject=unsubscribe>".encode(),
          f"List-Archive: <{scheme}://{spec.host}/pipermail/{spec.name}>".encode(),
          f"List-Post: <mailto:{lpost}>".encode(),
          f"List-Help: <mailto:{spec.name}-request@{spec.host}?subject=help>".encode(),
          f"Sender: {spec.name}-bounces@{spec.host}".encode(),
          f"Errors-To: {spec.name}-bounces@{spec.host}".encode()]
    if not body.endswith(b"\n"):
        body += b"\n"
    return b"\n".join(h) + b"\n\n" + body + b"\n"


def attachment_blob(listname: str) -> bytes:
    """A tiny, deterministic fake PDF."""
    body = f"BT /F1 12 Tf 72 712 Td (Agenda for {listname}) Tj ET".encode()
    return (b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
            b"2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj\n"
            b"3 0 obj << /Type /Page /Parent 2 0 R /Contents 4 0 R >> endobj\n"
            + b"4 0 obj << /Length %d >> stream\n" % len(body) + body
            + b"\nendstream endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")


def obscure(addr: str) -> str:
    return addr.replace("@", " at ")


def page_charset(spec: ListSpec) -> str:
    return "iso-8859-1" if spec.language == "de" else "us-ascii"


def enc_page(spec: ListSpec, text: str) -> bytes:
    return text.encode(page_charset(spec), "xmlcharrefreplace")


def pipermail_date(dt: datetime) -> str:
    return dt.strftime("%a %b ") + f"{dt.day:2d}" + dt.strftime(" %H:%M:%S UTC %Y")


def article_html(spec: ListSpec, p: Post, prev: Post | None, nxt: Post | None) -> bytes:
    title = html.escape(f"[{spec.real_name.decode('latin-1')}] {p.subject}")
    lpost = f"{spec.name}%40{spec.host}"
    def nav(label: str, q: Post | None) -> str:
        if q is None:
            return ""
        return (f'        <LI>{label} message: <A HREF="{q.seq:06d}.html">'
                f"[{html.escape(spec.real_name.decode('latin-1'))}] {html.escape(q.subject)}\n</A></li>\n")
    links = "".join(f'   <LINK REL="{r}"  HREF="{q.seq:06d}.html">\n'
                    for r, q in (("Previous", prev), ("Next", nxt)) if q)
    body_lines = list(p.body)
    if p.kind == "alternative":
        body_lines += ["-------------- next part --------------",
                       "An HTML attachment was scrubbed...",
                       f"URL: <{spec.page_scheme}://{spec.host}/pipermail/{spec.name}/attachments/"
                       f"{p.received:%Y%m%d}/{p.seq:08x}/attachment.html>"]
    elif p.kind == "attachment":
        body_lines += ["-------------- next part --------------",
                       "A non-text attachment was scrubbed...", "Name: agenda.pdf",
                       "Type: application/pdf", f"Size: {len(attachment_blob(spec.name))} bytes",
                       "Desc: not available",
                       f"URL: <{spec.page_scheme}://{spec.host}/pipermail/{spec.name}/attachments/"
                       f"{p.received:%Y%m%d}/{p.seq:08x}/attachment.pdf>"]
    sortlinks = "".join(f'              <a href="{k}.html#{p.seq}">[ {k} ]</a>\n'
                        for k in ("date", "thread", "subject", "author"))
    navs = nav("Previous", prev) + nav("Next", nxt)
    text = f"""<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN">
<HTML>
 <HEAD>
   <TITLE> {title}
   </TITLE>
   <LINK REL="Index" HREF="index.html" >
   <LINK REL="made" HREF="mailto:{lpost}?Subject={html.escape(p.subject)}&In-Reply-To={html.escape(p.msgid)}">
   <META NAME="robots" CONTENT="index,nofollow">
   <META http-equiv="Content-Type" content="text/html; charset={page_charset(spec)}">
{links} </HEAD>
 <BODY BGCOLOR="#ffffff">
   <H1>{title}</H1>
    <B>{html.escape(p.name or p.addr)}</B> 
    <A HREF="mailto:{lpost}?Subject={html.escape(p.subject)}&In-Reply-To={html.escape(p.msgid)}"
       TITLE="{title}">{obscure(p.addr)}
       </A><BR>
    <I>{pipermail_date(p.received)}</I>
    <P><UL>
{navs}         <LI> <B>Messages sorted by:</B> 
{sortlinks}         </LI>
       </UL>
    <HR>  
<!--beginarticle-->
<PRE>{html.escape(chr(10).join(body_lines))}
</PRE>

<!--endarticle-->
    <HR>
    <P><UL>
        <!--threads-->
{navs}         <LI> <B>Messages sorted by:</B> 
{sortlinks}         </LI>
       </UL>

<hr>
<a href="{listinfo_url(spec)}">More information about the {html.escape(spec.real_name.decode('latin-1'))}
mailing list</a><br>
</body></html>
"""
    return enc_page(spec, text)


def month_index(spec: ListSpec, month: str, posts: list[Post], kind: str, archived: datetime) -> bytes:
    rn = html.escape(spec.real_name.decode("latin-1"))
    if kind == "date":
        order = sorted(posts, key=lambda q: q.seq)
    elif kind == "subject":
        order = sorted(posts, key=lambda q: (q.subject.removeprefix("Re: ").lower(), q.seq))
    elif kind == "author":
        order = sorted(posts, key=lambda q: ((q.name or q.addr).lower(), q.seq))
    else:  # thread: parents followed by their replies
        order = sorted(posts, key=lambda q: (q.subject.removeprefix("Re: "), q.seq))
    others = "".join(f'\t        <a href="{k}.html#start">[ {k} ]</a>\n'
                     for k in ("thread", "subject", "author", "date") if k != kind)
    items = "".join(f'<LI><A HREF="{q.seq:06d}.html">[{rn}] {html.escape(q.subject)}\n</A>'
                    f'<A NAME="{q.seq}">&nbsp;</A>\n<I>{html.escape(q.name or obscure(q.addr))}\n</I>\n\n'
                    for q in order)
    y, mname = month.split("-")
    text = f"""<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN">
<HTML>
  <HEAD>
     <title>The {rn} {mname} {y} Archive by {kind}</title>
     <META NAME="robots" CONTENT="noindex,follow">
     <META http-equiv="Content-Type" content="text/html; charset={page_charset(spec)}">
  </HEAD>
  <BODY BGCOLOR="#ffffff">
      <a name="start"></A>
      <h1>{mname} {y} Archives by {kind}</h1>
      <ul>
         <li> <b>Messages sorted by:</b>
{others}
	     <li><b><a href="{listinfo_url(spec)}">More info on this list...
                    </a></b></li>
      </ul>
      <p><b>Starting:</b> <i>{pipermail_date(posts[0].received)}</i><br>
         <b>Ending:</b> <i>{pipermail_date(posts[-1].received)}</i><br>
         <b>Messages:</b> {len(posts)}<p>
     <ul>

{items}    </ul>
    <p>
      <a name="end"><b>Last message date:</b></a> 
       <i>{pipermail_date(posts[-1].received)}</i><br>
    <b>Archived on:</b> <i>{pipermail_date(archived)}</i>
    <p>
   <ul>
         <li> <b>Messages sorted by:</b>
{others}
	     <li><b><a href="{listinfo_url(spec)}">More info on this list...
                    </a></b></li>
     </ul>
     <p>
     <hr>
     <i>This archive was generated by
     Pipermail 0.09 (Mailman edition).</i>
  </BODY>
</HTML>
"""
    return enc_page(spec, text)


def month_txt(spec: ListSpec, posts: list[Post]) -> bytes:
    """pipermail's per-month plain text (addresses obscured)."""
    out = []
    for p in posts:
        date = p.date_header if p.date_header else rfc2822(p.received, 0)
        lines = [f"From {obscure(p.addr)}  {ctime(p.received)}",
                 f"From: {obscure(p.addr)} ({p.name or p.addr})",
                 f"Date: {date}",
                 f"Subject: [{spec.real_name.decode('latin-1')}] {p.subject}"]
        if p.in_reply_to:
            lines += [f"In-Reply-To: {p.in_reply_to}", f"References: {p.in_reply_to}"]
        lines += [f"Message-ID: {p.msgid}", ""]
        lines += [">" + ln if ln.startswith("From ") else ln for ln in p.body]
        out.append("\n".join(lines) + "\n\n")
    return "".join(out).encode(page_charset(spec) if spec.language == "de" else "utf-8", "replace")


def toc_html(spec: ListSpec, months: list[str], sizes: dict[str, tuple[str, int]], mbox_size: int) -> bytes:
    rn = html.escape(spec.real_name.decode("latin-1"))
    rows = []
    for month in sorted(months, key=lambda m: (int(m[:4]), MONTHS.index(m[5:])), reverse=True):
        y, mname = month.split("-")
        fname, size = sizes[month]
        label = "Gzip'd Text" if fname.endswith(".gz") else "Text"
        rows.append(f"""	    <tr>
            <td>{mname} {y}:</td>
            <td>
              <A href="{month}/thread.html">[ Thread ]</a>
              <A href="{month}/subject.html">[ Subject ]</a>
              <A href="{month}/author.html">[ Author ]</a>
              <A href="{month}/date.html">[ Date ]</a>
            </td>
            <td><A href="{fname}">[ {label} {max(1, size // 1024)} KB ]</a></td>
            </tr>
""")
    text = f"""<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN">
<HTML>
  <HEAD>
     <title>The {rn} Archives</title>
     <META NAME="robots" CONTENT="noindex,follow">
     <META http-equiv="Content-Type" content="text/html; charset={page_charset(spec)}">
  </HEAD>
  <BODY BGCOLOR="#ffffff">
     <h1>The {rn} Archives </h1>
     <p>
      You can get <a href="{listinfo_url(spec)}">more information about this list</a>
      or you can <a href="{spec.name}.mbox/{spec.name}.mbox">download the full raw archive</a>
      ({max(1, mbox_size // 1024)} KB).
     </p>
     
	<table border=3>
          <tr><td>Archive</td>
          <td>View by:</td>
          <td>Downloadable version</td></tr>

{''.join(rows)}	</table>
     </BODY>
     </HTML>
"""
    return enc_page(spec, text)


def gz(data: bytes, name: str) -> bytes:
    buf = io.BytesIO()
    # mtime 0 and a fixed name keep the bytes reproducible
    with gzip.GzipFile(filename=name, mode="wb", fileobj=buf, mtime=0, compresslevel=9) as f:
        f.write(data)
    return buf.getvalue()


def write_archive(tree: Tree, spec: ListSpec, rng: random.Random, *,
                  missing_html: set[str], txt_plain_before: int,
                  full_sep: tuple[int, str] | None) -> dict[str, Any]:
    """Write mbox + pipermail for one list and return its truth record."""
    posts = spec.posts
    for seq, p in enumerate(posts):
        p.seq = seq
    if full_sep is not None:
        idx, line = full_sep
        if idx == JAN_2009:  # the last post of January 2009
            idx = max(i for i, p in enumerate(posts) if (p.received.year, p.received.month) == (2009, 1))
        assert not posts[idx].mangle_from, "an escaped line would not be a separator"
        posts[idx].body.insert(2, line)
        posts[idx].full_sep_in_body = 1
    chunks = [render_message(spec, p, rng) for p in posts]
    mbox = b"".join(chunks)
    base = f"{MM_HOME}/archives/private"
    tree.add(f"{base}/{spec.name}.mbox/{spec.name}.mbox", mbox)

    by_month: dict[str, list[Post]] = {}
    for p in posts:
        by_month.setdefault(month_key(p.received), []).append(p)
    html_months = [m for m in by_month if m not in missing_html]
    sizes: dict[str, tuple[str, int]] = {}
    now = datetime(2026, 11, 24, 3, 27, tzinfo=UTC)
    current = month_key(posts[-1].received)
    for month in html_months:
        mp = by_month[month]
        d = f"{base}/{spec.name}/{month}"
        archived = min(mp[-1].received + timedelta(minutes=1), now)
        for kind in ("date", "thread", "subject", "author"):
            tree.add(f"{d}/{kind}.html", month_index(spec, month, mp, kind, archived))
        for p in mp:
            i = posts.index(p)
            prev = posts[i - 1] if i > 0 and month_key(posts[i - 1].received) == month else None
            nxt = posts[i + 1] if i + 1 < len(posts) and month_key(posts[i + 1].received) == month else None
            tree.add(f"{d}/{p.seq:06d}.html", article_html(spec, p, prev, nxt))
            adir = f"{base}/{spec.name}/attachments/{p.received:%Y%m%d}/{p.seq:08x}"
            if p.kind == "alternative":
                tree.add(f"{adir}/attachment.html", enc_page(spec, "<html><body>" + "".join(
                    f"<p>{html.escape(x)}</p>" for x in p.body) + "</body></html>\n"))
            elif p.kind == "attachment":
                tree.add(f"{adir}/attachment.pdf", attachment_blob(spec.name))
        txt = month_txt(spec, mp)
        # Before nightly_gzip was enabled only the plain .txt existed; since then
        # the .txt.gz sits beside it, and cull removes old .txt files.
        if mp[0].received.year < txt_plain_before:
            tree.add(f"{base}/{spec.name}/{month}.txt", txt)
            sizes[month] = (f"{month}.txt", len(txt))
        else:
            data = gz(txt, f"{month}.txt")
            tree.add(f"{base}/{spec.name}/{month}.txt.gz", data)
            sizes[month] = (f"{month}.txt.gz", len(data))
            if month == current:
                tree.add(f"{base}/{spec.name}/{month}.txt", txt)
    tree.add(f"{base}/{spec.name}/index.html", toc_html(spec, html_months, sizes, len(mbox)))
    if not spec.archive_private:
        tree.link(f"{MM_HOME}/archives/public/{spec.name}",
                  f"/usr/local/mailman/archives/private/{spec.name}")
        if spec.public_mbox:
            tree.link(f"{MM_HOME}/archives/public/{spec.name}.mbox",
                      f"/usr/local/mailman/archives/private/{spec.name}.mbox")

    # ---- truth: from what we put in ----
    month_counts = {m: len(v) for m, v in by_month.items()}
    mailman_month_counts = dict(month_counts)
    sep_lines = sum(p.full_sep_in_body for p in posts)
    if full_sep is not None:
        # Mailman splits at the body line; the tail becomes a post dated by that line.
        tail_month = month_key(datetime.strptime(full_sep[1].split(" ", 2)[2], "%a %b %d %H:%M:%S %Y"))
        mailman_month_counts[tail_month] = mailman_month_counts.get(tail_month, 0) + 1
    from_any = sum(1 + (0 if p.mangle_from else sum(1 for ln in p.body if ln.startswith("From ")))
                   for p in posts)
    escaped = sum(sum(1 for ln in p.body if ln.startswith("From ")) for p in posts if p.mangle_from)
    return {
        "path": f"/{base}/{spec.name}.mbox/{spec.name}.mbox",
        "messages_generated": len(posts),
        "messages_mailman_rule": len(posts) + sep_lines,
        "body_full_separator_lines": sep_lines,
        "lines_starting_From_space": from_any,
        "escaped_gt_From_lines": escaped,
        "per_month_generated": month_counts,
        "per_month_mailman_rule": mailman_month_counts,
        "first_date": posts[0].received.isoformat(),
        "last_date": posts[-1].received.isoformat(),
        "bad_dates": sum(1 for p in posts if p.bad_date),
        "missing_date_headers": sum(1 for p in posts if p.date_header is None),
        "multipart_alternative": sum(1 for p in posts if p.kind == "alternative"),
        "with_attachment": sum(1 for p in posts if p.kind == "attachment"),
        "bytes": len(mbox),
        "sha256": hashlib.sha256(mbox).hexdigest(),
        "html_months": {m: len(by_month[m]) for m in html_months},
        "html_articles": sum(len(by_month[m]) for m in html_months),
        "first_article": f"{posts[0].seq:06d}.html",
        "last_article": f"{posts[-1].seq:06d}.html",
        "months_in_mbox_missing_in_html": sorted(missing_html),
    }


# ---------------------------------------------------------------------------
# Other list files
# ---------------------------------------------------------------------------

def pending_pck(spec: ListSpec, rng: random.Random, kind: str) -> tuple[bytes, list[str]]:
    """pending.pck: Pending.py saves with cPickle.dump(db, fp) -> protocol 0 (INST)."""
    base = 1764000000.0 + rng.random() * 1000
    db: dict[bytes, Any] = {b"version": 2}
    evictions: dict[bytes, float] = {}
    secrets: list[str] = []
    cookie = hashlib.sha1(f"{spec.name}-{kind}".encode()).hexdigest().encode()
    if kind == "subscription":
        pw = f"pw-{spec.name}-pending-{rng.getrandbits(16):04x}"
        secrets.append(pw)
        desc = Py2Instance("Mailman.UserDesc", "UserDesc", {
            b"address": b"newcomer@example.net", b"fullname": b"Nora Newcomer",
            b"password": pw.encode(), b"digest": 0, b"language": spec.language.encode()})
        db[cookie] = (b"S", desc)
    else:
        db[cookie] = (b"U", b"leaving.member@example.org")
    evictions[cookie] = base + 3 * 86400.0
    db[b"evictions"] = evictions
    return dumps(db, protocol=0), secrets


def request_pck(spec: ListSpec, rng: random.Random) -> tuple[bytes, list[str]]:
    """request.pck (ListAdmin, protocol 1): 2 held posts + 1 held subscription."""
    t = 1763900000.0
    pw = f"pw-{spec.name}-heldsub-{rng.getrandbits(16):04x}"
    msgdata = {b"listname": spec.name.encode(), b"tolist": 1, b"version": 3,
               b"received_time": t, b"_parsemsg": False}
    db: dict[Any, Any] = {
        17: (1, (t, b"spammer@spam.example", b"Cheap watches", b"Post by non-member to a members-only list",
                 b"heldmsg-users-17.pck", dict(msgdata))),
        18: (1, (t + 5400.5, b"grace.hayes@example.org", b"Re: Holiday schedule",
                 b"Message body is too big: 58213 bytes with a limit of 40 KB",
                 b"heldmsg-users-18.pck", dict(msgdata, received_time=t + 5400.5))),
        19: (2, (t + 7200.25, b"late.joiner@example.com", b"Late Joiner", pw.encode(), 0, b"en")),
        b"version": (0, 1),
    }
    return dumps(db, protocol=1), [pw]


def heldmsg_pck() -> bytes:
    """data/heldmsg-users-17.pck: a pickled Mailman.Message.Message (protocol 1)."""
    state = {
        b"_headers": [(b"Return-Path", b"<spammer@spam.example>"), (b"From", b"spammer@spam.example"),
                      (b"To", b"users@lists.netsight.example"), (b"Subject", b"Cheap watches"),
                      (b"Message-ID", b"<held.17@spam.example>")],
        b"_payload": b"Buy now.\n", b"_charset": None, b"preamble": None, b"epilogue": None,
        b"defects": [], b"_default_type": b"text/plain",
        b"_unixfrom": b"From spammer@spam.example Sun Nov 23 12:13:20 2025",
    }
    return dumps(Py2Instance("Mailman.Message", "Message", state), protocol=1)


def shunt_entry() -> tuple[str, bytes]:
    """A qfiles/shunt entry: message pickle + metadata pickle in one .pck (Switchboard)."""
    text = (b"From: broken@example.org\nTo: users@lists.netsight.example\n"
            b"Subject: =?unknown-8bit?q?Gr=FC=DFe?=\nContent-Type: text/plain; charset=\"x-unknown\"\n\n"
            b"This message made the incoming runner throw.\n")
    now = 1764000000.123456
    digest = hashlib.sha1(text + b"users" + repr(now).encode()).hexdigest()
    meta = {b"listname": b"users", b"tolist": 1, b"_plaintext": True, b"version": 3,
            b"received_time": now - 2.5, b"whichq": b"/usr/local/mailman/qfiles/in"}
    # Plain-text messages are written with protocol 0, metadata with the same protocol.
    return f"{now!r}+{digest}.pck", dumps(text, protocol=0) + dumps(meta, protocol=0)


# ---------------------------------------------------------------------------
# Hosts
# ---------------------------------------------------------------------------

def site_lists(tree: Tree, specs: list[ListSpec], host_root: str
               ) -> tuple[dict[str, Any], list[str]]:
    """A small host's lists (the site list without a config.pck.last) and its site password
    in data/adm.pw: (the lists' records, every secret written)."""
    lists = {spec.name: build_list(tree, spec, host_root=host_root,
                                   **(dict(with_last=False) if spec.name == "mailman" else {}))
             for spec in specs}
    secrets = [sec for rec in lists.values() for sec in rec["secrets"]]
    site_pw = sha1hex(f"site-admin-{host_root}-s3cret")
    tree.add(f"{MM_HOME}/data/adm.pw", site_pw + b"\n")
    return lists, secrets + [site_pw.decode()]


def dt(*a: int) -> datetime:
    return datetime(*a, tzinfo=UTC)


def build_list(tree: Tree, spec: ListSpec, *, host_root: str, missing_html: set[str] = set(),
               txt_plain_before: int = 0, full_sep: tuple[int, str] | None = None,
               bad_dates: list[tuple[int, str | None]] = (), unescaped_until: int = 0,
               with_last: bool = True) -> dict[str, Any]:
    rng = random.Random(f"{SEED}/{host_root}/{spec.name}")
    make_members(spec, rng)
    make_posts(spec, rng)
    decorate(spec, rng)
    apply_dates(spec, list(bad_dates))
    for p in spec.posts:
        p.mangle_from = p.received.year >= unescaped_until
    archive = write_archive(tree, spec, rng, missing_html=missing_html,
                            txt_plain_before=txt_plain_before, full_sep=full_sep)
    cfg, secrets = list_config(spec)
    ldir = f"{MM_HOME}/lists/{spec.name}"
    tree.add(f"{ldir}/config.pck", dumps(cfg, protocol=1))
    files = ["config.pck"]
    if with_last:
        last, _ = list_config(spec, last=True)
        tree.add(f"{ldir}/config.pck.last", dumps(last, protocol=1))
        files.append("config.pck.last")
    regular = [a.lower() for a, m in spec.members.items() if not m["digest"]]
    digest = [a.lower() for a, m in spec.members.items() if m["digest"]]
    record = {
        "name": spec.name, "real_name": spec.real_name.decode("latin-1"),
        "host_name": spec.host, "web_page_url": web_page_url(spec),
        "preferred_language": spec.language,
        "description": spec.description.decode("latin-1"),
        "owners": spec.owners, "moderators": spec.moderators,
        "members_regular": len(regular), "members_digest": len(digest),
        "mixed_case_members": sorted(a for a in spec.members if a != a.lower()),
        "disabled_members": len(cfg[b"delivery_status"]),
        "bounce_info_entries": len(cfg[b"bounce_info"]),
        "archive": True, "archive_private": spec.archive_private,
        "archive_volume_frequency": 1, "advertised": spec.advertised,
        "subscribe_policy": spec.subscribe_policy,
        "created_at": ts(spec.created), "last_post_time": cfg[b"last_post_time"],
        "post_id": cfg[b"post_id"], "data_version": spec.data_version,
        "public_archive_link": not spec.archive_private,
        "files": files, "archive_mbox": archive, "secrets": secrets,
    }
    return record


def netsight(tree: Tree) -> dict[str, Any]:
    lists: dict[str, Any] = {}
    common = dict(subscribe_policy=1)
    specs = [
        ListSpec("mailman", b"Mailman", "lists.netsight.example", dt(2006, 11, 14, 9, 12, 3),
                 "en", b"Mailman site list", b"Site-wide list; do not post.",
                 ["postmaster@netsight.example"], [], 2, 0, 4, (2006, 11), (2019, 3), 4,
                 archive_private=1, advertised=False, subscribe_policy=3, data_version=96),
        ListSpec("announce", b"Announce", "lists.netsight.example", dt(2006, 11, 20, 14, 2, 51),
                 "en", b"Announcements from NetSight",
                 b"Low-volume announcements: maintenance windows, releases, meetings.",
                 ["hostmaster@netsight.example", "board@netsight.example"],
                 ["editor@netsight.example"], 58, 6, 300, (2006, 11), (2026, 10), 80,
                 archive_private=0, advertised=True, public_mbox=True,
                 extra_months=[(2007, 3), (2009, 1)], **common),
        ListSpec("users", b"Users", "lists.netsight.example", dt(2011, 5, 9, 8, 30, 0),
                 "en", b"NetSight users helping each other", b"Questions and answers.",
                 ["hostmaster@netsight.example"], ["alice.moderator@netsight.example"],
                 40, 5, 150, (2011, 5), (2026, 11), 48, archive_private=0, advertised=True,
                 public_mbox=True, extra_months=[(2016, 8)], **common),
        ListSpec("devtalk", b"DevTalk", "lists.riverbend.example", dt(2014, 9, 22, 17, 45, 10),
                 "de", b"Entwickler-Diskussionen f\xfcr Riverbend",
                 b"Diskussionen \xfcber Entwicklung, \xc4nderungen und Gr\xf6\xdfenordnungen.",
                 ["dev-lead@riverbend.example"], [], 30, 3, 120, (2014, 9), (2025, 12), 36,
                 archive_private=0, advertised=True, public_mbox=True, **common),
    ]
    opts: dict[str, dict[str, Any]] = {
        "mailman": dict(with_last=False),
        "announce": dict(txt_plain_before=2008, unescaped_until=2010,
                         full_sep=(JAN_2009, "From someone@example.org Sat Jan  3 01:05:34 2009"),
                         bad_dates=[(40, "Mon, 32 Foo 2009 25:61:00 +0000"), (41, "GMT+00:00"),
                                    (120, None)]),
        "users": dict(missing_html={"2016-August"}, bad_dates=[(30, None), (60, "Tue, 31 Feb 2015 10:00:00 +0100")]),
        "devtalk": dict(bad_dates=[(20, "2015-13-45 10:00")]),
    }
    for spec in specs:
        lists[spec.name] = build_list(tree, spec, host_root="netsight", **opts[spec.name])

    secrets = [s for rec in lists.values() for s in rec["secrets"]]
    by_name = {s.name: s for s in specs}
    # pending.pck (announce: subscription awaiting confirmation; devtalk: unsubscription)
    for name, kind in (("announce", "subscription"), ("devtalk", "unsubscription")):
        data, sec = pending_pck(by_name[name], random.Random(f"{SEED}/pending/{name}"), kind)
        tree.add(f"{MM_HOME}/lists/{name}/pending.pck", data)
        lists[name]["files"].append("pending.pck")
        lists[name]["secrets"] += sec
        secrets += sec
    data, sec = request_pck(by_name["users"], random.Random(f"{SEED}/request/users"))
    tree.add(f"{MM_HOME}/lists/users/request.pck", data)
    lists["users"]["files"].append("request.pck")
    lists["users"]["secrets"] += sec
    lists["users"]["held_posts"] = 2
    lists["users"]["held_subscriptions"] = 1
    secrets += sec
    tree.add(f"{MM_HOME}/data/heldmsg-users-17.pck", heldmsg_pck())
    # stray temp file left by an interrupted Save()
    tree.add(f"{MM_HOME}/lists/announce/config.pck.tmp.mail.netsight.example.48213", b"")
    lists["announce"]["files"].append("config.pck.tmp.mail.netsight.example.48213")
    shunt_name, shunt = shunt_entry()
    tree.add(f"{MM_HOME}/qfiles/shunt/{shunt_name}", shunt)
    site_pw = sha1hex("site-admin-netsight-s3cret")
    tree.add(f"{MM_HOME}/data/adm.pw", site_pw + b"\n")
    secrets.append(site_pw.decode())
    return {
        "host": "netsight", "hostname": "mail.netsight.example", "os": "FreeBSD 11.2-RELEASE-p4",
        "mailman_version": "2.1.29", "email_domains": ["lists.netsight.example", "lists.riverbend.example"],
        "lists": lists,
        "findings_planted": {
            "omitted_virtual_alias": {"file": "/usr/local/etc/exim/virtual/lists.riverbend.example",
                                      "address": "devtalk-unsubscribe"},
            "duplicate_alias_name": {"file": "/etc/mail/aliases", "name": "webmaster"},
            "html_month_missing": {"list": "users", "month": "2016-August"},
            "body_full_separator_line": {"list": "announce", "month": "2009-January", "count": 1},
            "held_message_file_missing": {"list": "users", "request_id": 18,
                                          "file": "/usr/local/mailman/data/heldmsg-users-18.pck"},
            "stray_tmp_file": "/usr/local/mailman/lists/announce/config.pck.tmp.mail.netsight.example.48213",
            "shunted_message": f"/usr/local/mailman/qfiles/shunt/{shunt_name}",
            "old_data_version": {"list": "mailman", "data_version": 96},
            "private_list_without_public_link": "mailman",
        },
        "shunt_files": [shunt_name],
        "secrets": sorted(set(secrets)),
    }


def small(tree: Tree) -> dict[str, Any]:
    spec = ListSpec("members", b"Members", "lists.smallclub.example", dt(2019, 3, 2, 19, 0, 5),
                    "en", b"Small Club members", b"Club news and chatter.",
                    ["chair@smallclub.example"], [], 18, 1, 40, (2019, 3), (2026, 9), 12,
                    archive_private=0, advertised=True, subscribe_policy=2,
                    mta="lists.smallclub.example")
    rec = build_list(tree, spec, host_root="small", with_last=False,
                     bad_dates=[(12, "GMT+00:00")])
    # Mailman's qrunners refuse to start without the site list (MAILMAN_SITE_LIST), so even
    # a one-list host has it: private, unadvertised, a handful of posts.
    site = ListSpec("mailman", b"Mailman", "lists.smallclub.example", dt(2019, 3, 2, 18, 55, 0),
                    "en", b"Mailman site list", b"Site-wide list; do not post.",
                    ["chair@smallclub.example"], [], 1, 0, 3, (2019, 3), (2023, 6), 3,
                    archive_private=1, advertised=False, subscribe_policy=3)
    site_rec = build_list(tree, site, host_root="small", with_last=False)
    return {"host": "small", "hostname": "lists.smallclub.example", "os": "FreeBSD 13.2-RELEASE",
            "mailman_version": "2.1.29", "email_domains": ["lists.smallclub.example"],
            "lists": {"members": rec, "mailman": site_rec}, "findings_planted": {},
            "shunt_files": [], "secrets": sorted(set(rec["secrets"] + site_rec["secrets"]))}


CAMPUS_DOMAINS = ["cs.campus.example", "campus.example", "stud.campus.example",
                  "math.campus.example", "alumni.campus.example", "example.org", "example.com"]


def campus(tree: Tree) -> dict[str, Any]:
    """A department list server: FreeBSD 9.3, Mailman 2.1.18, lists since 2004, HTTPS since 2015.

    The lists' created_at dates go back to 2004 (they were moved over from an older server);
    headers switch to https URLs in 2015 and never name a Mailman newer than the host's 2.1.18.
    nightly_gzip never ran on this host, so every archive volume is a plain ``.txt``.
    """
    host = "lists.cs.campus.example"
    # 2.1.18 stores its lists at an older schema than 2.1.26: campus keeps the fixture's (97)
    common: dict[str, Any] = dict(mta="mlist.cs.campus.example", url_scheme="https",
                                  https_from=2015, exim_version="4.84", mailman_max="2.1.18",
                                  domains=CAMPUS_DOMAINS, data_version=97)
    specs = [
        ListSpec("mailman", b"Mailman", host, dt(2004, 9, 28, 15, 20, 44),
                 "en", b"Mailman site list", b"Site-wide list; do not post.",
                 ["listmaster@cs.campus.example"], [], 2, 0, 3, (2004, 10), (2012, 2), 3,
                 archive_private=1, advertised=False, subscribe_policy=3, **common),
        ListSpec("seminar", b"Seminar", host, dt(2004, 10, 5, 11, 3, 27),
                 "en", b"CS department seminar and colloquium announcements",
                 b"Talks, colloquia and thesis defences in the Computer Science department.",
                 ["k.lambert@cs.campus.example"], ["seminar-chair@cs.campus.example"],
                 46, 0, 40, (2004, 10), (2026, 11), 18,
                 archive_private=0, advertised=True, subscribe_policy=1, **common),
        ListSpec("faculty", b"Faculty", host, dt(2006, 2, 13, 9, 41, 2),
                 "en", b"CS faculty (members only)",
                 b"Internal list of the department's professors and lecturers.",
                 ["dean@cs.campus.example", "k.lambert@cs.campus.example"], [],
                 22, 0, 30, (2006, 2), (2026, 11), 12,
                 archive_private=1, advertised=False, subscribe_policy=2, **common),
        ListSpec("grad-students", b"Grad-Students", host, dt(2009, 9, 1, 8, 0, 19),
                 "en", b"CS graduate students",
                 b"PhD and master's students: events, room bookings, questions.",
                 ["gradrep@stud.campus.example"], ["k.lambert@cs.campus.example"],
                 26, 9, 36, (2009, 9), (2026, 11), 14,
                 archive_private=0, advertised=True, subscribe_policy=1, **common),
    ]
    # nightly_gzip is not in /etc/crontab: no month was ever gzipped
    opts: dict[str, dict[str, Any]] = {
        "mailman": dict(with_last=False, txt_plain_before=3000),
        "seminar": dict(txt_plain_before=3000),
        "faculty": dict(txt_plain_before=3000),
        "grad-students": dict(txt_plain_before=3000),
    }
    lists = {spec.name: build_list(tree, spec, host_root="campus", **opts[spec.name])
             for spec in specs}
    secrets = [sec for rec in lists.values() for sec in rec["secrets"]]
    site_pw = sha1hex("site-admin-campus-s3cret")
    creator_pw = sha1hex("list-creator-campus-s3cret")
    tree.add(f"{MM_HOME}/data/adm.pw", site_pw + b"\n")
    tree.add(f"{MM_HOME}/data/creator.pw", creator_pw + b"\n")
    secrets += [site_pw.decode(), creator_pw.decode()]
    return {
        "host": "campus", "hostname": "mlist.cs.campus.example", "os": "FreeBSD 9.3-RELEASE-p13",
        "mailman_version": "2.1.18", "email_domains": [host],
        "lists": lists,
        "findings_planted": {
            # FreeBSD 9 has neither file (freebsd-version came with 10.0, os-release with
            # 13.0); the release is only in /etc/motd's first line (rewritten at boot).
            "os_release_files_absent": ["/bin/freebsd-version", "/etc/os-release"],
            "os_release_in_motd": "/etc/motd",
            "cron_system_crontab": "/etc/crontab",
            "cron_commented_out": "gate_news",
            "cron_missing": ["nightly_gzip"],
            "cron_custom_job": {"file": "/etc/crontab", "user": "mailman",
                                "command": "/usr/local/sbin/mm-weekly-stats"},
            "newsyslog_mailman_entries": ["bounce", "error", "post", "smtp", "subscribe",
                                          "vette"],
            "newsyslog_mailman_no_signal": "/etc/newsyslog.conf",
            "exim_router_lc_local_part": "MM_HOME/lists/${lc::$local_part}/config.pck",
            "apache_version": "2.2",
            "apache_redirect": "Redirect permanent /lists "
                               "http://lists.cs.campus.example/mailman/listinfo",
            "apache_rewrite": "RewriteRule ^/archive/(.*)$ /pipermail/$1 [R=301,L]",
            "apache_icons_not_mailman": "/usr/local/www/apache22/icons/",
            "private_list_without_public_link": ["faculty", "mailman"],
            "archives_without_gzip": True,
        },
        "shunt_files": [],
        "secrets": sorted(set(secrets)),
    }


HILLCREST_DOMAINS = ["hillcrest.example", "alumni.hillcrest.example", "example.org",
                     "example.com", "example.net"]


def hillcrest(tree: Tree) -> dict[str, Any]:
    """A college's one mail server whose own name is its list domain: FreeBSD 12.4, Exim 4.92,
    Cyrus, Mailman 2.1.29 since 2019, HTTPS from the start.

    The lists are plain: what this host is for is the mail that is not the lists' (aliases
    on the list domain, the people's mailboxes and forward files, a catch-all), hand-written
    beside this generator (sample_configs/README.md).
    """
    host = "lists.hillcrest.example"
    common: dict[str, Any] = dict(mta=host, url_scheme="https", https_from=2019,
                                  domains=HILLCREST_DOMAINS)
    specs = [
        ListSpec("mailman", b"Mailman", host, dt(2019, 9, 5, 13, 48, 31),
                 "en", b"Mailman site list", b"Site-wide list; do not post.",
                 ["root@hillcrest.example"], [], 1, 0, 3, (2019, 9), (2024, 1), 3,
                 archive_private=1, advertised=False, subscribe_policy=3, **common),
        ListSpec("staff", b"Staff", host, dt(2019, 9, 6, 8, 15, 2),
                 "en", b"Hillcrest College staff",
                 b"Announcements and questions for everyone who works at the college.",
                 ["alice@hillcrest.example"], ["bob@hillcrest.example"],
                 34, 0, 60, (2019, 9), (2026, 11), 24,
                 archive_private=1, advertised=False, subscribe_policy=2, **common),
        ListSpec("alumni-news", b"Alumni-News", host, dt(2020, 3, 2, 11, 20, 40),
                 "en", b"News for Hillcrest alumni",
                 b"The alumni office's newsletter: reunions, events, college news.",
                 ["carol@hillcrest.example"], [], 64, 7, 45, (2020, 3), (2026, 11), 20,
                 archive_private=0, advertised=True, subscribe_policy=1, **common),
    ]
    lists, secrets = site_lists(tree, specs, "hillcrest")
    return {
        "host": "hillcrest", "hostname": host, "os": "FreeBSD 12.4-RELEASE-p9",
        "mailman_version": "2.1.29", "email_domains": [host],
        "lists": lists,
        "findings_planted": {
            # the host's own name is the list domain, Exim's primary_hostname, the MX of the
            # people's domain (DNS, not in the tree), Cyrus's servername and the TLS web host
            "list_domain_is_host_name": {
                "name": host, "rc_conf": "/etc/rc.conf", "exim": "primary_hostname",
                "cyrus": "/usr/local/etc/imapd.conf", "apache": "*:443",
                "mx_of": ["hillcrest.example"]},
            "system_aliases_on_list_domain": {
                "router": "system_aliases", "file": "/etc/mail/aliases",
                "security": ["alice"], "webmaster": ["alice", "bob"]},
            "forward_files": {"/home/alice/.forward": ["\\alice", "alice@elsewhere.example"],
                              "/home/dave/.forward": ["dquinn@elsewhere.example"]},
            "catch_all": {"file": "/usr/local/etc/exim/vdomains/alumni.hillcrest.example",
                          "domain": "alumni.hillcrest.example",
                          "target": "alumni-office@elsewhere.example"},
            "fail_alias": "tickets",
            "defer_alias": "registrar",
            "include_alias": {"name": "it-staff", "file": "/usr/local/etc/exim/it-staff.list"},
            "private_list_without_public_link": ["mailman", "staff"],
        },
        "shunt_files": [],
        "secrets": sorted(set(secrets)),
    }


OAKFIELD_DOMAINS = ["oakfield.example", "example.org", "example.com", "example.net"]


def oakfield(tree: Tree) -> dict[str, Any]:
    """A residents' association's list server set up as many Mailman 2 guides do it: FreeBSD
    13.2, Exim, Apache 2.4, Mailman 2.1.29 from the port since 2021, HTTPS only, the CGI under
    ``/cgi-bin/mailman/`` and the logos under ``/images/mailman/`` (issue 26).

    Small on purpose (a few dozen posts): the web parity e2e asks every URL of it.
    """
    host = "lists.oakfield.example"
    common: dict[str, Any] = dict(mta="mail.oakfield.example", url_scheme="https",
                                  https_from=2021, cgi_path="/cgi-bin/mailman/",
                                  page_scheme="https", domains=OAKFIELD_DOMAINS)
    specs = [
        ListSpec("mailman", b"Mailman", host, dt(2021, 6, 8, 10, 37, 15),
                 "en", b"Mailman site list", b"Site-wide list; do not post.",
                 ["kim@mail.oakfield.example"], [], 1, 0, 2, (2021, 6), (2022, 1), 2,
                 archive_private=1, advertised=False, subscribe_policy=3, **common),
        ListSpec("residents", b"Residents", host, dt(2021, 6, 9, 18, 2, 44),
                 "en", b"Oakfield residents",
                 b"News and questions for everyone living on Oakfield Road.",
                 ["kim@mail.oakfield.example"], ["chair@oakfield.example"],
                 24, 2, 20, (2021, 6), (2026, 11), 8,
                 archive_private=0, advertised=True, subscribe_policy=1, **common),
        ListSpec("committee", b"Committee", host, dt(2021, 7, 1, 9, 30, 0),
                 "en", b"Residents' association committee",
                 b"The committee's own list: meetings, minutes, the budget.",
                 ["chair@oakfield.example"], [], 6, 0, 10, (2021, 7), (2026, 10), 5,
                 archive_private=1, advertised=False, subscribe_policy=3, **common),
    ]
    lists, secrets = site_lists(tree, specs, "oakfield")
    return {
        "host": "oakfield", "hostname": "mail.oakfield.example", "os": "FreeBSD 13.2-RELEASE",
        "mailman_version": "2.1.29", "email_domains": [host],
        "lists": lists,
        "findings_planted": {
            "url_prefixes": {"cgi": "/cgi-bin/mailman/", "icons": "/images/mailman/",
                             "archive": "/pipermail/"},
            "apache_http_to_https": "Redirect permanent / https://lists.oakfield.example/",
            "apache_root_redirect": "RedirectMatch permanent ^/$ /cgi-bin/mailman/listinfo",
            "private_list_without_public_link": ["committee", "mailman"],
        },
        "shunt_files": [],
        "secrets": sorted(set(secrets)),
    }


# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------

HOSTS = {"netsight": netsight, "small": small, "campus": campus, "hillcrest": hillcrest,
         "oakfield": oakfield}
# Folders inside each host tree that belong to the generator entirely.
OWNED = [f"{MM_HOME}/archives", f"{MM_HOME}/lists", f"{MM_HOME}/data", f"{MM_HOME}/qfiles"]


def generate() -> tuple[dict[str, bytes], dict[str, str]]:
    """All generated files and symlinks, keyed by path relative to the repo."""
    files: dict[str, bytes] = {}
    links: dict[str, str] = {}
    for host, build in HOSTS.items():
        tree = Tree()
        truth = build(tree)
        for rel, data in tree.files.items():
            files[f"sample_configs/{host}/{rel}"] = data
        for rel, target in tree.links.items():
            links[f"sample_configs/{host}/{rel}"] = target
        files[f"tests/sample_truth/{host}.json"] = (
            json.dumps(truth, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode()
    return files, links


def existing(root: Path) -> dict[str, str]:
    """Files ('f') and symlinks ('l') currently under the owned folders of root."""
    found: dict[str, str] = {}
    for host in HOSTS:
        for owned in OWNED:
            base = root / "sample_configs" / host / owned
            if not base.exists():
                continue
            for dirpath, dirnames, filenames in os.walk(base):
                for name in dirnames + filenames:
                    p = Path(dirpath) / name
                    rel = p.relative_to(root).as_posix()
                    if p.is_symlink():
                        found[rel] = "l"
                    elif p.is_file():
                        found[rel] = "f"
        truth = root / "tests" / "sample_truth" / f"{host}.json"
        if truth.exists():
            found[truth.relative_to(root).as_posix()] = "f"
    return found


def check(root: Path) -> list[str]:
    """Differences between what would be generated and what is under root."""
    files, links = generate()
    have = existing(root)
    problems: list[str] = []
    for rel, data in files.items():
        p = root / rel
        if have.get(rel) != "f":
            problems.append(f"missing: {rel}")
        elif p.read_bytes() != data:
            problems.append(f"differs: {rel}")
    for rel, target in links.items():
        p = root / rel
        if have.get(rel) != "l":
            problems.append(f"missing symlink: {rel}")
        elif os.readlink(p) != target:
            problems.append(f"symlink target differs: {rel}")
    for rel in sorted(set(have) - set(files) - set(links)):
        problems.append(f"unexpected: {rel}")
    return problems


def write(root: Path) -> int:
    files, links = generate()
    for host in HOSTS:
        for owned in OWNED:
            shutil.rmtree(root / "sample_configs" / host / owned, ignore_errors=True)
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    for rel, target in links.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.symlink_to(target)
    return len(files) + len(links)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if committed files differ")
    ap.add_argument("--out", type=Path, default=REPO, help="root to write/check (default: repo)")
    args = ap.parse_args(argv)
    if args.check:
        problems = check(args.out)
        for line in problems[:50]:
            print(line)
        if len(problems) > 50:
            print(f"... and {len(problems) - 50} more")
        return 1 if problems else 0
    n = write(args.out)
    print(f"wrote {n} files and symlinks under {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
