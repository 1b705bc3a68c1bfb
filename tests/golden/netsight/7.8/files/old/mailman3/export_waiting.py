# -*- coding: us-ascii -*-
"""What waits in Mailman 2, written out for Mailman 3 (run on the OLD host).

    PYTHON2 export_waiting.py MAILMAN_PREFIX EXPORT_FOLDER LISTNAME...

``mailman import21`` reads only a list's config.pck. This script writes what it leaves behind
into EXPORT_FOLDER (made by the script; it must not exist yet), per list:

- ``NAME/held-ID.eml`` and ``NAME/held-ID.json``: each post held for the moderator
  (request.pck HELDMSG records), the message as Mailman stored it in ``data/heldmsg-NAME-ID``
  (flattened from the pickle, headers as stored), and its id, sender, subject, reason, time;
- ``NAME/requests.json``: the list's address, each subscription waiting for the moderator
  (request.pck SUBSCRIPTION records: address, real name, digest flag, language, time) and each
  subscription waiting for the subscriber's confirmation (pending.pck ``S`` records, unexpired:
  address, real name, digest flag, language, whether it is an invitation), and how many of each
  kind of request it does NOT carry (unsubscriptions, address changes..., and the posts
  ``digest.mbox`` still collects: send the digest first);
- ``MANIFEST.json``, written last: the lists. Its absence means the export did not finish.

No password (a member's chosen one in a request, the list's) is written anywhere.

Run it with Mailman 2's own Python (2.4 to 2.7) after Mailman 2 is stopped (``mailmanctl
stop``, its queues drained) and its web interface is closed: nothing can then be held, approved
or confirmed behind the export's back. It reads Mailman's files through Mailman's own code
(MailList, ListAdmin, Pending), taking each list's lock as the admin pages do, writes nothing
into Mailman's folders, and writes only plain text and JSON. It exits 1 with one line on
error.

Its syntax is the part common to Python 2.4 and Python 3 (``except X:`` with
``sys.exc_info()``, no print statement), so the project's Python 3 tools can parse it; it runs
only on Python 2, where Mailman 2 is.
"""

import os
import re
import sys
import time

FORMAT = 'migrate-mailman2-waiting 1'
#: Mailman 2.1's own ACCEPTABLE_LISTNAME_CHARACTERS, whole names; no dot first (no . or ..)
LISTNAME = re.compile(r'^[-+_=a-z0-9][-+_.=a-z0-9]*$')
#: Seconds to wait for a list's lock (a running qrunner holds it for a moment)
LOCK_TIMEOUT = 120
#: Pending.py's record types, as named in the output
PENDING_KINDS = {'U': 'unsubscription confirmations',
                 'C': 'address change confirmations',
                 'H': 'held post cancel links',
                 'E': 'membership re-enable links',
                 'P': 'bounce probes'}


class Failure(Exception):
    pass


#: the export folder once made: a run that fails removes it (it holds only what it wrote)
MADE = []


def fail(text):
    raise Failure(text)


# --------------------------------------------------------------------- JSON (Python 2.4 has none)

def _json_string(value):
    out = ['"']
    for ch in value:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == '\\':
            out.append('\\\\')
        elif 0x20 <= code < 0x7f:
            out.append(str(ch))
        elif code > 0xffff:
            code -= 0x10000
            out.append('\\u%04x\\u%04x' % (0xd800 + (code >> 10), 0xdc00 + (code & 0x3ff)))
        else:
            out.append('\\u%04x' % code)
    out.append('"')
    return ''.join(out)


def to_json(value, indent=''):
    """JSON text of ``value``; byte strings must have been made unicode (``text``)."""
    if value is None:
        return 'null'
    if value is True:
        return 'true'
    if value is False:
        return 'false'
    if isinstance(value, (int, long)):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, unicode):
        return _json_string(value)
    if isinstance(value, str):
        return _json_string(value.decode('ascii'))
    inner = indent + '  '
    if isinstance(value, dict):
        keys = value.keys()
        keys.sort()
        items = ['%s%s: %s' % (inner, _json_string(unicode(k)), to_json(value[k], inner))
                 for k in keys]
        if not items:
            return '{}'
        return '{\n' + ',\n'.join(items) + '\n' + indent + '}'
    if isinstance(value, (list, tuple)):
        if not value:
            return '[]'
        return '[\n' + ',\n'.join([inner + to_json(v, inner) for v in value]) + '\n' + indent + ']'
    fail('cannot write a %s as JSON' % type(value).__name__)


def text(value, charset):
    """A Mailman string as unicode, read as Mailman itself reads one (Utils.canonstr): byte
    strings in the charset of the list's or the request's language, Latin-1 for us-ascii."""
    if value is None:
        return u''
    if isinstance(value, unicode):
        return value
    if charset == 'us-ascii':
        charset = 'iso-8859-1'
    try:
        return str(value).decode(charset, 'replace')
    except LookupError:
        return str(value).decode('iso-8859-1')


def oneline(value):
    """A header as stored may be folded (a newline and a blank): one line for the record."""
    return u' '.join(value.split())


# ------------------------------------------------------------------------------ writing files

def write_file(path, data):
    """A new file (never an existing one, never through a link), readable by its owner only."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 384)  # 0600
    except OSError:
        e = sys.exc_info()[1]
        fail('cannot create %s: %s' % (path, e.strerror))
    fp = os.fdopen(fd, 'wb')
    try:
        fp.write(data)
        fp.flush()
        os.fsync(fp.fileno())
    finally:
        fp.close()


def make_folder(path):
    try:
        os.mkdir(path, 448)  # 0700
    except OSError:
        e = sys.exc_info()[1]
        fail('cannot make %s: %s' % (path, e.strerror))


# ------------------------------------------------------------------------- reading Mailman 2

def sha1_hex(data):
    """The import checks each message file against it (a copy cut short is refused)."""
    try:
        from hashlib import sha1
    except ImportError:  # Python 2.4
        from sha import new as sha1
    return sha1(data).hexdigest()


def flatten(msg):
    """The message's text as Mailman would send it: headers as stored (no re-folding), no
    ``>From`` mangling."""
    from cStringIO import StringIO
    from email.Generator import Generator
    fp = StringIO()
    Generator(fp, False, 0).flatten(msg)
    return fp.getvalue()


def held_posts(mm, mlist, folder, charset):
    """Each held post: its text and metadata files. Returns (count, lost file names)."""
    from Mailman.ListAdmin import readMessage
    count = 0
    lost = []
    for rid in mlist.GetHeldMessageIds():
        record = mlist.GetRecord(rid)
        if len(record) != 6:
            fail('%s: held post %s has a record of %d fields, not 6 (run Mailman 2.1\'s '
                 'bin/update first)' % (mlist.internal_name(), rid, len(record)))
        when, sender, subject, reason, filename, msgdata = record
        if os.sep in filename or not filename.startswith('heldmsg-'):
            fail('%s: held post %s names the file %r' % (mlist.internal_name(), rid, filename))
        path = os.path.join(mm.DATA_DIR, filename)
        if not os.path.exists(path):
            # Mailman itself reports such a post as lost when a moderator handles it
            lost.append(filename)
            continue
        if filename.endswith('.txt'):
            fp = open(path, 'rb')
            try:
                body = fp.read()
            finally:
                fp.close()
        else:
            body = flatten(readMessage(path))
        meta = {'id': int(rid), 'time': float(when),
                'sender': oneline(text(sender, charset)),
                'subject': oneline(text(subject, charset)),
                'reason': oneline(text(reason, charset)), 'message': 'held-%d.eml' % rid,
                'sha1': sha1_hex(body), 'size': len(body)}
        write_file(os.path.join(folder, 'held-%d.eml' % rid), body)
        write_file(os.path.join(folder, 'held-%d.json' % rid), to_json(meta) + '\n')
        count += 1
    return count, lost


def requests(mm, mlist, charset):
    """Subscriptions waiting for the moderator, then for the subscriber, and what is left."""
    from Mailman import Utils
    name = mlist.internal_name()
    moderator = []
    for rid in mlist.GetSubscriptionIds():
        record = mlist.GetRecord(rid)
        if len(record) != 6:
            fail('%s: subscription request %s has a record of %d fields, not 6 (run Mailman '
                 '2.1\'s bin/update first)' % (name, rid, len(record)))
        when, addr, fullname, password, digest, lang = record  # the password stays here
        moderator.append({'id': int(rid), 'time': float(when), 'address': text(addr, 'us-ascii'),
                          'realname': text(fullname, Utils.GetCharSet(lang)),
                          'digest': bool(digest), 'language': text(lang, 'us-ascii')})
    not_carried = {}
    unsubscriptions = len(mlist.GetUnsubscriptionIds())
    if unsubscriptions:
        not_carried['unsubscription requests waiting for the moderator'] = unsubscriptions
    confirm = []
    expired = 0
    db = mlist._Pending__load()  # Pending keeps no public reader; pend_confirm needs a cookie
    evictions = db.get('evictions', {})
    now = time.time()
    cookies = db.keys()
    cookies.sort()
    for cookie in cookies:
        if cookie in ('evictions', 'version'):
            continue
        data = db[cookie]
        kind = data[0]
        if kind != 'S':
            label = PENDING_KINDS.get(kind, 'pending records of kind %r' % (kind,))
            not_carried[label] = not_carried.get(label, 0) + 1
            continue
        if evictions.get(cookie, 0) < now:
            expired += 1  # Mailman drops it at its next save; its link no longer works
            continue
        userdesc = data[1]
        invitation = getattr(userdesc, 'invitation', None)
        if invitation and invitation != name:
            label = 'invitations made for another list'
            not_carried[label] = not_carried.get(label, 0) + 1
            continue
        lang = getattr(userdesc, 'language', None) or mlist.preferred_language
        confirm.append({'address': text(userdesc.address, 'us-ascii'),
                        'realname': text(getattr(userdesc, 'fullname', ''),
                                         Utils.GetCharSet(lang)),
                        'digest': bool(getattr(userdesc, 'digest', 0)),
                        'language': text(lang, 'us-ascii'),
                        'invitation': bool(invitation),
                        'expires': float(evictions[cookie])})
    if expired:
        not_carried['expired subscription confirmations'] = expired
    return moderator, confirm, not_carried


def digest_posts(path):
    """How many posts digest.mbox collected (ToDigest appends each as an mbox message, its
    body's "From " lines quoted): import21 does not read it, only a digest sent carries them."""
    try:
        fp = open(path, 'rb')
    except IOError:
        return 0
    try:
        count = 0
        for line in fp:
            if line.startswith('From '):
                count += 1
        return count
    finally:
        fp.close()


def export_list(mm, MailList, name, root):
    from Mailman import Errors, LockFile, Utils
    try:
        mlist = MailList.MailList(name, lock=0)
        mlist.Lock(timeout=LOCK_TIMEOUT)
    except LockFile.TimeOutError:
        fail('%s: its lock stayed taken %d s (is Mailman 2 still running? a stale lock in '
             '%s?)' % (name, LOCK_TIMEOUT, mm.LOCK_DIR))
    except Errors.MMListError:
        e = sys.exc_info()[1]
        fail('%s: Mailman 2 cannot load it (%s)' % (name, e.__class__.__name__))
    try:
        charset = Utils.GetCharSet(mlist.preferred_language)
        folder = os.path.join(root, name)
        make_folder(folder)
        held, lost = held_posts(mm, mlist, folder, charset)
        moderator, confirm, not_carried = requests(mm, mlist, charset)
        if lost:
            not_carried['held posts whose message file Mailman 2 lost'] = len(lost)
        collected = digest_posts(os.path.join(mlist.fullpath(), 'digest.mbox'))
        if collected:
            not_carried['posts collected for the next digest (send it first: '
                        'cron/senddigests)'] = collected
        info = {'list': text(name, 'us-ascii'),
                'address': text(mlist.GetListEmail(), 'us-ascii'),
                'mime_is_default_digest': bool(mlist.mime_is_default_digest),
                'subscriptions': moderator, 'confirmations': confirm,
                'not_carried': not_carried}
        write_file(os.path.join(folder, 'requests.json'), to_json(info) + '\n')
    finally:
        # nothing was changed: the request database is dropped unsaved
        mlist.Unlock()
    return held, len(moderator), len(confirm), not_carried


def main(argv):
    if len(argv) < 4:
        fail('usage: export_waiting.py MAILMAN_PREFIX EXPORT_FOLDER LISTNAME...')
    prefix, root, names = argv[1], argv[2], argv[3:]
    for name in names:
        if not LISTNAME.match(name):
            fail('%r is not a Mailman 2 list name' % (name,))
    if len(dict([(n, 1) for n in names])) != len(names):
        fail('a list is named twice')
    if not os.path.isfile(os.path.join(prefix, 'Mailman', 'mm_cfg.py')):
        fail('%s is not a Mailman 2 prefix (no Mailman/mm_cfg.py)' % prefix)
    if os.path.lexists(root):
        fail('%s exists already: the export writes a new folder' % root)
    sys.path.insert(0, prefix)
    if os.path.isdir(os.path.join(prefix, 'pythonlib')):
        sys.path.insert(0, os.path.join(prefix, 'pythonlib'))
    from Mailman import mm_cfg, MailList, Utils
    for name in names:
        if not Utils.list_exists(name):
            fail('no list %s in Mailman 2 (%s)' % (name, mm_cfg.LIST_DATA_DIR))
    os.umask(63)  # 077
    make_folder(root)
    MADE.append(root)
    summary = []
    for name in names:
        held, moderator, confirm, not_carried = export_list(mm_cfg, MailList, name, root)
        line = '%s: %d held posts, %d subscriptions waiting for the moderator, %d waiting ' \
               'for confirmation' % (name, held, moderator, confirm)
        labels = not_carried.keys()
        labels.sort()
        if labels:
            line += '; NOT carried: ' + ', '.join(['%d %s' % (not_carried[k], k)
                                                   for k in labels])
        summary.append(line)
    import random
    created = time.time()
    manifest = {'format': FORMAT, 'lists': [text(n, 'us-ascii') for n in names],
                'created': created,
                # which export this is: the import remembers the lists it carried by it
                'id': sha1_hex(repr((created, os.getpid(), names, random.random())))}
    write_file(os.path.join(root, 'MANIFEST.json'), to_json(manifest) + '\n')
    for line in summary:
        sys.stdout.write(line + '\n')


def remove_partial():
    if MADE:
        import shutil
        shutil.rmtree(MADE[0], True)
        return ' (the partial export was removed)'
    return ''


if __name__ == '__main__':
    try:
        main(sys.argv)
    except Failure:
        e = sys.exc_info()[1]
        sys.stderr.write('export_waiting: %s%s\n' % (e, remove_partial()))
        sys.exit(1)
    except KeyboardInterrupt:
        sys.stderr.write('export_waiting: interrupted%s\n' % remove_partial())
        sys.exit(1)
    except Exception:
        e = sys.exc_info()[1]
        sys.stderr.write('export_waiting: %s: %s%s\n' % (
            e.__class__.__name__, str(e).replace('\n', ' '), remove_partial()))
        sys.exit(1)
