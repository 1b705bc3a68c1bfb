"""Nothing waiting is lost between the real Mailman 2.1 and the real Mailman 3 (issue 27).

``mailman import21`` reads only config.pck. On a real Mailman 2 list (``mailmantools``, run in
a private var tree as in test_mailman_real.py) the test makes what waits there through Mailman's
own code paths: a nonmember's post and a moderated member's post held by the incoming runner
(``bin/inject`` + ``bin/qrunner -r Incoming -o``), a post held as text without a Message-ID
(``HoldMessage`` with HOLD_MESSAGES_AS_PICKLES off), a subscription that waits for the moderator
(``subscribe_policy`` 3: requested, then confirmed), three that wait for the subscriber's
confirmation (one in German, one an invitation), and an unsubscription waiting for the
moderator (not carried). Then ``emitters/mailman3/scripts/export_waiting.py`` runs with Mailman
2's own Python 2, the list is made in a real Mailman 3 (``mm3tools.Mailman3``: ``create`` +
``import21``), and ``import_waiting.py`` runs with Mailman 3's Python. Mailman 3's own objects
(held requests, pendings, workflow states, the nonmember roster, the virgin queue) are read
before and after the import: before, none of it is there, so every assertion on "after" fails
without the import. Then Mailman 3 is used as its moderators would: ``mailman notify``, the REST
listing Postorius reads, approving the posts, confirming and approving the subscriptions.

The digest half proves the freeze step's premise: a post collected in ``digest.mbox`` goes out
when ``cron/senddigests`` runs (the digest lands in ``qfiles/out`` addressed to the digest
member, digest.mbox is gone), except on a list with ``digest_send_periodic`` off, which
senddigests skips; ``bin/withlist`` sends that one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from conftest import REPO
from mailmantools import mailman_build, python_of
from mm3tools import VENV, Mailman3, mailman3_bin
from test_mailman_real import MailmanVar

SCRIPTS = REPO / "emitters" / "mailman3" / "scripts"
EXPORT = SCRIPTS / "export_waiting.py"
IMPORT = SCRIPTS / "import_waiting.py"
HOST = "lists.waiting.example"
LIST = "waiting"
ADDRESS = f"{LIST}@{HOST}"
#: The passwords subscribers chose in Mailman 2: none may reach the export.
PASSWORDS = ("Dave-chose-this-1", "Carol-chose-this-2", "list-admin-secret-3",
             "Jurgen-chose-this-4", "Ivan-was-given-5")

#: Python 2, Mailman 2's side: ``withlist -l -r mm2waiting.FUNC LIST ARGS``.
MM2_HELPER = textwrap.dedent('''\
    import cPickle, json, os
    from Mailman import mm_cfg, Errors, Pending
    from Mailman.UserDesc import UserDesc

    def subscribe(mlist, addr, name, password, digest, lang='en'):
        """A subscription request as the web page makes it (the name made unicode as
        Utils.canonstr does)."""
        try:
            mlist.AddMember(UserDesc(addr, unicode(name, 'utf-8'), password, int(digest),
                                     lang))
        except (Errors.MMSubscribeNeedsConfirmation, Errors.MMNeedApproval):
            pass
        mlist.Save()

    def confirm(mlist, addr):
        """The subscriber follows the confirmation link: with policy 3 it then waits for the
        moderator."""
        db = mlist._Pending__load()
        for cookie, data in db.items():
            if cookie in ('evictions', 'version') or data[0] != Pending.SUBSCRIPTION:
                continue
            if data[1].address == addr:
                try:
                    mlist.ProcessConfirmation(cookie)
                except Errors.MMNeedApproval:
                    pass
        mlist.Save()

    def invite(mlist, addr, name, password):
        mlist.InviteNewMember(UserDesc(addr, name, password, 0, 'en'))
        mlist.Save()

    def hold_as_text(mlist, path):
        """A post held by a Mailman set to keep held posts as text (HOLD_MESSAGES_AS_PICKLES
        = No: data/heldmsg-LIST-ID.txt), through ListAdmin.HoldMessage itself."""
        import email
        from Mailman import Message
        mm_cfg.HOLD_MESSAGES_AS_PICKLES = 0
        fp = open(path)
        msg = email.message_from_file(fp, Message.Message)
        fp.close()
        mlist.HoldMessage(msg, 'Held as text by an older setup')
        mlist.Save()

    def moderate(mlist, addr):
        mlist.setMemberOption(addr, mm_cfg.Moderate, 1)
        mlist.Save()

    def hold_unsubscription(mlist, addr):
        mlist.HoldUnsubscription(addr)
        mlist.Save()

    def show(mlist):
        """What waits: held posts (sender, Message-ID), subscriptions, pending cookies."""
        from Mailman.ListAdmin import readMessage
        held = []
        for rid in mlist.GetHeldMessageIds():
            when, sender, subject, reason, filename, msgdata = mlist.GetRecord(rid)
            msg = readMessage(os.path.join(mm_cfg.DATA_DIR, filename))
            held.append({"id": rid, "sender": sender, "reason": reason, "subject": subject,
                         "message_id": msg["message-id"], "file": filename})
        subs = [mlist.GetRecord(r)[1] for r in mlist.GetSubscriptionIds()]
        db = mlist._Pending__load()
        pending = dict((c, d[1].address) for c, d in db.items()
                       if c not in ('evictions', 'version') and d[0] == 'S')
        print json.dumps({"held": held, "subscriptions": subs, "pending": pending,
                          "unsubscriptions": len(mlist.GetUnsubscriptionIds())})

    def queue(mlist, name):
        """The messages in qfiles/NAME: recipients and the message's headers."""
        folder = os.path.join(mm_cfg.QUEUE_DIR, name)
        out = []
        for f in sorted(os.listdir(folder)):
            fp = open(os.path.join(folder, f), 'rb')
            msg = cPickle.load(fp)
            data = cPickle.load(fp)
            fp.close()
            if isinstance(msg, str):
                import email
                msg = email.message_from_string(msg)
            out.append({"recips": list(data.get("recips", [])),
                        "listname": data.get("listname"), "isdigest": data.get("isdigest"),
                        "subject": str(msg["subject"]),
                        "text": "".join([part.get_payload(decode=True) or ""
                                         for part in msg.walk()
                                         if not part.is_multipart()])})
        print json.dumps(out)
''')

#: Python 3, Mailman 3's side: ``mailman withlist -l LIST -r mm3waiting.FUNC``.
MM3_PROBE = textwrap.dedent('''\
    import json, os, pickle

    from zope.component import getUtility
    from mailman.app.moderator import handle_message
    from mailman.config import config
    from mailman.interfaces.action import Action
    from mailman.interfaces.pending import IPendings
    from mailman.interfaces.mailinglist import SubscriptionPolicy
    from mailman.interfaces.requests import IListRequests, RequestType
    from mailman.interfaces.usermanager import IUserManager
    from mailman.model.workflow import WorkflowState


    def queue(name):
        folder = config.switchboards[name].queue_directory
        out = []
        for f in sorted(os.listdir(folder)):
            with open(os.path.join(folder, f), "rb") as fp:
                msg = pickle.load(fp)
                data = pickle.load(fp)
            body = "".join(part.get_payload(decode=True).decode("utf-8", "replace")
                           for part in msg.walk() if not part.is_multipart())
            out.append({"to": msg["to"], "subject": str(msg["subject"]),
                        "message_id": msg["message-id"], "listid": data.get("listid"),
                        "text": msg.as_string(), "body": body})
        return out


    def show(mlist):
        requests = IListRequests(mlist)
        held = []
        for r in requests.of_type(RequestType.held_message):
            key, data = requests.get_request(r.id)
            held.append({"message_id": key, "sender": data["_mod_sender"],
                         "reason": data["_mod_reason"], "subject": data["_mod_subject"]})
        subs = []
        for token, p in getUtility(IPendings).find(mlist=mlist, pend_type="subscription"):
            state = config.db.store.query(WorkflowState).get(token)
            language = getUtility(IUserManager).get_address(
                p["email"]).preferences.preferred_language
            subs.append({"token": token, "email": p["email"], "owner": p["token_owner"],
                         "name": p["display_name"],
                         "language": language.code if language else None,
                         "state": json.loads(state.data) if state else None})
        nonmembers = sorted(m.address.email for m in mlist.nonmembers.members)
        print(json.dumps({"held": held, "subscriptions": sorted(subs, key=lambda s: s["email"]),
                          "nonmembers": nonmembers,
                          "virgin": queue("virgin"), "pipeline": queue("pipeline")}))


    def rest_held(mlist):
        """GET /3.1/lists/ID/held through Mailman 3's REST application (what Postorius asks)."""
        import base64
        from falcon.testing import TestClient
        from mailman.rest.wsgiapp import make_application
        app = make_application()

        def wsgi(environ, start_response):
            return app(environ, start_response)

        user, password = config.webservice.admin_user, config.webservice.admin_pass
        auth = base64.b64encode(f"{user}:{password}".encode()).decode()
        r = TestClient(wsgi).simulate_get(f"/3.1/lists/{mlist.list_id}/held",
                                          headers={"Authorization": f"Basic {auth}"})
        print(json.dumps({"status": r.status_code, "json": r.json if r.status_code == 200
                          else None}))


    def complete(mlist):
        """Carol follows her new confirmation link; the moderator approves Dave."""
        from mailman.interfaces.subscriptions import ISubscriptionManager
        manager = ISubscriptionManager(mlist)
        tokens = {p["email"]: t for t, p in
                  getUtility(IPendings).find(mlist=mlist, pend_type="subscription")}
        out = {}
        for email in ("carol@lists.waiting.example", "dave@lists.waiting.example"):
            token, owner, member = manager.confirm(tokens[email])
            out[email] = {"owner": owner.name, "member": member is not None,
                          "mode": member.delivery_mode.name if member else None}
        config.db.commit()
        print(json.dumps(out))


    def policy(mlist, name):
        mlist.subscription_policy = SubscriptionPolicy[name]
        config.db.commit()


    def approve(mlist):
        requests = IListRequests(mlist)
        # (list() of the query sequence asks its len(), which fails with these pins)
        for rid in [r.id for r in requests.of_type(RequestType.held_message)]:
            handle_message(mlist, rid, Action.accept)
        config.db.commit()
        print(json.dumps({"pipeline": queue("pipeline")}))
''')


class Var(MailmanVar):
    """The private var tree, with the helper module beside the probe's."""

    def py2(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """Mailman 2's Python in the var tree's namespace (``run`` takes an absolute path)."""
        return self.run(str(python_of("plain")), *args, check=check)

    def call(self, func: str, *args: str, lock: bool = True, name: str = LIST) -> str:
        opts = ["-q", "-l"] if lock else ["-q"]
        out = self.run("withlist", *opts, "-r", f"mm2waiting.{func}", name, *args)
        return out.stdout.decode("latin-1")

    def drain_virgin(self) -> None:
        """``qrunner -r Virgin -o`` until qfiles/virgin is empty (one pass may leave a file
        that was queued while it listed the folder)."""
        for _ in range(5):
            if not any((self.root / "qfiles" / "virgin").iterdir()):
                return
            self.run("qrunner", "-r", "Virgin", "-o")
        raise AssertionError("qfiles/virgin still holds files after 5 passes")

    def post(self, sender: str, message_id: str, subject: str, name: str = LIST) -> None:
        text = (f"From: {sender}\nTo: {name}@{HOST}\nSubject: {subject}\n"
                f"Message-ID: {message_id}\nDate: Mon, 07 Dec 2026 10:00:00 +0000\n\n"
                f"{subject}: the body.\nFrom the start of a line.\n")
        self.run("inject", "-l", name, input=text)
        self.run("qrunner", "-r", "Incoming", "-o")


def new_list(var: Var, name: str, settings: str) -> None:
    var.run("newlist", "-q", "-u", HOST, "-e", HOST, name, f"owner@{HOST}", PASSWORDS[2])
    path = var.root / f"{name}.cfg"
    path.write_text(settings)
    var.run("config_list", "-i", str(path), name)


def mm3_show(mm3: Mailman3, func: str = "show", address: str = ADDRESS) -> dict:
    out = mm3.run("withlist", "-l", address, "-r", f"mm3waiting.{func}").stdout
    return json.loads([ln for ln in out.splitlines() if ln.startswith("{")][-1])


def import_waiting(mm3: Mailman3, export: Path, *options: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(VENV / "bin" / "python"), str(IMPORT), "-C", str(mm3.config),
                           "--run-as-root", *options, str(export)], capture_output=True, text=True,
                          timeout=300, env=dict(os.environ, LANG="C.UTF-8"))


def fresh_mm3(folder: Path, mm2: dict) -> Mailman3:
    mm3 = Mailman3(folder)
    (folder / "mm3waiting.py").write_text(MM3_PROBE)
    mm3.create(ADDRESS)
    mm3.import21(ADDRESS, mm2["pickle"])
    return mm3


# ------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def mm2(tmp_path_factory) -> dict:
    """A real Mailman 2 list with held posts, a subscription for the moderator, a pending
    confirmation and an unsubscription request; and the export of it."""
    build = mailman_build("plain")
    helpers = tmp_path_factory.mktemp("mm2helpers")
    (helpers / "mm2waiting.py").write_text(MM2_HELPER)
    root = tmp_path_factory.mktemp("mm2var")
    var = Var(build, root, helpers)
    new_list(var, LIST, "subscribe_policy = 3\ngeneric_nonmember_action = 1\n"
                        "member_moderation_action = 0\n"
                        "ban_list = ['spammer@elsewhere.example']\n")
    var.run("add_members", "-r", "-", "-w", "n", "-a", "n", LIST,
            input=f"Alice Member <alice@{HOST}>\nmoderated@{HOST}\n")
    var.call("moderate", f"moderated@{HOST}")
    var.post("Outsider <outsider@elsewhere.example>", "<held-nonmember@elsewhere.example>",
             "Nonmember post")
    var.post(f"moderated@{HOST}", f"<held-moderated@{HOST}>", "Moderated member post")
    # Mailman 2's ban list stops subscriptions, not posts: a banned nonmember's post is held
    var.post("spammer@elsewhere.example", "<held-banned@elsewhere.example>", "Banned post")
    text = root.parent / f"{root.name}-no-message-id.eml"
    text.write_text(f"From: Late Poster <late@elsewhere.example>\nTo: {ADDRESS}\n"
                    "Subject: No Message-ID here,\n and a folded subject\n\nHeld as text.\n")
    var.call("hold_as_text", str(text))
    var.call("subscribe", f"dave@{HOST}", "Dave Digest", PASSWORDS[0], "1")
    var.call("confirm", f"dave@{HOST}")
    var.call("subscribe", f"carol@{HOST}", "Carol Pending", PASSWORDS[1], "0")
    var.call("subscribe", f"jurgen@{HOST}", "J\u00fcrgen M\u00fcller", PASSWORDS[3], "0", "de")
    var.call("invite", f"ivan@{HOST}", "Ivan Invited", PASSWORDS[4])
    var.call("hold_unsubscription", f"alice@{HOST}")
    state = json.loads(var.call("show").strip().splitlines()[-1])
    export = root.parent / f"{root.name}-export"
    proc = var.py2(str(EXPORT), str(build), str(export), LIST, check=False)
    return {"var": var, "build": build, "state": state, "export": export, "proc": proc,
            "pickle": root / "lists" / LIST / "config.pck"}


@pytest.fixture(scope="module")
def carried(mm2, tmp_path_factory) -> dict:
    """The list in Mailman 3 (create + import21), before and after import_waiting.py, and
    after a second run of it."""
    assert mm2["proc"].returncode == 0, mm2["proc"].stderr.decode()
    mm3 = fresh_mm3(tmp_path_factory.mktemp("mm3"), mm2)
    before = mm3_show(mm3)
    first = import_waiting(mm3, mm2["export"])
    after = mm3_show(mm3)
    second = import_waiting(mm3, mm2["export"])
    again = mm3_show(mm3)
    # without the record of what was carried, a run finds each item waiting already
    (mm3.var / "mailman2-waiting.json").unlink()
    third = import_waiting(mm3, mm2["export"])
    thrice = mm3_show(mm3)
    return {"mm3": mm3, "before": before, "first": first, "after": after, "second": second,
            "again": again, "third": third, "thrice": thrice}


# ---------------------------------------------------------------------------- the export


def test_mailman2_really_holds_what_the_test_made(mm2):
    state = mm2["state"]
    assert sorted((h["message_id"] or "", h["file"].rsplit(".")[-1]) for h in state["held"]) == [
        ("", "txt"), ("<held-banned@elsewhere.example>", "pck"),
        (f"<held-moderated@{HOST}>", "pck"), ("<held-nonmember@elsewhere.example>", "pck")]
    assert [s for s in state["subscriptions"]] == [f"dave@{HOST}"]
    assert sorted(state["pending"].values()) == [f"carol@{HOST}", f"ivan@{HOST}",
                                                 f"jurgen@{HOST}"]
    assert state["unsubscriptions"] == 1


def test_export_writes_each_item_and_no_password(mm2):
    export: Path = mm2["export"]
    out = mm2["proc"].stdout.decode()
    assert (f"{LIST}: 4 held posts, 1 subscriptions waiting for the moderator, 3 waiting for "
            "confirmation; NOT carried: 3 held post cancel links, 1 unsubscription requests "
            "waiting for the moderator" in out)
    files = sorted(p.relative_to(export).as_posix() for p in export.rglob("*"))
    ids = sorted(h["id"] for h in mm2["state"]["held"])
    assert files == sorted(["MANIFEST.json", LIST, f"{LIST}/requests.json"]
                           + [f"{LIST}/held-{i}.{x}" for i in ids for x in ("eml", "json")])
    everything = b"".join(p.read_bytes() for p in export.rglob("*") if p.is_file())
    for password in PASSWORDS:
        assert password.encode() not in everything
    for path in export.rglob("*"):
        assert path.stat().st_mode & 0o077 == 0, path  # held posts are private
    requests = json.loads((export / LIST / "requests.json").read_text())
    assert requests["subscriptions"][0] | {"time": 0} == {
        "id": requests["subscriptions"][0]["id"], "time": 0, "address": f"dave@{HOST}",
        "realname": "Dave Digest", "digest": True, "language": "en"}
    confirmations = {(c["address"], c["realname"], c["digest"], c["language"], c["invitation"])
                     for c in requests["confirmations"]}
    assert confirmations == {(f"carol@{HOST}", "Carol Pending", False, "en", False),
                             (f"jurgen@{HOST}", "J\u00fcrgen M\u00fcller", False, "de", False),
                             (f"ivan@{HOST}", "Ivan Invited", False, "en", True)}
    by_id = {h["message_id"]: h for h in mm2["state"]["held"]}
    held = by_id["<held-nonmember@elsewhere.example>"]
    meta = json.loads((export / LIST / f"held-{held['id']}.json").read_text())
    assert (meta["sender"], meta["reason"]) == ("outsider@elsewhere.example", held["reason"])
    text = (export / LIST / f"held-{held['id']}.eml").read_text()
    assert "Message-ID: <held-nonmember@elsewhere.example>" in text
    assert "\nFrom the start of a line." in text  # as stored: no >From mangling
    # a post Mailman kept as text is copied byte for byte; its folded subject is one line in
    # the metadata
    as_text = next(h for h in mm2["state"]["held"] if h["file"].endswith(".txt"))
    meta = json.loads((export / LIST / f"held-{as_text['id']}.json").read_text())
    assert meta["subject"] == "No Message-ID here, and a folded subject"
    assert (export / LIST / f"held-{as_text['id']}.eml").read_bytes() == (
        mm2["var"].root / "data" / as_text["file"]).read_bytes()


def test_export_refuses_what_it_cannot_do(mm2, tmp_path):
    var, build = mm2["var"], mm2["build"]
    cases = [([str(build), str(tmp_path / "e1"), "../etc"], "is not a Mailman 2 list name"),
             ([str(build), str(tmp_path / "e2"), "nosuchlist"], "no list nosuchlist"),
             ([str(build), str(mm2["export"]), LIST], "exists already"),
             ([str(tmp_path), str(tmp_path / "e3"), LIST], "is not a Mailman 2 prefix")]
    for args, reason in cases:
        proc = var.py2(str(EXPORT), *args, check=False)
        err = proc.stderr.decode()
        assert proc.returncode == 1 and reason in err and len(err.splitlines()) == 1, err
    # a list whose request database Mailman cannot read: one line, and no half export left
    new_list(var, "broken", "")
    (var.root / "lists" / "broken" / "request.pck").write_bytes(b"\x80\x02garbage")
    proc = var.py2(str(EXPORT), str(build), str(tmp_path / "e4"), LIST, "broken", check=False)
    err = proc.stderr.decode()
    assert proc.returncode == 1 and len(err.splitlines()) == 1, err
    assert err.startswith("export_waiting: ") and "(the partial export was removed)" in err
    assert not (tmp_path / "e4").exists()


# ------------------------------------------------------------------------------ Mailman 3


def test_held_posts_are_held_again(carried, mm2):
    assert carried["first"].returncode == 0, carried["first"].stderr
    assert carried["before"]["held"] == []
    mm2_held = {h["subject"]: h for h in mm2["state"]["held"]}
    held = {h["subject"]: h for h in carried["after"]["held"]}
    folded = "No Message-ID here,\n and a folded subject"
    assert set(held) == set(mm2_held) == {"Nonmember post", "Moderated member post", folded,
                                          "Banned post"}
    for subject, h in held.items():
        assert h["sender"] == mm2_held[subject]["sender"]
        assert h["reason"] == f"Mailman 2: {mm2_held[subject]['reason']}"
        if mm2_held[subject]["message_id"]:
            assert h["message_id"] == mm2_held[subject]["message_id"]
    # a post without one gets a Message-ID made from its text (the same on every run)
    assert re.fullmatch(rf"<mm2-held-[0-9a-f]{{32}}@{re.escape(HOST)}>",
                        held[folded]["message_id"])
    # the sender is on the nonmember roster, as when Mailman 3 holds a nonmember's post
    assert "outsider@elsewhere.example" not in carried["before"]["nonmembers"]
    assert "outsider@elsewhere.example" in carried["after"]["nonmembers"]
    # but for a sender the list bans (Mailman 3 refuses a banned address on a roster): the
    # post is held all the same
    assert "spammer@elsewhere.example" not in carried["after"]["nonmembers"]
    assert f"{LIST}@{HOST}: 4 held posts held" in carried["first"].stdout


def test_moderator_subscription_waits_for_the_moderator_again(carried, mm2):
    assert not [s for s in carried["before"]["subscriptions"]]
    requests = json.loads((mm2["export"] / LIST / "requests.json").read_text())
    # Mailman 2.1's default (DEFAULT_MIME_IS_DEFAULT_DIGEST = No): a digest member gets
    # plain-text digests (ApprovedAddMember sets DisableMime); import21 drops the setting
    assert requests["mime_is_default_digest"] is False
    subs = {s["email"]: s for s in carried["after"]["subscriptions"]}
    dave = subs[f"dave@{HOST}"]
    assert dave["owner"] == "moderator" and dave["name"] == "Dave Digest"
    assert dave["state"]["delivery_mode"] == "plaintext_digests"  # the digest flag, kept
    assert dave["state"]["pre_confirmed"] and dave["state"]["pre_verified"]
    assert not dave["state"]["pre_approved"]


def test_pending_confirmation_gets_a_new_confirmation(carried, mm2):
    subs = {s["email"]: s for s in carried["after"]["subscriptions"]}
    carol = subs[f"carol@{HOST}"]
    assert carol["owner"] == "subscriber" and carol["name"] == "Carol Pending"
    assert carol["token"] not in mm2["state"]["pending"]  # the old cookies are dead
    # the new confirmation waits in the virgin queue for Mailman 3's runners
    before = [m for m in carried["before"]["virgin"] if f"carol@{HOST}" in m["to"]]
    sent = [m for m in carried["after"]["virgin"] if f"carol@{HOST}" in m["to"]]
    assert not before and len(sent) == 1 and carol["token"] in sent[0]["text"]
    assert "NEW confirmation" in carried["first"].stdout
    # the name and language the subscriber chose in Mailman 2
    jurgen = subs[f"jurgen@{HOST}"]
    assert (jurgen["owner"], jurgen["name"], jurgen["language"]) == (
        "subscriber", "J\u00fcrgen M\u00fcller", "de")
    assert [m for m in carried["after"]["virgin"] if f"jurgen@{HOST}" in m["to"]]


def test_an_invitation_is_sent_again(carried):
    ivan = {s["email"]: s for s in carried["after"]["subscriptions"]}[f"ivan@{HOST}"]
    assert ivan["owner"] == "subscriber" and ivan["state"]["invitation"] is True
    sent = [m for m in carried["after"]["virgin"] if f"ivan@{HOST}" in m["to"]]
    assert len(sent) == 1 and "invited" in sent[0]["subject"]
    assert "1 unsubscription requests waiting for the moderator" in carried["first"].stdout


def test_a_second_run_changes_nothing(carried):
    second, third = carried["second"], carried["third"]
    assert second.returncode == 0, second.stderr
    assert f"{ADDRESS}: carried whole from this export at " in second.stdout
    assert third.returncode == 0, third.stderr
    assert "4 held posts already held" in third.stdout
    assert "1 subscriptions waiting for the moderator already waiting" in third.stdout
    assert "3 subscriptions waiting for confirmation already waiting" in third.stdout
    after = carried["after"]
    for run in ("again", "thrice"):
        assert carried[run]["held"] == after["held"]
        assert carried[run]["subscriptions"] == after["subscriptions"]
        assert len(carried[run]["virgin"]) == len(after["virgin"])


def test_the_moderators_are_told_by_mailman_notify(carried):
    """``mailman notify`` (Mailman 3's checkdbs) lists what the import carried for the list's
    moderators, whose Mailman 2 admindb links no longer work."""
    before = {m["message_id"] for m in mm3_show(carried["mm3"])["virgin"]}
    carried["mm3"].run("notify", "-l", ADDRESS)
    notices = [m for m in mm3_show(carried["mm3"])["virgin"] if m["message_id"] not in before]
    assert len(notices) == 1, notices
    assert "5 moderation requests waiting" in notices[0]["subject"]
    body = notices[0]["body"]
    for who in ("outsider@elsewhere.example", f"moderated@{HOST}", "late@elsewhere.example",
                f"dave@{HOST}"):
        assert who in body, body


def test_the_carried_posts_are_listed_for_postorius(carried):
    """Postorius shows a list's held posts from Mailman 3's REST API (500 with SQLAlchemy 2.1:
    the lock file pins 2.0)."""
    answer = mm3_show(carried["mm3"], "rest_held")
    assert answer["status"] == 200
    held = {e["message_id"] for e in answer["json"]["entries"]}
    assert held == {h["message_id"] for h in carried["after"]["held"]}


def test_an_approved_carried_post_goes_to_the_list(carried, mm2):
    """The moderator approves in Mailman 3: the post enters the list's pipeline like any
    post Mailman 3 held itself (its metadata names the list)."""
    before = mm3_show(carried["mm3"])
    assert before["pipeline"] == []
    approved = mm3_show(carried["mm3"], "approve")["pipeline"]
    assert sorted(m["message_id"] for m in approved) == sorted(
        h["message_id"] for h in before["held"])
    assert {m["listid"] for m in approved} == {f"{LIST}.{HOST}"}
    assert mm3_show(carried["mm3"])["held"] == []
    # the same export once more: the decided posts are not held again
    proc = import_waiting(carried["mm3"], mm2["export"])
    assert proc.returncode == 0 and "carried whole from this export" in proc.stdout
    assert mm3_show(carried["mm3"])["held"] == []


def test_the_carried_requests_complete(carried):
    """The new confirmation works, and then (the list confirms and moderates, as Mailman 2's
    policy 3) the subscription waits for the moderator; the moderator's approval subscribes
    Dave with the digest he asked Mailman 2 for."""
    done = mm3_show(carried["mm3"], "complete")
    assert done[f"carol@{HOST}"] == {"owner": "moderator", "member": False, "mode": None}
    assert done[f"dave@{HOST}"] == {"owner": "no_one", "member": True,
                                    "mode": "plaintext_digests"}


# ----------------------------------------------------------------------------- bad exports


def _newline_address(export: Path) -> None:
    path = export / LIST / "requests.json"
    data = json.loads(path.read_text())
    data["subscriptions"][0]["address"] = f"dave@{HOST}\nBcc: x@evil.example"
    path.write_text(json.dumps(data))


def _missing_message(export: Path) -> None:
    next((export / LIST).glob("held-*.eml")).unlink()


def _fifo(export: Path) -> None:
    path = next((export / LIST).glob("held-*.eml"))
    path.unlink()
    os.mkfifo(path)


def _tampered(export: Path) -> None:
    path = next((export / LIST).glob("held-*.eml"))
    path.write_bytes(path.read_bytes().replace(b"the body", b"another body"))


def _unfinished(export: Path) -> None:
    (export / "MANIFEST.json").unlink()


def _symlink(export: Path) -> None:
    path = export / LIST / "requests.json"
    path.unlink()
    path.symlink_to("/etc/passwd")


def _no_list(export: Path) -> None:
    path = export / LIST / "requests.json"
    data = json.loads(path.read_text())
    data["address"] = f"other@{HOST}"
    path.write_text(json.dumps(data))


def _list_address(export: Path) -> None:
    path = export / LIST / "requests.json"
    data = json.loads(path.read_text())
    data["confirmations"][0]["address"] = ADDRESS.upper()
    path.write_text(json.dumps(data))


BAD = [(_newline_address, "holds a control character"), (_missing_message, "missing (held post"),
       (_fifo, "not a regular file"), (_tampered, "SHA-1 differs"),
       (_unfinished, "the export did not finish"), (_symlink, "cannot open it"),
       (_no_list, "no list other@"), (_list_address, "is the list's own address")]


def test_bad_exports_are_refused_with_nothing_imported(mm2, tmp_path):
    assert mm2["proc"].returncode == 0
    mm3 = fresh_mm3(tmp_path / "mm3", mm2)
    for spoil, reason in BAD:
        export = tmp_path / spoil.__name__
        shutil.copytree(mm2["export"], export, symlinks=True)
        spoil(export)
        proc = import_waiting(mm3, export)
        assert proc.returncode == 1, (spoil.__name__, proc.stdout, proc.stderr)
        assert reason in proc.stderr and "Traceback" not in proc.stderr, (spoil.__name__,
                                                                           proc.stderr)
    # a good export, but a list whose Mailman 3 policy would subscribe without the moderator
    mm3.run("withlist", "-l", ADDRESS, "-r", "mm3waiting.policy", "open")
    proc = import_waiting(mm3, mm2["export"])
    assert proc.returncode == 1 and (
        f"has the subscription policy open: Mailman 3 would subscribe dave@{HOST} without the "
        "moderator") in proc.stderr, proc.stderr
    state = mm3_show(mm3)
    assert state["held"] == [] and state["subscriptions"] == [] and state["virgin"] == []
    # the same export, the policy back, no new confirmations wanted (a list bots flooded)
    mm3.run("withlist", "-l", ADDRESS, "-r", "mm3waiting.policy", "confirm_then_moderate")
    proc = import_waiting(mm3, mm2["export"], "--skip-confirmations")
    assert proc.returncode == 0, proc.stderr
    assert "3 subscriptions waiting for confirmation (--skip-confirmations)" in proc.stdout
    state = mm3_show(mm3)
    assert len(state["held"]) == 4
    # only the moderators' notice of Dave's request (admin_immed_notify), nothing to a subscriber
    assert [m["to"] for m in state["virgin"]] == [f"{LIST}-owner@{HOST}"]
    assert [(s["email"], s["owner"]) for s in state["subscriptions"]] == [
        (f"dave@{HOST}", "moderator")]


def test_a_list_at_another_domain_in_mailman3_is_named_with_list(mm2, tmp_path):
    """The plan gives a list whose Mailman 2 host name does not move another domain in
    Mailman 3 and says so with --list NAME=ADDRESS: the posts are held for that list; a
    malformed pair is refused before anything changes."""
    assert mm2["proc"].returncode == 0
    other = f"{LIST}@moved.example"
    mm3 = Mailman3(tmp_path / "mm3")
    (tmp_path / "mm3" / "mm3waiting.py").write_text(MM3_PROBE)
    mm3.create(other)
    mm3.import21(other, mm2["pickle"])
    bad = import_waiting(mm3, mm2["export"], "--list", f"{LIST}=no address")
    assert bad.returncode == 1 and "not NAME=LIST@DOMAIN" in bad.stderr, bad.stderr
    without = import_waiting(mm3, mm2["export"])
    assert without.returncode == 1 and f"no list {ADDRESS} in Mailman 3" in without.stderr
    assert mm3_show(mm3, address=other)["held"] == []
    proc = import_waiting(mm3, mm2["export"], "--list", f"{LIST}={other}")
    assert proc.returncode == 0, proc.stderr
    assert len(mm3_show(mm3, address=other)["held"]) == 4


def test_root_is_refused_without_the_flag(mm2):
    """Files root writes into Mailman 3's message store would be unreadable by its runners."""
    mailman3_bin()
    if os.geteuid() != 0:
        pytest.skip("the root check needs root")
    proc = subprocess.run([str(VENV / "bin" / "python"), str(IMPORT), str(mm2["export"])],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "Mailman 3's user" in proc.stderr


# --------------------------------------------------------------------------------- digests


def test_senddigests_sends_the_collected_digest(tmp_path):
    """cron/senddigests sends what digest.mbox collected (to qfiles/virgin, and the virgin
    runner puts it in qfiles/out for the digest member); a list with digest_send_periodic off
    is skipped by it, and ``bin/withlist`` sends that one."""
    build = mailman_build("plain")
    helpers = tmp_path / "helpers"
    helpers.mkdir()
    (helpers / "mm2waiting.py").write_text(MM2_HELPER)
    var = Var(build, tmp_path / "var", helpers)
    for name, periodic in (("digests", 1), ("manual", 0)):
        new_list(var, name, f"digestable = 1\ndigest_send_periodic = {periodic}\n"
                            "digest_size_threshhold = 0\n")
        var.run("add_members", "-r", "-", "-w", "n", "-a", "n", name, input=f"poster@{HOST}\n")
        var.run("add_members", "-d", "-", "-w", "n", "-a", "n", name, input=f"reader@{HOST}\n")
        var.post(f"poster@{HOST}", f"<digest-{name}@{HOST}>", f"Collected in {name}", name)
    mbox = {n: var.root / "lists" / n / "digest.mbox" for n in ("digests", "manual")}
    assert all(p.stat().st_size > 0 for p in mbox.values())
    # the export names a digest in progress as not carried, until it is sent
    proc = var.py2(str(EXPORT), str(build), str(tmp_path / "e1"), "digests")
    assert "NOT carried: 1 posts collected for the next digest (send it first: " \
           "cron/senddigests)" in proc.stdout.decode()
    # the regular copies went out with the posts: leave only what the digests add
    for f in (var.root / "qfiles" / "out").iterdir():
        f.unlink()
    var.run("../cron/senddigests")
    assert not mbox["digests"].exists() and mbox["manual"].stat().st_size > 0
    proc = var.py2(str(EXPORT), str(build), str(tmp_path / "e2"), "digests")
    assert "NOT carried" not in proc.stdout.decode()
    var.drain_virgin()
    out = json.loads(var.call("queue", "out", lock=False, name="digests").strip().splitlines()[-1])
    # ToDigest queues a MIME and an RFC 1153 digest, each for the members who take that kind
    # (add_members gives a new digest member the list's default, plain text in 2.1.26)
    digests = [m for m in out if m["isdigest"] and m["recips"]]
    assert [m["recips"] for m in digests] == [[f"reader@{HOST}"]]
    assert digests[0]["listname"] == "digests" and "Collected in digests" in digests[0]["text"]
    # the list senddigests skips: withlist sends it
    proc = var.run("withlist", "-q", "-l", "manual", input="m.send_digest_now()\nm.Save()\n")
    assert not mbox["manual"].exists(), proc.stderr
    var.drain_virgin()
    out = json.loads(var.call("queue", "out", lock=False, name="manual").strip().splitlines()[-1])
    assert [m["recips"] for m in out if m["isdigest"] and m["recips"]
            and m["listname"] == "manual" and "Collected in manual" in m["text"]] == [
        [f"reader@{HOST}"]]

