"""Mailman 2.1: the installation, ``mm_cfg.py``, every list's configuration, pending and held
requests, and the queues.

* The installation is found by layout: the FreeBSD port and source installs keep code and data
  together (``/usr/local/mailman``), Debian and RPM split code (``/usr/lib/mailman``) from data
  (``/var/lib/mailman``).
* ``mm_cfg.py`` is read with ``ast`` and never executed: literal assignments (and names bound
  to literals earlier in the file) are settings; ``add_virtualhost(...)`` calls are virtual
  hosts; anything computed or imported is a finding, kept verbatim.
* ``lists/NAME/config.pck`` is read with the restricted unpickler (``parsers.pickles``); only
  the attributes the move needs are taken, so the admin, moderator and poster passwords and the
  member passwords never enter the model. A broken ``config.pck`` falls back to
  ``config.pck.last``; a Mailman 2.0 ``config.db`` is a finding; ``config.pck.tmp.*`` is ignored.
"""

from __future__ import annotations

import ast
import datetime as dt
import hashlib
import posixpath
import re
from dataclasses import dataclass, field
from typing import Any

from migrate.core.mailman2 import DRAIN_QUEUES, HELD_MESSAGE, QUEUES, SHUNT_QUEUE, SITE_PASSWORD_FILES
from migrate.core.model import (ConfigFile, FileMode, Finding, ListFeatures, Mailman,
                                MailingList, MailmanSettings, Members, Severity, Source,
                                VirtualHost)
from parsers.base import Tree, TreeError, file_mode, read_text, unreadable_hint
from parsers.links import read_links
from parsers.pickles import LIMITS, PickleRefused, charset_for, decode_text, safe_loads

#: (layout, code prefix, data prefix), in the order they are tried.
LAYOUTS = (
    ("freebsd-port", "/usr/local/mailman", "/usr/local/mailman"),
    ("debian", "/usr/lib/mailman", "/var/lib/mailman"),
    ("rpm", "/usr/lib/mailman", "/var/lib/mailman"),
    ("source", "/home/mailman", "/home/mailman"),
    ("source", "/opt/mailman", "/opt/mailman"),
)
ETC_MM_CFG = "/etc/mailman/mm_cfg.py"  # Debian and RPM keep the real file here
#: The settings the plan uses, by mm_cfg.py name.
_SETTINGS = {
    "DEFAULT_URL_HOST": "default_url_host", "DEFAULT_EMAIL_HOST": "default_email_host",
    "MTA": "mta", "POSTFIX_STYLE_VIRTUAL_DOMAINS": "postfix_style_virtual_domains",
    "PUBLIC_ARCHIVE_URL": "public_archive_url", "DEFAULT_URL_PATTERN": "default_url_pattern",
    "IMAGE_LOGOS": "image_logos", "MAILMAN_SITE_LIST": "site_list",
    "DEFAULT_SERVER_LANGUAGE": "server_language",
}
_SECRET_NAME = re.compile(r"PASSW|SECRET|_KEY|TOKEN", re.I)
#: Mailman's member delivery status codes (MemberAdaptor.py).
_DELIVERY = {0: "enabled", 1: "unknown", 2: "by_user", 3: "by_admin", 4: "by_bounce"}


@dataclass
class MailmanResult:
    mailman: Mailman | None = None
    lists: list[MailingList] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    files: list[ConfigFile] = field(default_factory=list)


def _f(result: MailmanResult, fid: str, severity: Severity, message: str, hint: str,
       file: str | None, line: int | None = None) -> None:
    result.findings.append(Finding(fid, severity, message, hint,
                                   Source(file, line) if file else None))


# --- the installation --------------------------------------------------------------------------


def find_installation(tree: Tree) -> tuple[str, str, str] | None:
    """(layout, prefix, var_prefix) of the Mailman installation in the tree, or None."""
    for layout, prefix, var in LAYOUTS:
        has_code = tree.is_dir(f"{prefix}/Mailman") or tree.is_file(f"{prefix}/mail/mailman")
        has_data = tree.is_dir(f"{var}/lists")
        if layout == "rpm" and not tree.exists("/etc/redhat-release"):
            continue
        if layout == "debian" and tree.exists("/etc/redhat-release"):
            continue
        if has_code and has_data:
            return layout, prefix, var
    return None


def _version(tree: Tree, prefix: str) -> str | None:
    path = f"{prefix}/Mailman/Version.py"
    if not tree.is_file(path):
        return None
    tf = read_text(tree, path, "mailman-version", required=False)
    m = re.search(r"^VERSION\s*=\s*['\"]([^'\"]+)['\"]", tf.text or "", re.M)
    return m.group(1) if m else None


def read_mm_cfg(tree: Tree, path: str) -> tuple[MailmanSettings, list[Finding], ConfigFile | None]:
    """Site settings from mm_cfg.py, by reading its syntax tree (it is never executed)."""
    settings = MailmanSettings()
    findings: list[Finding] = []
    tf = read_text(tree, path, "mm_cfg")
    findings += tf.findings
    if tf.text is None:
        return settings, findings, tf.config
    file = tf.path
    try:
        module = ast.parse(tf.text, filename=file)
    except SyntaxError as exc:
        findings.append(Finding(
            "mailman.mm-cfg-syntax", Severity.ERROR,
            f"mm_cfg.py is not valid Python 3 syntax: {exc.msg}",
            "Mailman 2 runs Python 2; fix or port this line by hand (print statements, "
            "octal literals like 0644 and `except X, e` are Python 2 only), then inspect again.",
            Source(file, exc.lineno)))
        return settings, findings, tf.config
    # Names Defaults.py gives mm_cfg.py through `from Defaults import *` for its settings.
    known: dict[str, Any] = {"Yes": 1, "No": 0, "On": 1, "Off": 0, "True": True, "False": False}

    def literal(node: ast.AST) -> tuple[bool, Any]:
        if isinstance(node, ast.Name) and node.id in known:
            return True, known[node.id]
        try:
            return True, ast.literal_eval(node)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            return False, None

    def computed(name: str, node: ast.AST, line: int) -> None:
        findings.append(Finding(
            "mailman.mm-cfg-computed", Severity.WARNING,
            f"{name} in mm_cfg.py is computed ({ast.unparse(node)[:60]}), not a literal; "
            "it was not evaluated", f"Set {name} to the value it has on the old host "
            "(`bin/config_list` or `bin/withlist` there shows it) in the new mm_cfg.py, through "
            "an overlay (`migrate plan --overlay`).",
            Source(file, line)))

    for node in module.body:
        line = getattr(node, "lineno", None)
        if isinstance(node, ast.ImportFrom) and node.module == "Defaults":
            continue  # `from Defaults import *`: every mm_cfg.py starts so
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = ", ".join(a.name for a in node.names)
            findings.append(Finding(
                "mailman.mm-cfg-import", Severity.INFO,
                f"mm_cfg.py imports {names}; it was not run",
                "Check what the import is used for; settings computed with it are listed "
                "separately.", Source(file, line)))
            continue
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(
                node.targets[0], ast.Name):
            name = node.targets[0].id
            ok, value = literal(node.value)
            if not ok:
                computed(name, node.value, line)
                continue
            known[name] = value
            settings.sources[name] = Source(file, line)
            attr = _SETTINGS.get(name)
            if attr == "postfix_style_virtual_domains":
                settings.postfix_style_virtual_domains = [str(v) for v in value] if isinstance(
                    value, (list, tuple)) else []
            elif attr:
                setattr(settings, attr, None if value is None else str(value))
            else:
                settings.other[name] = "<hidden>" if _SECRET_NAME.search(name) else repr(value)
            continue
        if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
            computed(node.target.id, node, line)
            continue
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            call = node.value
            fname = call.func.id if isinstance(call.func, ast.Name) else ast.unparse(call.func)
            if fname == "add_virtualhost" and 1 <= len(call.args) <= 2:
                values = [literal(a) for a in call.args]
                if all(ok for ok, _ in values):
                    url = str(values[0][1])
                    email = str(values[1][1]) if len(values) > 1 else url
                    settings.virtual_hosts.append(VirtualHost(url, email, Source(file, line)))
                    continue
            if fname == "VIRTUAL_HOSTS.clear" and not call.args and not call.keywords:
                # the usual idiom before add_virtualhost lines: drop Defaults' mapping (the
                # new mm_cfg.py writes its own add_virtualhost lines after the same clear)
                settings.virtual_hosts.clear()
                continue
            findings.append(Finding(
                "mailman.mm-cfg-computed", Severity.WARNING,
                f"mm_cfg.py calls {ast.unparse(call)[:60]}; it was not run",
                "Read what the call does on the old host and carry it over into the new "
                "mm_cfg.py through an overlay (`migrate plan --overlay`) if it still applies.",
                Source(file, line)))
            continue
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # a docstring
        findings.append(Finding(
            "mailman.mm-cfg-statement", Severity.WARNING,
            f"mm_cfg.py line {line} is a {type(node).__name__.lower()} statement; it was not run",
            "Read it and carry over what it sets into the new mm_cfg.py through an overlay "
            "(`migrate plan --overlay`).", Source(file, line)))
    return settings, findings, tf.config


# --- lists ------------------------------------------------------------------------------------


def _epoch(value: Any) -> dt.datetime | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        try:
            return dt.datetime.fromtimestamp(float(value), dt.timezone.utc).replace(microsecond=0)
        except (OverflowError, OSError, ValueError):
            return None
    return None


def _load_pickle(tree: Tree, path: str, result: MailmanResult, what: str) -> tuple[bool, Any]:
    """(ok, data); every way it fails is a finding naming the file."""
    try:
        data = tree.read_bytes(path, limit=LIMITS.max_bytes)
    except TreeError as exc:
        _f(result, "input.unreadable", Severity.ERROR, f"cannot read {path}: {exc.reason}",
           unreadable_hint(exc.reason, path), path)
        return False, None
    try:
        return True, safe_loads(data)
    except PickleRefused as exc:
        _f(result, "mailman.pickle-refused", Severity.BLOCKER,
           f"{what} {path} names {exc.module}.{exc.name}, which no Mailman list file "
           "contains; it was not loaded (a tampered or foreign pickle)",
           "Find out how this file got there before moving anything from this host; "
           "restore the list from a backup.", path)
    except ValueError as exc:
        _f(result, "mailman.pickle-broken", Severity.ERROR,
           f"{what} {path} is not a readable pickle ({exc})",
           "Restore it from a backup (config.pck.last is tried automatically).", path)
    return False, None


def _text(d: dict, key: str, charset: str, failures: list[str]) -> str | None:
    value = d.get(key)
    if value is None:
        return None
    value = decode_text(value, charset, failures)
    return value if isinstance(value, str) else str(value)


def _address_list(value: Any, charset: str, failures: list[str]) -> list[str]:
    if isinstance(value, (list, tuple)):
        return [str(decode_text(v, charset, failures)) for v in value]
    return []


def _members(d: dict, charset: str, failures: list[str]) -> Members:
    """Regular and digest members, with their delivery status counts."""
    def addresses(mapping: Any) -> list[str]:
        if not isinstance(mapping, dict):
            return []
        out = []
        for key, value in mapping.items():
            # Mailman keeps the lower-cased address as key, the case-preserved one as value
            # when it differs (else 0).
            shown = value if isinstance(value, (bytes, str)) else key
            out.append(str(decode_text(shown, charset, failures)))
        return sorted(out, key=str.lower)

    regular = addresses(d.get("members"))
    digest = addresses(d.get("digest_members"))
    status: dict[str, int] = {}
    raw = d.get("delivery_status")
    all_members = len(regular) + len(digest)
    disabled = 0
    if isinstance(raw, dict):
        for value in raw.values():
            code = value[0] if isinstance(value, (tuple, list)) and value else value
            name = _DELIVERY.get(code, "unknown") if isinstance(code, int) else "unknown"
            if name != "enabled":
                status[name] = status.get(name, 0) + 1
                disabled += 1
    status["enabled"] = max(all_members - disabled, 0)
    return Members(len(regular), len(digest), regular, digest, dict(sorted(status.items())))


_SECRET_KEYS = ("password", "mod_password", "post_password", "passwords")

# --- what Mailman stores in each field the move reads (Mailman/MailList.py, OldStyleMemberships)

_MAX_TEXT = 4096  # a list's name, host, URL, description: short lines in the admin pages
_MAX_ADDRESS = 1024  # an address (RFC 5321 allows 254; Mailman never checked)
_MAX_ENTRIES = 10_000_000  # members of one list, far above any real list
_MAX_NUMBER = 2 ** 63


def _is_text(v: Any, limit: int = _MAX_TEXT) -> bool:
    return isinstance(v, (bytes, str)) and len(v) <= limit


def _is_number(v: Any) -> bool:
    if isinstance(v, bool):
        return True
    if isinstance(v, int):
        return -_MAX_NUMBER < v < _MAX_NUMBER
    return isinstance(v, float) and v == v and abs(v) < _MAX_NUMBER


def _is_address_list(v: Any) -> bool:
    return isinstance(v, (list, tuple)) and len(v) <= _MAX_ENTRIES and all(
        _is_text(a, _MAX_ADDRESS) for a in v)


def _is_member_map(v: Any) -> bool:
    # lower-cased address -> 0, or the case-preserved address when it differs
    return isinstance(v, dict) and len(v) <= _MAX_ENTRIES and all(
        _is_text(k, _MAX_ADDRESS) and (_is_text(x, _MAX_ADDRESS) or _is_number(x))
        for k, x in v.items())


def _is_status_map(v: Any) -> bool:
    # address -> (status, when) (older lists: the status alone)
    return isinstance(v, dict) and len(v) <= _MAX_ENTRIES and all(
        _is_text(k, _MAX_ADDRESS) and (_is_number(x) or (
            isinstance(x, (tuple, list)) and len(x) <= 4 and all(_is_number(y) for y in x)))
        for k, x in v.items())


#: field -> (check, what Mailman stores there); a field that fails is dropped with a finding
_FIELDS: dict[str, tuple[Any, str]] = {
    **{k: (_is_text, f"a string of at most {_MAX_TEXT} characters")
       for k in ("real_name", "host_name", "web_page_url", "description")},
    "preferred_language": (lambda v: _is_text(v, 32), "a language code"),
    "owner": (_is_address_list, "a list of addresses"),
    "moderator": (_is_address_list, "a list of addresses"),
    "members": (_is_member_map, "a mapping of addresses"),
    "digest_members": (_is_member_map, "a mapping of addresses"),
    "delivery_status": (_is_status_map, "a mapping of addresses to delivery states"),
    **{k: (_is_number, "a number")
       for k in ("archive", "archive_private", "archive_volume_frequency", "subscribe_policy",
                 "advertised", "data_version", "created_at", "last_post_time", "post_id",
                 "next_post_number")},
}


def describe_value(v: Any) -> str:
    """What a value is, in a few words that never show it (it may be huge, or a secret)."""
    if isinstance(v, (bytes, str)):
        return f"a string of {len(v):,} characters"
    if isinstance(v, (list, tuple, dict, set, frozenset)):
        return f"a {type(v).__name__} of {len(v):,} entries"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"an integer of {v.bit_length():,} bits"
    return f"a {type(v).__name__}"


def _check_fields(name: str, conf: dict, path: str, result: MailmanResult) -> None:
    """Drop every field the move reads that does not hold what Mailman stores there, each
    with a ``mailman.pickle-broken`` finding (a damaged or crafted list file)."""
    for key, (check, expected) in _FIELDS.items():
        if key in conf and conf[key] is not None and not check(conf[key]):
            what = describe_value(conf.pop(key))
            _f(result, "mailman.pickle-broken", Severity.ERROR,
               f"list {name}: {key} in {path} is {what}, not {expected}; it was ignored",
               "Restore the list's config.pck from a backup, or set this field again in the "
               "list's admin pages on the old host, then inspect again.", path)


def _config_to_list(name: str, d: Any, path: str, result: MailmanResult) -> MailingList | None:
    if not isinstance(d, dict):
        _f(result, "mailman.config-shape", Severity.ERROR,
           f"{path} holds {type(d).__name__}, not a list configuration",
           "Restore the list's config.pck from a backup.", path)
        return None
    # Python 2 str keys arrive as bytes; the secrets are dropped before anything else.
    conf = {(k.decode("latin-1") if isinstance(k, bytes) else str(k)): v for k, v in d.items()}
    passwords = conf.get("passwords")
    member_passwords = sum(1 for v in passwords.values() if v) \
        if isinstance(passwords, dict) else 0
    for key in _SECRET_KEYS:
        conf.pop(key, None)
    d.clear()
    _check_fields(name, conf, path, result)
    language = decode_text(conf.get("preferred_language"), "ascii") or "en"
    language = language if isinstance(language, str) else "en"
    charset = charset_for(language)
    failures: list[str] = []
    ml = MailingList(name, source=Source(path))
    ml.real_name = _text(conf, "real_name", charset, failures)
    ml.host_name = _text(conf, "host_name", charset, failures)
    ml.web_page_url = _text(conf, "web_page_url", charset, failures)
    ml.description = _text(conf, "description", charset, failures)
    ml.preferred_language = language
    ml.owners = _address_list(conf.get("owner"), charset, failures)
    ml.moderators = _address_list(conf.get("moderator"), charset, failures)
    ml.members = _members(conf, charset, failures)

    def as_bool(key: str) -> bool | None:
        v = conf.get(key)
        return bool(v) if isinstance(v, (bool, int)) else None

    def as_int(key: str) -> int | None:
        v = conf.get(key)
        if isinstance(v, bool):
            return int(v)
        if isinstance(v, (int, float)) and _is_number(v):
            return int(v)
        return None

    ml.archive = as_bool("archive")
    ml.archive_private = as_bool("archive_private")
    ml.archive_volume_frequency = as_int("archive_volume_frequency")
    ml.subscribe_policy = as_int("subscribe_policy")
    ml.advertised = as_bool("advertised")
    ml.data_version = as_int("data_version")
    ml.created_at = _epoch(conf.get("created_at"))
    ml.last_post_at = _epoch(conf.get("last_post_time"))
    ml.next_post_number = as_int("post_id") if "post_id" in conf else as_int("next_post_number")
    ml.features = _features(conf, member_passwords)
    ml.features.charset = _read_as(conf, charset)
    if failures:
        _f(result, "mailman.charset", Severity.WARNING,
           f"list {name}: {len(failures)} text value(s) are not valid {charset} "
           f"(its language is {language}); read as Latin-1",
           "Check the list's name, description and owners in the inventory; fix them in the "
           "list's admin pages after the move if they look wrong.", path)
    return ml


#: The list's own text: what a list manager that imports config.pck must decode.
_TEXT_KEYS = ("real_name", "description", "info", "subject_prefix", "msg_header",
              "msg_footer", "digest_header", "digest_footer", "welcome_msg", "goodbye_msg",
              "autoresponse_postings_text", "autoresponse_admin_text",
              "autoresponse_request_text")


def _read_as(conf: dict, charset: str) -> str:
    """The charset the list's text and its members' names are really in: its language's where
    every byte string decodes in it, else UTF-8 where every one decodes as UTF-8, else Latin-1
    (which decodes any byte). Mailman 2 stored what browsers sent, whatever the language."""
    names = conf.get("usernames")
    values = [conf.get(k) for k in _TEXT_KEYS]
    values += list(names.values()) if isinstance(names, dict) else []
    raw = [v for v in values if isinstance(v, bytes)]
    for candidate in (charset, "utf-8"):
        try:
            for v in raw:
                v.decode(candidate)
        except (UnicodeDecodeError, LookupError):
            continue
        return candidate
    return "iso-8859-1"


#: Mailman 2's user_options bit for a moderated member (Defaults.py, ``Moderate``).
_MODERATE = 128


def _features(conf: dict, member_passwords: int) -> ListFeatures:
    """Counts of what the list uses of Mailman 2's features (``ListFeatures``)."""
    def count(key: str) -> int:
        v = conf.get(key)
        return len(v) if isinstance(v, (list, tuple, dict)) else 0

    options = conf.get("user_options")
    moderated = sum(1 for v in options.values() if isinstance(v, int) and v & _MODERATE) \
        if isinstance(options, dict) else 0
    return ListFeatures(
        member_passwords=member_passwords, moderated_members=moderated,
        bounce_scores=count("bounce_info"), topics=count("topics"),
        topics_enabled=conf.get("topics_enabled") in (1, True),
        umbrella_list=conf.get("umbrella_list") in (1, True),
        header_filter_rules=count("header_filter_rules"))


def _read_list(tree: Tree, lists_dir: str, name: str, users: dict[int, str],
               groups: dict[int, str], result: MailmanResult,
               data_entries: list[str] | None = None) -> MailingList | None:
    folder = f"{lists_dir}/{name}"
    try:
        entries = tree.list_dir(folder)
    except (TreeError, OSError):
        return None
    ml: MailingList | None = None
    for candidate in ("config.pck", "config.pck.last"):
        if candidate not in entries:
            continue
        path = f"{folder}/{candidate}"
        ok, data = _load_pickle(tree, path, result, f"list {name}'s")
        if not ok:
            continue
        ml = _config_to_list(name, data, path, result)
        if ml is not None:
            if candidate != "config.pck":
                _f(result, "mailman.config-fallback", Severity.WARNING,
                   f"list {name}: config.pck is unusable; read config.pck.last instead",
                   "Check the list's settings on the old host (it runs with config.pck.last "
                   "too) and save them once in the admin pages to write a fresh config.pck.",
                   path)
            break
    if ml is None:
        if "config.db" in entries:
            _f(result, "mailman.config-db", Severity.BLOCKER,
               f"list {name} has only a Mailman 2.0 config.db (marshal format)",
               "Upgrade the list on the old host (`bin/update` of Mailman 2.1) before the move.",
               f"{folder}/config.db")
        elif "config.pck" not in entries and "config.pck.last" not in entries:
            return None  # not a list folder
        return None
    if "config.db" in entries:
        _f(result, "mailman.config-db", Severity.INFO,
           f"list {name} still has a Mailman 2.0 config.db beside config.pck",
           "Nothing to do: Mailman 2.1 ignores it; it is not copied.", f"{folder}/config.db")
    ml.source = Source(f"{folder}/config.pck")
    # the folder and every file in it (not stray config.pck.tmp.* files), with a checksum
    # for the manifest the move is verified against
    for entry in [""] + [e for e in entries if not e.startswith("config.pck.tmp")]:
        if entry and _special(tree, f"{folder}/{entry}", f"list {name}'s folder", result):
            continue
        fm = _file(tree, f"{folder}/{entry}".rstrip("/"), users, groups, checksum=bool(entry))
        if fm is not None:
            ml.files.append(fm)
    referenced = _requests(tree, folder, entries, ml, result)
    # the held posts request.pck points at, and any other data/heldmsg-NAME-N file: they move
    # with the list, checksummed like its own files
    data_dir = posixpath.dirname(posixpath.dirname(folder)) + "/data"
    held = set(referenced)
    for entry in data_entries or ():
        m = HELD_MESSAGE.match(entry)
        if m and m.group("list") == name:
            held.add(f"{data_dir}/{entry}")
    for path in sorted(held):
        if _special(tree, path, f"list {name}'s held posts", result):
            continue
        fm = _file(tree, path, users, groups, checksum=True)
        if fm is not None:
            ml.held_files.append(fm)
    return ml


def _special(tree: Tree, path: str, where: str, result: MailmanResult) -> bool:
    """A FIFO, device or socket where the move expects files: an error finding (rsync would
    copy it as a FIFO or a device, or fail on it), and it is left out of the manifest."""
    try:
        kind = tree.stat(path, follow=False).kind
    except TreeError:
        return False
    if kind != "other":
        return False
    _f(result, "mailman.special-file", Severity.ERROR,
       f"{path} in {where} is not a regular file (a FIFO, device or socket)",
       "Remove it, or replace it with the real file, before the move: rsync would copy a FIFO "
       "or a device as such, or fail on it, and the copy cannot be checked.", path)
    return True


def _file(tree: Tree, path: str, users: dict[int, str], groups: dict[int, str],
          checksum: bool) -> FileMode | None:
    """Owner, group and mode of a path; for a regular file (``checksum``), its size and SHA-256
    too, for the manifest the move is verified against. None when it cannot be stat'ed."""
    fm = file_mode(tree, path, users, groups)
    if fm is None:
        return None
    if checksum and tree.is_file(path):
        try:
            data = tree.read_bytes(path, limit=64 * 1024 * 1024)
            fm.size, fm.sha256 = len(data), hashlib.sha256(data).hexdigest()
        except TreeError:
            pass  # unreadable files were reported where they are parsed
    return fm


def _requests(tree: Tree, folder: str, entries: list[str], ml: MailingList,
              result: MailmanResult) -> list[str]:
    """Pending confirmations and held requests, counted; returns the held messages
    ``request.pck`` points at that exist (``data/heldmsg-NAME-N.pck``), which move with the
    list. The pickles are read with the restricted unpickler and dropped at once."""
    referenced: list[str] = []
    if "pending.pck" in entries:
        ok, data = _load_pickle(tree, f"{folder}/pending.pck", result, f"list {ml.name}'s")
        if ok and isinstance(data, dict):
            ml.pending_count = sum(1 for k in data if k not in (b"evictions", b"version",
                                                                  "evictions", "version"))
            data.clear()
    if "request.pck" in entries:
        ok, data = _load_pickle(tree, f"{folder}/request.pck", result, f"list {ml.name}'s")
        if ok and isinstance(data, dict):
            held = [v for k, v in data.items() if k not in (b"version", "version")]
            ml.held_count = len(held)
            # Mailman/ListAdmin.py: HELDMSG = 1, SUBSCRIPTION = 2, UNSUBSCRIPTION = 3
            kinds = [e[0] for e in held if isinstance(e, tuple) and e]
            ml.held_posts, ml.held_subscriptions = kinds.count(1), kinds.count(2)
            var = posixpath.dirname(posixpath.dirname(folder))
            for entry in held:
                # (HELDMSG=1, (when, sender, subject, reason, filename, msgdata))
                if isinstance(entry, tuple) and len(entry) == 2 and entry[0] == 1 and \
                        isinstance(entry[1], tuple) and len(entry[1]) >= 5:
                    fname = entry[1][4]
                    if not _is_text(fname, 255):
                        _f(result, "mailman.pickle-broken", Severity.ERROR,
                           f"list {ml.name}: a held request in {folder}/request.pck names "
                           f"{describe_value(fname)}, not a file name; it was ignored",
                           "Discard that request in the list's admin pages (admindb) on the "
                           "old host, or restore request.pck from a backup.",
                           f"{folder}/request.pck")
                        continue
                    fname = fname.decode("latin-1") if isinstance(fname, bytes) else fname
                    held_path = f"{var}/data/{posixpath.basename(fname)}"
                    if tree.exists(held_path):
                        referenced.append(held_path)
                    else:
                        _f(result, "mailman.held-message-missing", Severity.WARNING,
                           f"list {ml.name}: a held post refers to {held_path}, which is missing",
                           "Discard that request in the list's admin pages (admindb) on the old "
                           "host; the message itself is gone.", f"{folder}/request.pck")
            data.clear()
    if ml.pending_count or ml.held_count:
        _f(result, "mailman.requests-pending", Severity.INFO,
           f"list {ml.name} has {ml.pending_count} pending confirmation(s) and "
           f"{ml.held_count} held request(s)",
           "They move with the list: request.pck, pending.pck and the held posts "
           "(data/heldmsg-NAME-N) are copied in the final sync and checked against the "
           "freeze manifest, so moderators approve or discard them on the new host and "
           "confirmation links keep working. Tell the moderators; clearing what can be cleared "
           "before the freeze keeps it short.",
           f"{folder}/request.pck" if ml.held_count else f"{folder}/pending.pck")
    return referenced


def _queues(tree: Tree, var: str, mm: Mailman, result: MailmanResult) -> None:
    for queue in QUEUES:
        folder = f"{var}/qfiles/{queue}"
        if not tree.is_dir(folder):
            continue
        try:
            entries = [e for e in tree.list_dir(folder) if e.endswith((".pck", ".bak"))]
        except (TreeError, OSError):
            continue
        mm.queues[queue] = len(entries)
        if not entries:
            continue
        if queue == SHUNT_QUEUE:
            _f(result, "mailman.shunted", Severity.WARNING,
               f"{len(entries)} shunted message(s) in {folder}",
               "Run `bin/unshunt` on the old host to retry them, or remove them if they are "
               "known junk, before the freeze.", folder)
        elif queue in DRAIN_QUEUES:
            _f(result, "mailman.queue-not-empty", Severity.WARNING,
               f"{len(entries)} message(s) waiting in {folder}",
               "Let the qrunners drain this queue (`bin/mailmanctl status`) before the final "
               "sync; the cutover refuses to go on while it is not empty.", folder)


def _site_passwords(tree: Tree, var: str, data_entries: list[str], users: dict[int, str],
                    groups: dict[int, str], mm: Mailman, result: MailmanResult) -> None:
    """The site's password files (data/adm.pw, data/creator.pw): owner, group, mode, size and
    the checksum of the (hashed) content for the manifest; the content itself is never kept."""
    for name in SITE_PASSWORD_FILES:
        if name not in data_entries:
            continue
        fm = _file(tree, f"{var}/data/{name}", users, groups, checksum=True)
        if fm is not None:
            mm.site_files.append(fm)
    if SITE_PASSWORD_FILES[0] not in data_entries:
        _f(result, "mailman.no-site-password", Severity.INFO,
           f"Mailman has no site administrator password ({var}/data/{SITE_PASSWORD_FILES[0]})",
           "Nothing to carry over: the list admins log in with their lists' passwords. To "
           "have a site password on the new host, set one there with `mmsitepass` after the "
           "move (the runbook's new-mailman step says so).", f"{var}/data")


def read_mailman(tree: Tree, users: dict[int, str] | None = None,
                 groups: dict[int, str] | None = None) -> MailmanResult:
    """Find Mailman in the tree and read its settings, lists and queues."""
    result = MailmanResult()
    found = find_installation(tree)
    if found is None:
        return result
    users = users or {}
    groups = groups or {}
    layout, prefix, var = found
    mm = Mailman(version=_version(tree, prefix), layout=layout, prefix=prefix, var_prefix=var,
                 wrapper=f"{prefix}/mail/mailman")
    cfg_path = next((p for p in (f"{prefix}/Mailman/mm_cfg.py", ETC_MM_CFG) if tree.exists(p)),
                    None)
    if cfg_path:
        settings, findings, config = read_mm_cfg(tree, cfg_path)
        mm.settings, mm.config_file = settings, config.path if config else cfg_path
        result.findings += findings
        if config:
            result.files.append(config)
    else:
        _f(result, "mailman.no-mm-cfg", Severity.WARNING, "Mailman has no mm_cfg.py",
           "The site settings (URL and email hosts) will come from the plan's target only.",
           f"{prefix}/Mailman/mm_cfg.py")
    lists_dir = f"{var}/lists"
    try:
        s = tree.stat(lists_dir)
        mm.user, mm.group = users.get(s.uid, str(s.uid)), groups.get(s.gid, str(s.gid))
        if s.uid == 0 and "mailman" in users.values():
            # lists/ owned by root (a copied tree, or an install by hand): the port's user
            mm.user = "mailman"
            mm.group = "mailman" if "mailman" in groups.values() else mm.group
        names = tree.list_dir(lists_dir)
    except (TreeError, OSError):
        names = []
    mm.source = Source(lists_dir)
    try:
        data_entries = sorted(tree.list_dir(f"{var}/data")) if tree.is_dir(f"{var}/data") \
            else []
    except (TreeError, OSError):
        data_entries = []
    for name in names:
        if name.startswith(".") or not tree.is_dir(f"{lists_dir}/{name}"):
            continue
        ml = _read_list(tree, lists_dir, name, users, groups, result, data_entries)
        if ml is not None:
            result.lists.append(ml)
    _queues(tree, var, mm, result)
    _site_passwords(tree, var, data_entries, users, groups, mm, result)
    links = read_links(tree, var)
    mm.links = links.links
    result.findings += links.findings
    versions = [ml.data_version for ml in result.lists if ml.data_version is not None]
    for ml in result.lists:
        if ml.data_version is not None and ml.data_version < max(versions):
            _f(result, "mailman.old-data-version", Severity.INFO,
               f"list {ml.name} is stored in an older format (data_version {ml.data_version}, "
               f"others {max(versions)})",
               "Mailman upgrades it when it first loads the list; after the copy, run "
               "`bin/list_lists` once on the new host as Mailman's user to do that.",
               ml.source.file if ml.source else None)
    site = mm.site_list
    if site not in {ml.name for ml in result.lists}:
        _f(result, "mailman.no-site-list", Severity.ERROR,
           f"the site list {site} (MAILMAN_SITE_LIST) does not exist",
           "Mailman's qrunners refuse to start without it: create it on the new host with "
           "`bin/newlist` only if it was never there, or copy it with the other lists.",
           (mm.settings.sources["MAILMAN_SITE_LIST"].file
            if mm.settings and "MAILMAN_SITE_LIST" in mm.settings.sources
            else cfg_path or prefix))
    result.mailman = mm
    return result
