"""What waited in Mailman 2, waiting again in Mailman 3 (run on the NEW host).

    MM3_VENV/bin/python import_waiting.py [-C MAILMAN_CFG] [--run-as-root] EXPORT_FOLDER

Reads the folder ``export_waiting.py`` wrote on the old host (after each list was made with
``mailman create`` and ``mailman import21``), and for each list in it:

- holds each held post again for the list's moderators, with Mailman 2's reason (Mailman 3's
  ``hold_message``: the post waits in the list's held queue whatever Mailman 3's rules would
  say of it now; it is never distributed without a moderator);
- registers each subscription that waited for the moderator so that it waits for the
  moderator again (pre-verified, pre-confirmed, not approved; digest kept);
- registers each subscription that waited for the subscriber's confirmation so that Mailman 3
  sends the subscriber a NEW confirmation (the Mailman 2 link is dead); an invitation is sent
  again as an invitation.

Everything in the folder is untrusted: JSON and plain text only, every value checked, regular
files only, sizes bounded. Every file and every item is checked before anything is changed; a
bad export is refused (exit 1, naming the file and the item) with nothing imported. Run it as
Mailman 3's user (the held messages are written into its message store).

Running it again is harmless: a list carried whole from this export is remembered in Mailman
3's var folder (``mailman2-waiting.json``) and left alone, so a post a moderator has decided
since is not held again; in a list a run did not finish, a post already held (same Message-ID)
and a subscription already waiting, or already a member, are left as they are and counted.
"""

import argparse
import email
import hashlib
import json
import os
import re
import stat
import sys

FORMAT = 'migrate-mailman2-waiting 1'
LISTNAME = re.compile(r'^[-+_=a-z0-9][-+_.=a-z0-9]*$')
HELD = re.compile(r'^held-([0-9]{1,9})\.(json|eml)$')
CONTROL = re.compile(r'[\x00-\x1f\x7f]')
ADDRESS = re.compile(r'^[^@\s<>(),;:"\[\]\\]+@[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?$')
LANGUAGE = re.compile(r'^[a-z]{2,3}(_[A-Za-z]{2,4})?$')
MAX_JSON = 64 << 20
MAX_MESSAGE = 256 << 20


class Refused(Exception):
    pass


def refuse(text):
    raise Refused(text)


# ------------------------------------------------------------------------------- reading

def read_regular(path, limit):
    """A regular file's bytes: no link followed, no FIFO or device opened for reading."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as e:
        refuse(f'{path}: cannot open it ({e.strerror})')
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            refuse(f'{path}: not a regular file')
        if st.st_size > limit:
            refuse(f'{path}: {st.st_size} bytes, more than {limit}')
        chunks, size = [], 0
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            size += len(chunk)
            if size > limit:
                refuse(f'{path}: more than {limit} bytes')
            chunks.append(chunk)
        return b''.join(chunks)
    finally:
        os.close(fd)


def read_json(path):
    try:
        return json.loads(read_regular(path, MAX_JSON).decode('utf-8'))
    except (UnicodeDecodeError, ValueError) as e:
        refuse(f'{path}: not JSON ({e})')


def field(where, data, key, kind):
    value = data.get(key) if isinstance(data, dict) else None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        refuse(f'{where}: {key} is missing or not a {kind.__name__}')
    if isinstance(value, str) and CONTROL.search(value):
        refuse(f'{where}: {key} holds a control character (a newline?): {value!r}')
    return value


def address(where, data, key='address'):
    value = field(where, data, key, str)
    if not ADDRESS.match(value) or len(value) > 254:
        refuse(f'{where}: {key} {value!r} is not one email address')
    return value


def person(where, data, moderator):
    return {'address': address(where, data),
            'realname': field(where, data, 'realname', str),
            'digest': field(where, data, 'digest', bool),
            'language': language(where, data),
            'invitation': False if moderator else field(where, data, 'invitation', bool),
            'where': where}


def language(where, data):
    value = field(where, data, 'language', str)
    if not LANGUAGE.match(value):
        refuse(f'{where}: language {value!r} is not a language code')
    return value


def load_list(root, name):
    """One list's items, all checked; nothing in Mailman 3 touched."""
    folder = os.path.join(root, name)
    st = os.lstat(folder) if os.path.lexists(folder) else None
    if st is None or not stat.S_ISDIR(st.st_mode):
        refuse(f'{folder}: missing, or not a folder')
    where = os.path.join(folder, 'requests.json')
    info = read_json(where)
    if field(where, info, 'list', str) != name:
        refuse(f'{where}: names the list {info.get("list")!r}, not {name}')
    posting = address(where, info)
    subs = field(where, info, 'subscriptions', list)
    confs = field(where, info, 'confirmations', list)
    not_carried = field(where, info, 'not_carried', dict)
    for label, count in not_carried.items():
        if CONTROL.search(label) or not isinstance(count, int) or isinstance(count, bool):
            refuse(f'{where}: not_carried {label!r}: {count!r}')
    held, seen = [], {}
    for entry in sorted(os.listdir(folder)):
        if entry == 'requests.json':
            continue
        m = HELD.match(entry)
        if not m:
            refuse(f'{os.path.join(folder, entry)}: not a file the export writes')
        seen.setdefault(int(m.group(1)), set()).add(m.group(2))
    for rid in sorted(seen):
        meta_path = os.path.join(folder, f'held-{rid}.json')
        text_path = os.path.join(folder, f'held-{rid}.eml')
        if seen[rid] != {'json', 'eml'}:
            missing = text_path if 'eml' not in seen[rid] else meta_path
            refuse(f'{missing}: missing (held post {rid} of {name})')
        meta = read_json(meta_path)
        if field(meta_path, meta, 'id', int) != rid or meta.get('message') != f'held-{rid}.eml':
            refuse(f'{meta_path}: its id or message file is not {rid}')
        body = read_regular(text_path, MAX_MESSAGE)
        if hashlib.sha1(body).hexdigest() != field(meta_path, meta, 'sha1', str):
            refuse(f'{text_path}: not the text that was exported (its SHA-1 differs)')
        held.append({'id': rid, 'body': body, 'where': text_path,
                     'sender': field(meta_path, meta, 'sender', str),
                     'subject': field(meta_path, meta, 'subject', str),
                     'reason': field(meta_path, meta, 'reason', str),
                     'time': field(meta_path, meta, 'time', float)})
    return {'name': name, 'address': posting, 'held': held,
            'mime': field(where, info, 'mime_is_default_digest', bool),
            'subscriptions': [person(f'{where}: subscription {i + 1}', s, True)
                              for i, s in enumerate(subs)],
            'confirmations': [person(f'{where}: confirmation {i + 1}', c, False)
                              for i, c in enumerate(confs)],
            'not_carried': not_carried}


def load_export(root):
    st = os.lstat(root) if os.path.lexists(root) else None
    if st is None or not stat.S_ISDIR(st.st_mode):
        refuse(f'{root}: missing, or not a folder')
    where = os.path.join(root, 'MANIFEST.json')
    if not os.path.lexists(where):
        refuse(f'{where}: missing: the export did not finish (run export_waiting.py again)')
    manifest = read_json(where)
    if not isinstance(manifest, dict) or manifest.get('format') != FORMAT:
        refuse(f'{where}: not a {FORMAT} export')
    names = field(where, manifest, 'lists', list)
    for name in names:
        if not isinstance(name, str) or not LISTNAME.match(name):
            refuse(f'{where}: {name!r} is not a list name')
    if len(set(names)) != len(names):
        refuse(f'{where}: a list is named twice')
    export_id = field(where, manifest, 'id', str)
    if not re.fullmatch('[0-9a-f]{40}', export_id):
        refuse(f'{where}: id {export_id!r} is not an export id')
    extra = set(os.listdir(root)) - set(names) - {'MANIFEST.json'}
    if extra:
        refuse(f'{root}: {", ".join(sorted(extra))}: not in the manifest')
    items = [load_list(root, name) for name in names]
    for item in items:
        item['key'] = f'{export_id} {item["name"]}'
    return items


class Carried:
    """The lists this Mailman 3 took whole from which export (``VAR_DIR/mailman2-waiting.json``):
    a second run of the same export leaves them alone, even after the moderators decided
    some of what was carried (a post approved since would otherwise be held once more)."""

    def __init__(self, var_dir):
        self.path = os.path.join(var_dir, 'mailman2-waiting.json')
        self.done = {}
        if os.path.lexists(self.path):
            data = read_json(self.path)
            if not isinstance(data, dict):
                refuse(f'{self.path}: not what import_waiting.py writes')
            self.done = data

    def add(self, key, when):
        self.done[key] = when
        tmp = f'{self.path}.tmp.{os.getpid()}'
        with open(tmp, 'w') as fp:
            json.dump(self.done, fp, indent=1, sort_keys=True)
            fp.flush()
            os.fsync(fp.fileno())
        os.replace(tmp, self.path)


# ------------------------------------------------------------------------------ Mailman 3

class Carrier:
    """Mailman 3's side, after ``initialize``."""

    def __init__(self):
        from mailman.app.moderator import hold_message
        from mailman.config import config
        from mailman.email.message import Message
        from mailman.interfaces.address import IEmailValidator
        from mailman.interfaces.bans import IBanManager
        from mailman.interfaces.languages import ILanguageManager
        from mailman.interfaces.listmanager import IListManager
        from mailman.interfaces.mailinglist import SubscriptionPolicy
        from mailman.interfaces.member import DeliveryMode
        from mailman.interfaces.pending import IPendings
        from mailman.interfaces.requests import IListRequests, RequestType
        from mailman.interfaces.subscriptions import ISubscriptionManager
        from mailman.interfaces.usermanager import IUserManager
        from zope.component import getUtility
        self.config, self.Message, self.hold_message = config, Message, hold_message
        self.lists = getUtility(IListManager)
        self.users = getUtility(IUserManager)
        self.pendings = getUtility(IPendings)
        self.languages = getUtility(ILanguageManager)
        self.validator = getUtility(IEmailValidator)
        self.IBanManager, self.IListRequests, self.RequestType = (
            IBanManager, IListRequests, RequestType)
        self.ISubscriptionManager, self.Policy, self.DeliveryMode = (
            ISubscriptionManager, SubscriptionPolicy, DeliveryMode)

    # -- checks (nothing changed)

    def message(self, post, mlist):
        msg = email.message_from_bytes(post['body'], self.Message)
        ids = msg.get_all('message-id', [])
        if len(ids) > 1:
            refuse(f'{post["where"]}: {len(ids)} Message-ID headers (Mailman 3 stores one)')
        if not ids:
            # the same id on every run, so a second run finds the post held already
            digest = hashlib.sha256(post['body']).hexdigest()[:32]
            msg['Message-ID'] = f'<mm2-held-{digest}@{mlist.mail_host}>'
        return msg

    def waiting(self, mlist, email_address):
        """Whether a subscription request of this address waits in Mailman 3 already."""
        return any(p['email'] == email_address.lower() for _, p in
                   self.pendings.find(mlist=mlist, pend_type='subscription'))

    def member(self, mlist, email_address):
        return mlist.members.get_member(email_address) is not None

    def check(self, item):
        """Each list exists and each item can be carried as it waited: raise otherwise."""
        mlist = self.lists.get(item['address'])
        if mlist is None:
            refuse(f'{item["name"]}: no list {item["address"]} in Mailman 3 (mailman create '
                   f'and mailman import21 it first)')
        item['mlist'] = mlist
        for post in item['held']:
            post['msg'] = self.message(post, mlist)
        bans = self.IBanManager(mlist)
        policy = mlist.subscription_policy
        for sub in item['subscriptions'] + item['confirmations']:
            if not self.validator.is_valid(sub['address']):
                refuse(f'{sub["where"]}: Mailman 3 refuses the address {sub["address"]}')
            if sub['address'].lower() == mlist.posting_address.lower():
                refuse(f'{sub["where"]}: {sub["address"]} is the list\'s own address')
            if bans.is_banned(sub['address']):
                refuse(f'{sub["where"]}: {sub["address"]} is banned from {mlist.fqdn_listname}')
        for sub in item['subscriptions']:
            if policy not in (self.Policy.moderate, self.Policy.confirm_then_moderate):
                refuse(f'{sub["where"]}: {mlist.fqdn_listname} has the subscription policy '
                       f'{policy.name}: Mailman 3 would subscribe {sub["address"]} without '
                       f'the moderator')
        for sub in item['confirmations']:
            known = self.users.get_address(sub['address'])
            verified = known is not None and known.verified_on is not None
            if not sub['invitation'] and verified and policy not in (
                    self.Policy.confirm, self.Policy.confirm_then_moderate):
                refuse(f'{sub["where"]}: {mlist.fqdn_listname} has the subscription policy '
                       f'{policy.name} and {sub["address"]} is verified: Mailman 3 would not '
                       f'ask for a confirmation')

    # -- carrying (one item, one commit)

    def hold(self, mlist, post):
        msg = post['msg']
        mid = msg['message-id']
        for request in self.IListRequests(mlist).of_type(self.RequestType.held_message):
            if request.key == mid:
                return 'already held'
        self.nonmembers(mlist, msg)
        reason = f'Mailman 2: {post["reason"]}' if post['reason'] else 'Mailman 2'
        msgdata = {'listid': mlist.list_id, 'moderation_reasons': [reason],
                   'mailman2_held_at': post['time']}
        self.hold_message(mlist, msg, msgdata, reason)
        return 'held'

    def nonmembers(self, mlist, msg):
        """As Mailman 3's incoming runner and nonmember rule do for a post they hold: each
        sender is a known address and, when not a member, on the list's nonmember roster (so
        the moderator can accept, ban or always hold the sender from the held post). A sender
        the list bans stays off the roster (Mailman 3 refuses a banned address there; Mailman
        2's ban list stops subscriptions only, so it held such a post): the post is held all
        the same."""
        from mailman.interfaces.address import InvalidEmailAddressError
        from mailman.interfaces.member import MemberRole
        bans = self.IBanManager(mlist)
        for sender in msg.senders:
            if bans.is_banned(sender):
                continue
            address = self.users.get_address(sender)
            if address is None:
                try:
                    address = self.users.create_address(sender)
                except InvalidEmailAddressError:
                    continue
            if (mlist.members.get_member(sender) is None
                    and mlist.nonmembers.get_member(sender) is None):
                try:
                    mlist.subscribe(address, MemberRole.nonmember)
                except InvalidEmailAddressError:
                    pass

    def register(self, mlist, sub, moderator, mime):
        if self.member(mlist, sub['address']):
            return 'already a member'
        if self.waiting(mlist, sub['address']):
            return 'already waiting'
        address = self.users.get_address(sub['address'])
        if address is None:
            address = self.users.create_address(sub['address'], sub['realname'] or None)
            # a new address: the language chosen in Mailman 2 is its own (an address that
            # exists already keeps what its other lists gave it)
            language = self.languages.get(sub['language'])
            if language is not None and language != mlist.preferred_language:
                address.preferences.preferred_language = language
        mode = None
        if sub['digest']:
            mode = (self.DeliveryMode.mime_digests if mime
                    else self.DeliveryMode.plaintext_digests)
        manager = self.ISubscriptionManager(mlist)
        if moderator:
            token, owner, member = manager.register(
                address, pre_verified=True, pre_confirmed=True, pre_approved=False,
                delivery_mode=mode)
            want = 'moderator'
        else:
            token, owner, member = manager.register(
                address, invitation=sub['invitation'], delivery_mode=mode)
            want = 'subscriber'
        if member is not None or owner.name != want:
            refuse(f'{sub["where"]}: Mailman 3 did not make it wait for the {want} '
                   f'({owner.name})')
        return 'invited' if sub['invitation'] else 'registered'

    def carry(self, item, out, failed, carried):
        """Each item in its own transaction; one that fails is named in ``failed``. A list
        whose every item was carried is remembered in ``carried``."""
        mlist = item['mlist']
        if item['key'] in carried.done:
            out.append(f'{item["address"]}: carried whole from this export at '
                       f'{carried.done[item["key"]]}: nothing done')
            return
        failures = len(failed)
        tally = {}
        steps = [(post['where'], 'held posts', lambda p=post: self.hold(mlist, p))
                 for post in item['held']]
        for moderator, subs in ((True, item['subscriptions']), (False, item['confirmations'])):
            kind = ('subscriptions waiting for the moderator' if moderator
                    else 'subscriptions waiting for confirmation')
            steps += [(f'{sub["where"]} ({sub["address"]})', kind,
                       lambda s=sub, m=moderator: self.register(mlist, s, m, item['mime']))
                      for sub in subs]
        for where, kind, step in steps:
            try:
                what = step()
                self.config.db.commit()
            except Refused as e:
                self.config.db.abort()
                failed.append(str(e))
                continue
            except Exception as e:
                self.config.db.abort()
                failed.append(f'{where}: not carried ({e.__class__.__name__}: {e})')
                continue
            tally[f'{kind} {what}'] = tally.get(f'{kind} {what}', 0) + 1
        if len(failed) == failures:
            from mailman.utilities.datetime import now
            carried.add(item['key'], now().replace(microsecond=0).isoformat())
        parts = [f'{n} {what}' for what, n in sorted(tally.items())] or ['nothing waited']
        out.append(f'{mlist.fqdn_listname}: ' + ', '.join(parts))
        if item['confirmations']:
            out.append(f'{mlist.fqdn_listname}: each subscriber waiting for confirmation gets a '
                       f'NEW confirmation from Mailman 3 when it runs; the link Mailman 2 sent '
                       f'no longer works')
        if item['not_carried']:
            out.append(f'{mlist.fqdn_listname}: NOT carried (decided in Mailman 2 or lost): '
                       + ', '.join(f'{n} {label}'
                                   for label, n in sorted(item['not_carried'].items())))


def main(argv):
    parser = argparse.ArgumentParser(
        prog='import_waiting.py',
        description='Hold again in Mailman 3 what waited in Mailman 2 (export_waiting.py).')
    parser.add_argument('-C', '--config', help="Mailman 3's mailman.cfg")
    parser.add_argument('--run-as-root', action='store_true',
                        help='run as root (the files it writes must be readable by Mailman)')
    parser.add_argument('--skip-confirmations', action='store_true',
                        help='send no new confirmation for the subscriptions that waited for '
                             "the subscriber's (a list flooded by bots' requests): they are "
                             'counted as not carried')
    parser.add_argument('--list', action='append', default=[], metavar='NAME=ADDRESS',
                        help="the list NAME of Mailman 2 is ADDRESS in Mailman 3 (repeatable; "
                             "default: NAME@ the host name Mailman 2 gave it)")
    parser.add_argument('export', help='the folder export_waiting.py wrote')
    args = parser.parse_args(argv)
    if os.geteuid() == 0 and not args.run_as_root:
        refuse("run it as Mailman 3's user (the held posts go into its message store), "
               "or give --run-as-root")
    items = load_export(args.export)
    moved = {}
    for pair in args.list:
        name, _, posting = pair.partition('=')
        if not LISTNAME.match(name) or not ADDRESS.match(posting) or CONTROL.search(posting):
            refuse(f'--list {pair!r}: not NAME=LIST@DOMAIN')
        moved[name] = posting.lower()
    for item in items:
        item['address'] = moved.get(item['name'], item['address'])
    if args.skip_confirmations:
        for item in items:
            if item['confirmations']:
                label = 'subscriptions waiting for confirmation (--skip-confirmations)'
                item['not_carried'][label] = len(item['confirmations'])
                item['confirmations'] = []
    from mailman.core.initialize import initialize
    try:
        initialize(args.config)
    except Exception as e:  # a bad or absent configuration
        refuse(f'Mailman 3 did not start ({e.__class__.__name__}: {e})')
    carrier = Carrier()
    carried = Carried(carrier.config.VAR_DIR)
    for item in items:
        if item['key'] not in carried.done:
            carrier.check(item)
        else:
            item['mlist'] = carrier.lists.get(item['address'])
    out, failed = [], []
    for item in items:
        carrier.carry(item, out, failed, carried)
    for line in out:
        print(line)
    if failed:
        refuse(f'{len(failed)} item(s) NOT carried:\n  ' + '\n  '.join(failed))


if __name__ == '__main__':
    try:
        main(sys.argv[1:])
    except Refused as e:
        print(f'import_waiting: {e}', file=sys.stderr)
        sys.exit(1)
