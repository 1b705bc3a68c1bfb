"""Every sample host's list files are real Mailman files (issue 15).

Each sample's ``lists/NAME/`` folder is copied into a private var tree of the real GNU Mailman
2.1 (``mailmantools.mailman_build("plain")``, built once into ``.cache/``), and Mailman's own
tools read it: ``bin/list_lists``, ``bin/list_members``, ``bin/config_list -o -`` and
``bin/withlist`` (for what no other tool prints: the web URL, dates, delivery states). What they
print must equal the inventory ``migrate inspect --root sample_configs/HOST`` writes.

The copies live in a temp folder. For each command, ``unshare --mount`` binds that folder's
``lists/``, ``locks/``, ``logs/``, ``data/``, ``archives/``, ``qfiles/`` and ``spam/`` over the
cached build's in a private mount namespace, so the cached build never changes (Mailman
upgrades an old list when it loads it and saves it again: that happens to the copy).

The second half checks that ``tools/make_samples.py`` (through ``tools/py2pickle.py``) writes
what Mailman writes: attribute names and value types of each sample ``config.pck``, read before
any Mailman loads it, against a list that the real Mailman made with ``bin/newlist``,
``bin/add_members``, ``bin/config_list -i`` and ``bin/withlist``.
"""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import migrate.app.cli as cli
from conftest import REPO, SAMPLE_HOSTS, SAMPLES, SHARED_FIXTURES, need, shared_fixture
from mailmantools import mailman_build, python_of
from migrate.core import codec
from migrate.core.model import Inventory, MailingList

MM = "usr/local/mailman"

#: The deliberately broken list files of the samples (sample_configs/README.md, "Planted
#: problems" 7): a stray empty ``config.pck.tmp.*`` an interrupted Save() left. Mailman reads
#: only ``config.pck`` (and ``config.pck.last`` when that fails), so the list still loads.
#: No sample ``config.pck`` is broken on purpose.
STRAY = {("netsight", "announce"): "config.pck.tmp.mail.netsight.example.48213"}

#: Mailman's delivery states (MemberAdaptor) as the inventory names them.
DELIVERY = {0: "enabled", 1: "unknown", 2: "by_user", 3: "by_admin", 4: "by_bounce"}

#: Python 2, run by the build's own interpreter: ``withlist -r mm2probe.FUNC`` and the pickle
#: reader of the fidelity check (with Mailman importable for ``_BounceInfo``).
PROBE = textwrap.dedent('''\
    import cPickle, json, sys, time

    def show(mlist):
        """What no other bin/ tool prints, as JSON on stdout (run locked: ListAdmin wants the
        lock to open a list that has no request.pck yet)."""
        from Mailman import MemberAdaptor
        states = {}
        for addr in mlist.getMembers():
            st = mlist.getDeliveryStatus(addr)
            states[st] = states.get(st, 0) + 1
        print json.dumps({
            "web_page_url": mlist.web_page_url,
            "listinfo": mlist.GetScriptURL("listinfo", absolute=1),
            "created_at": mlist.created_at, "last_post_time": mlist.last_post_time,
            "post_id": mlist.post_id, "data_version": mlist.data_version,
            "states": states,
            # held posts and subscriptions (ListAdmin), confirmations awaited (Pending)
            "held": mlist.NumRequestsPending(),
            "pending": len([k for k in mlist._Pending__load()
                            if k not in ("evictions", "version")])})

    def populate(mlist):
        """Use a list the way a host does, through Mailman's own code paths."""
        import hashlib
        from Mailman import MemberAdaptor
        from Mailman.Handlers import AfterDelivery
        mlist.setDeliveryStatus("bounced@lists.fidelity.example", MemberAdaptor.BYBOUNCE)
        mlist.setDeliveryStatus("away@lists.fidelity.example", MemberAdaptor.BYUSER)
        mlist.registerBounce("bouncing@lists.fidelity.example", None, weight=1.0)
        # admin.py sets the moderator password so; AfterDelivery runs after every post
        mlist.mod_password = hashlib.sha1("mod-secret").hexdigest()
        AfterDelivery.process(mlist, None, {})
        mlist.digest_last_sent_at = time.time()  # as ToDigest.send_digests does
        mlist.setMemberOption("digest@lists.fidelity.example", 8, 1)  # DisableMime
        mlist.Save()

    def _sig(v, depth=0):
        t = type(v).__name__
        if t == "instance":
            t = v.__class__.__module__ + "." + v.__class__.__name__
        if depth < 2 and isinstance(v, (list, tuple)) and v:
            return [t, sorted(set(json.dumps(_sig(x, depth + 1)) for x in v))]
        if depth < 2 and isinstance(v, dict) and v:
            return [t, sorted(set(json.dumps(_sig(x, depth + 1)) for x in v.keys())),
                    sorted(set(json.dumps(_sig(x, depth + 1)) for x in v.values()))]
        if t == "instance" or "." in t:
            return [t, _sig(v.__dict__, depth)]
        return t

    if __name__ == "__main__":
        # python mm2probe.py MAILMAN_PREFIX config.pck...: the type signature of each
        # attribute, as Python 2 (cPickle, as Mailman itself) reads the file
        sys.path.insert(0, sys.argv[1])
        out = {}
        for path in sys.argv[2:]:
            with open(path, "rb") as fp:
                d = cPickle.load(fp)
            simple = dict((k, v) for k, v in d.items()
                          if v is None or type(v) in (bool, int, float)
                          or type(v) is str and all(c < "\\x80" for c in v)
                          or type(v) in (list, dict) and not v)
            # the obsolete DisableDelivery bit (1) of every member with a delivery state
            bits = sorted(set(d["user_options"].get(m, 0) & 1 for m in d["delivery_status"]))
            out[path] = {"sig": dict((k, _sig(v)) for k, v in d.items()), "simple": simple,
                         "disabled_bits": bits}
        print json.dumps(out)
''')


class MailmanVar:
    """A private var tree for the cached plain build.

    Each ``run`` binds this tree's folders over the build's in its own mount namespace, so
    commands see the lists copied here and the cached build is never written to.
    """

    DIRS = ("lists", "locks", "logs", "data", "archives", "qfiles", "spam")

    def __init__(self, mailman: Path, root: Path, probe_dir: Path) -> None:
        need(shutil.which("unshare") is not None, "unshare (util-linux) is not installed")
        self.mailman, self.root, self.probe_dir = mailman, root, probe_dir
        for d in self.DIRS:
            (root / d).mkdir(parents=True, exist_ok=True)
        (root / "archives" / "private").mkdir(exist_ok=True)
        (root / "archives" / "public").mkdir(exist_ok=True)
        for f in (mailman / "data").iterdir():  # sitelist.cfg, last_mailman_version
            shutil.copy2(f, root / "data" / f.name)

    def add_list(self, folder: Path, name: str | None = None) -> Path:
        dest = self.root / "lists" / (name or folder.name)
        shutil.copytree(folder, dest, symlinks=True)
        return dest

    def run(self, tool: str, *args: str, input: str | None = None,
            check: bool = True) -> subprocess.CompletedProcess:
        script = ('root=$1 mm=$2; shift 2; for d in ' + " ".join(self.DIRS) + '; do '
                  'mount --bind "$root/$d" "$mm/$d" || exit 97; done; exec "$@"')
        cmd = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh",
               str(self.root), str(self.mailman), str(self.mailman / "bin" / tool), *args]
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "PYTHONPATH": str(self.probe_dir),
               "LANG": "C"}
        proc = subprocess.run(cmd, capture_output=True, input=input.encode() if input else None,
                              env=env, timeout=300)
        if check:
            assert proc.returncode == 0, (tool, args, proc.stderr.decode("latin-1")[-2000:])
        return proc


# ------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def build() -> Path:
    return mailman_build("plain")


@pytest.fixture(scope="module")
def probe_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("probe")
    (d / "mm2probe.py").write_text(PROBE)
    return d


def inventory(root: Path) -> Inventory:
    """The inventory ``migrate inspect --root ROOT --json`` prints."""
    res = CliRunner().invoke(cli.app, ["inspect", "--root", str(root), "--json"])
    assert res.exit_code in (0, 1), res.output[-2000:]
    return codec.load_json(res.stdout)


def config_list_values(text: bytes) -> dict[str, Any]:
    """``bin/config_list -o -`` output as values. The file is Python assignments; its coding
    line names the catalog's charset (the comments), while string values are the list's stored
    bytes, written with repr() or, spanning lines, raw: read byte for byte (latin-1)."""
    tree = ast.parse(text.decode("latin-1"))
    return {node.targets[0].id: ast.literal_eval(node.value)  # type: ignore[attr-defined]
            for node in tree.body if isinstance(node, ast.Assign)}


class Seen:
    """What the real Mailman prints about one list."""

    def __init__(self, var: MailmanVar, name: str) -> None:
        def lines(proc: subprocess.CompletedProcess) -> list[str]:
            return [ln for ln in proc.stdout.decode("latin-1").splitlines() if ln]

        self.regular = lines(var.run("list_members", "--preserve", "--regular", name))
        self.digest = lines(var.run("list_members", "--preserve", "--digest", name))
        self.config = config_list_values(var.run("config_list", "-o", "-", name).stdout)
        self.probe = json.loads(var.run("withlist", "-q", "-l", "-r", "mm2probe.show", name)
                                .stdout.decode().strip().splitlines()[-1])


@pytest.fixture(scope="module", params=SAMPLE_HOSTS)
def host(request, build, probe_dir, tmp_path_factory) -> dict[str, Any]:
    """One sample host: its inventory, and what the real Mailman prints about its lists."""
    name = request.param
    inv = inventory(SAMPLES / name)
    var = MailmanVar(build, tmp_path_factory.mktemp(f"var-{name}"), probe_dir)
    lists_dir = SAMPLES / name / MM / "lists"
    folders = sorted(p for p in lists_dir.iterdir() if (p / "config.pck").is_file())
    for folder in folders:
        var.add_list(folder)
    # list_lists loads (and upgrades) every list first; then the lists are read in parallel
    bare = var.run("list_lists", "-b").stdout.decode().split()
    listing = var.run("list_lists").stdout.decode("latin-1")
    advertised = var.run("list_lists", "-a", "-b").stdout.decode().split()
    with ThreadPoolExecutor(max_workers=3) as pool:
        seen = dict(zip([f.name for f in folders],
                        pool.map(lambda f: Seen(var, f.name), folders)))
    return {"name": name, "inv": inv, "var": var, "folders": folders, "bare": bare,
            "listing": listing, "advertised": advertised, "seen": seen}


# ------------------------------------------------------------------------- the samples


def test_list_lists_shows_the_inventorys_lists(host):
    inv: Inventory = host["inv"]
    assert sorted(host["bare"]) == sorted(ml.name for ml in inv.lists) == sorted(
        f.name for f in host["folders"])
    assert sorted(host["advertised"]) == sorted(ml.name for ml in inv.lists if ml.advertised)
    # "   Announce - Announcements from NetSight": real name and description as Mailman shows
    shown = {}
    for line in host["listing"].splitlines()[1:]:
        real, _, desc = line.strip().partition(" - ")
        shown[real] = desc
    assert shown == {ml.real_name: ml.description for ml in inv.lists}
    assert host["listing"].splitlines()[0] == f"{len(inv.lists)} matching mailing lists found:"


def _check_list(ml: MailingList, seen: Seen) -> None:
    cfg, probe = seen.config, seen.probe
    # members: exact address sets (case kept, as Mailman keeps it) and counts
    assert sorted(seen.regular) == sorted(ml.members.regular), ml.name
    assert sorted(seen.digest) == sorted(ml.members.digest), ml.name
    assert (len(seen.regular), len(seen.digest)) == (ml.members.regular_count,
                                                     ml.members.digest_count)
    states = {DELIVERY[int(k)]: v for k, v in probe["states"].items()}
    assert states == {k: v for k, v in ml.members.delivery_status.items() if v}, ml.name
    # the list's settings, as config_list prints them
    assert cfg["owner"] == ml.owners and cfg["moderator"] == ml.moderators, ml.name
    assert cfg["real_name"] == ml.real_name and cfg["description"] == ml.description
    assert cfg["host_name"] == ml.host_name
    assert cfg["preferred_language"] == ml.preferred_language
    assert bool(cfg["archive"]) is ml.archive
    assert cfg["archive_private"] == int(bool(ml.archive_private))
    assert cfg["archive_volume_frequency"] == ml.archive_volume_frequency
    assert cfg["subscribe_policy"] == ml.subscribe_policy
    assert bool(cfg["advertised"]) is ml.advertised
    # what withlist shows (no other tool prints it)
    assert probe["web_page_url"] == ml.web_page_url
    assert probe["listinfo"] == f"{ml.web_page_url}listinfo/{ml.name}"
    assert ml.created_at is not None and int(probe["created_at"]) == int(
        ml.created_at.timestamp())
    if ml.last_post_at is None:
        assert not probe["last_post_time"]
    else:
        assert int(probe["last_post_time"]) == int(ml.last_post_at.timestamp())
    assert int(probe["post_id"]) == ml.next_post_number
    assert (probe["held"], probe["pending"]) == (ml.held_count, ml.pending_count), ml.name


def test_every_list_prints_the_inventorys_figures(host):
    inv: Inventory = host["inv"]
    by = {ml.name: ml for ml in inv.lists}
    assert set(host["seen"]) == set(by)
    for name, seen in host["seen"].items():
        _check_list(by[name], seen)


def test_loading_upgraded_the_copy_not_the_sample(host, build):
    """Mailman upgrades a list older than its own schema when it loads it (CheckVersion) and
    saves it: the copy changed, the sample did not, and the inventory reports the stored
    (pre-load) data_version."""
    newest = int((build / "Mailman" / "Version.py").read_text().split(
        "DATA_FILE_VERSION = ")[1].split()[0])
    by = {ml.name: ml for ml in host["inv"].lists}
    for name, seen in host["seen"].items():
        assert seen.probe["data_version"] == newest
        stored = by[name].data_version
        assert stored is not None and stored <= newest
        copy = host["var"].root / "lists" / name / "config.pck"
        original = SAMPLES / host["name"] / MM / "lists" / name / "config.pck"
        assert (copy.read_bytes() == original.read_bytes()) is (stored == newest), name


def test_deliberately_broken_files_stay_broken_and_harmless(host, build):
    """The stray empty ``config.pck.tmp.*`` (planted problem 7) is no pickle to Python 2's
    cPickle either; Mailman ignores it and loads the list from config.pck."""
    for (hostname, listname), stray in STRAY.items():
        if hostname != host["name"]:
            continue
        path = SAMPLES / hostname / MM / "lists" / listname / stray
        assert path.is_file() and path.stat().st_size == 0
        proc = subprocess.run([str(python_of("plain")), "-c",
                               "import cPickle, sys; cPickle.load(open(sys.argv[1], 'rb'))",
                               str(path)], capture_output=True, text=True, timeout=120)
        assert proc.returncode != 0 and "EOFError" in proc.stderr
        assert listname in host["bare"]


def test_mailman_falls_back_to_config_pck_last(build, probe_dir, tmp_path):
    """A list whose config.pck is damaged loads from config.pck.last (MailList.Load), as on a
    host where a Save() was cut short: the sample's .last is a real Mailman file too."""
    folder = SAMPLES / "netsight" / MM / "lists" / "users"
    var = MailmanVar(build, tmp_path / "var", probe_dir)
    copy = var.add_list(folder)
    (copy / "config.pck").write_bytes(b"\x80garbage")
    members = var.run("list_members", "--preserve", "--regular", "users")
    inv = {ml.name: ml for ml in inventory(SAMPLES / "netsight").lists}
    assert sorted(members.stdout.decode().split()) == sorted(inv["users"].members.regular)
    probe = json.loads(var.run("withlist", "-q", "-l", "-r", "mm2probe.show", "users")
                       .stdout.decode().strip().splitlines()[-1])
    # .last is the save before the last post
    assert int(probe["post_id"]) == inv["users"].next_post_number - 1


def test_the_real_fixture_loads_and_matches_its_inventory(build, probe_dir, tmp_path):
    """The real list pickle in ../shared/fixtures (list ``Test``, 3 regular members) loads in
    the real Mailman and prints what ``migrate inspect`` reports for it."""
    pck = shared_fixture("mailman", "mm3-testsuite-config.pck")
    root = tmp_path / "host"
    (root / "etc").mkdir(parents=True)
    mm = root / MM
    (mm / "Mailman").mkdir(parents=True)
    (mm / "Mailman" / "Version.py").write_text('VERSION = "2.1.12"\n')
    (mm / "lists" / "test").mkdir(parents=True)
    shutil.copy2(pck, mm / "lists" / "test" / "config.pck")
    inv = inventory(root)
    assert [ml.name for ml in inv.lists] == ["test"]
    ml = inv.lists[0]
    var = MailmanVar(build, tmp_path / "var", probe_dir)
    var.add_list(mm / "lists" / "test")
    assert var.run("list_lists", "-b").stdout.decode().split() == ["test"]
    seen = Seen(var, "test")
    assert len(seen.regular) == ml.members.regular_count == 3  # the fixture's README
    assert ml.host_name == "heresy.example.org" and ml.archive is True
    _check_list(ml, seen)


# --------------------------------------------------------------------------- fidelity


FIDELITY = "lists.fidelity.example"


@pytest.fixture(scope="module")
def reference(build, probe_dir, tmp_path_factory) -> dict[str, Path]:
    """Two lists the real Mailman wrote: ``fresh`` as ``bin/newlist`` leaves it, ``used`` after
    members (names, mixed case, digest), moderators and nonmember rules were added with
    ``bin/add_members`` and ``bin/config_list -i``, and ``bin/withlist`` disabled members,
    recorded a bounce, set a moderator password and ran a post's AfterDelivery."""
    var = MailmanVar(build, tmp_path_factory.mktemp("var-reference"), probe_dir)
    for name in ("fresh", "used"):
        var.run("newlist", "-q", "-u", FIDELITY, "-e", FIDELITY, name, f"owner@{FIDELITY}",
                "admin-secret")
    regular = [f"Regular Member <regular@{FIDELITY}>", f"Mixed.Case@{FIDELITY}",
               f"bounced@{FIDELITY}", f"away@{FIDELITY}", f"bouncing@{FIDELITY}"]
    var.run("add_members", "-r", "-", "-w", "n", "-a", "n", "used", input="\n".join(regular))
    var.run("add_members", "-d", "-", "-w", "n", "-a", "n", "used",
            input=f"Digest Reader <digest@{FIDELITY}>\nDigest.Mixed@{FIDELITY}\n")
    settings = var.root / "settings.py"
    settings.write_text(f"moderator = ['mod@{FIDELITY}']\n"
                        "accept_these_nonmembers = ['^.*@fidelity\\\\.example$']\n"
                        "ban_list = ['spammer@example.org']\n")
    var.run("config_list", "-i", str(settings), "used")
    var.run("withlist", "-q", "-l", "-r", "mm2probe.populate", "used")
    return {name: var.root / "lists" / name / "config.pck" for name in ("fresh", "used")}


def signatures(build: Path, probe_dir: Path, paths: list[Path]) -> dict[Path, dict[str, Any]]:
    """Attribute names, value types (and a few values) of pickles as Python 2 reads them."""
    proc = subprocess.run([str(python_of("plain")), str(probe_dir / "mm2probe.py"), str(build),
                           *map(str, paths)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads(proc.stdout)
    return {Path(k): v for k, v in data.items()}


def compatible(sig: Any, refs: list[Any]) -> bool:
    """Whether a value of type signature ``sig`` is one the real Mailman writes (``refs``):
    the same type, and inside containers only element types the real ones hold (nothing to
    compare where the real container is empty)."""
    top = sig if isinstance(sig, str) else sig[0]
    same = [r for r in refs if (r if isinstance(r, str) else r[0]) == top]
    if not same:
        return False
    full = [r for r in same if not isinstance(r, str) and len(r) == len(sig)]
    if isinstance(sig, str) or not full:
        return True
    for i in range(1, len(sig)):
        # element types as JSON texts (list, tuple, dict keys and values); or an instance's
        # state, a signature itself
        if isinstance(sig[i], list) and all(isinstance(x, str) and x[:1] in '"[' for x in sig[i]):
            allowed = set().union(*(set(r[i]) for r in full))
            if not set(sig[i]) <= allowed:
                return False
        elif not compatible(sig[i], [r[i] for r in full]):
            return False
    return True


def sample_configs() -> list[Path]:
    return sorted(p for p in SAMPLES.glob(f"*/{MM}/lists/*/config.pck*")
                  if p.name in ("config.pck", "config.pck.last"))


def test_samples_have_the_names_and_types_mailman_writes(build, probe_dir, reference):
    sys.path.insert(0, str(REPO / "tools"))
    from make_samples import SCHEMA_110, SCHEMA_110_DEFAULTS, SCHEMA_KEYS

    samples = sample_configs()
    assert len(samples) >= 12
    # the real list pickle at schema 97, where present (its own test skips without it)
    fixture = SHARED_FIXTURES / "mailman" / "mm3-testsuite-config.pck"
    extra = [fixture] if fixture.is_file() else []
    sigs = signatures(build, probe_dir, [reference["fresh"], reference["used"], *extra,
                                         *samples])
    fresh, used = sigs[reference["fresh"]], sigs[reference["used"]]
    # the generator's schema is the real one: 2.1.26's newlist writes the 97 names + these,
    # with these defaults, and the fixture (a real list at 97) has exactly the 97 names
    assert set(fresh["sig"]) == set(used["sig"]) == set(SCHEMA_KEYS) | {
        k.decode() for k in SCHEMA_110_DEFAULTS}
    assert fresh["simple"]["data_version"] == SCHEMA_110
    for key, value in SCHEMA_110_DEFAULTS.items():
        real = fresh["simple"][key.decode()]
        want = value.decode() if isinstance(value, bytes) else value
        assert (type(real), real) == (type(want), want), key
    if extra:
        assert set(sigs[fixture]["sig"]) == set(SCHEMA_KEYS)
    # Mailman never sets the obsolete DisableDelivery bit of a disabled member
    assert used["disabled_bits"] == [0]
    problems = []
    for path in samples:
        got = sigs[path]
        rel = path.relative_to(SAMPLES)
        version = got["simple"]["data_version"]
        names = set(got["sig"])
        if version >= SCHEMA_110:
            refs = [fresh, used]
            if names != set(fresh["sig"]):
                problems.append(f"{rel}: names {sorted(names ^ set(fresh['sig']))}")
        else:  # the older schema (campus, netsight's planted old site list): the fixture's
            refs = [fresh, used] + [sigs[fixture]] * bool(extra)
            if names != set(SCHEMA_KEYS):
                problems.append(f"{rel}: names {sorted(names ^ set(SCHEMA_KEYS))}")
        for key, sig in got["sig"].items():
            real = [r["sig"][key] for r in refs if key in r["sig"]]
            if not compatible(sig, real):
                problems.append(f"{rel}: {key} is {sig}, Mailman writes {real}")
        if got["disabled_bits"] not in ([], [0]):
            problems.append(f"{rel}: a disabled member has the obsolete DisableDelivery bit")
    assert not problems, "\n".join(problems)


def test_the_type_check_catches_what_mailman_would_not_write():
    """The comparison is not vacuous: a wrong scalar type, a missing element type and a
    wrong tuple element fail it."""
    assert compatible("bool", ["bool", "int"]) and not compatible("int", ["bool"])
    real = ["dict", ['"str"'], ['"int"', '"str"']]
    assert compatible(["dict", ['"str"'], ['"int"']], [real])
    assert not compatible(["dict", ['"str"'], ['"float"']], [real])
    assert compatible(["list", ['"str"']], ["list"])  # the real one was empty
    status = ["dict", ['"str"'], ['["tuple", ["\\"float\\"", "\\"int\\""]]']]
    assert not compatible(["dict", ['"str"'], ['["tuple", ["\\"int\\""]]']], [status])
