"""The archives scanned where they lie: `migrate inspect --host` runs parsers/mboxscan.py on the
old host inside the read-only agent and brings back summaries, not mboxes.

One scanner serves both sides, so the summaries must be identical field by field: the tests
run the agent (over OpenSSH's real sshd on loopback, and directly under Python 2.7 when pyenv
has it) and the local scan on the same mboxes (the sample hosts' archives, a fuzz corpus drawn
from the mbox tests' hypothesis strategy, hand-made hard cases, a generated 100 MB archive) and
compare the raw summaries, deferred posts included, and the settled scans. They also check
that `--fetch-archives` still streams, what crosses the wire, the agent's progress, a file
that changes while it is scanned, a summary with too many undecided dates, and a far end that
sends a malformed summary.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from typer.testing import CliRunner

import migrate.app.cli as cli
from conftest import SAMPLE_HOSTS, SAMPLES, need, python27
from migrate.app import remote
from migrate.core.errors import MigrateError
from parsers import mboxscan, pipermail
from migrate.app.sources import LocalTree
from sshtools import sshd_running

RUNNER = CliRunner()
NOW = dt.datetime(2026, 11, 25, tzinfo=dt.timezone.utc)
NAIVE_NOW = NOW.replace(tzinfo=None)
MM = "/usr/local/mailman"
PRIVATE = f"{MM}/archives/private"
SPEC = [(PRIVATE, "names", 2)]

POST = (b"From alice@example.org Mon Jan  5 10:00:00 2004\n"
        b"From: alice@example.org\nDate: Mon, 5 Jan 2004 10:00:00 +0000\nSubject: hi\n\n"
        + b"A line of a post, long enough to look like mail.\n" * 40 + b"\n")


@pytest.fixture(scope="module")
def sshd():
    with sshd_running() as server:
        yield server


@pytest.fixture(scope="module")
def base():
    path = Path(tempfile.mkdtemp(prefix="migrate-remote-scan-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def put_mbox(root: Path, name: str, data: bytes) -> Path:
    folder = root / PRIVATE.lstrip("/") / f"{name}.mbox"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.mbox"
    path.write_bytes(data)
    return path


def fuzz_corpus(n: int) -> list[bytes]:
    """``n`` mboxes from the mbox tests' strategy (deterministic)."""
    from test_pipermail import mboxes
    found: list[bytes] = []

    @settings(max_examples=n, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(mboxes())
    def collect(data: bytes) -> None:
        found.append(data)
    collect()
    return found


HARD = {
    # Date: values only the fuzzy parser reads (deferred), and ones nobody reads
    "fuzzy": b"".join(
        b"From a@b Tue Jun  3 11:05:00 2008\nDate: %s\n\nx\n\n" % v for v in (
            b"2008-06-03 11:05", b"Tuesday, June 3rd 2008 at 11:05", b"GMT+00:00",
            b"2015-13-45 10:00", b"\xff\xfe bad bytes 2010", b"Mon, 32 Foo 2009 25:61:00 +0000",
            b"3 Jun 08 11:05 EDT", b"1 Jan 0001 00:00:00 +2300", b"31 Feb 2004 10:00 +0000",
            b"31 Dec 9999 23:30:00 -0100")),
    "implausible": (b"From a@b Mon Jan  5 10:00:00 2004\nSubject: no date\n\nx\n\n"
                    b"From a@b Tue Jan  6 10:00:00 2004\nDate: Mon, 1 Jan 1979 00:00:00 +0000"
                    b"\n\nx\n\nFrom a@b Thu Jan  8 10:00:00 1970\nDate: garbage\n\nx\n"),
    "crlf": POST.replace(b"\n", b"\r\n") * 3,
    "binary": b"\0\1\2 not an mbox\n" * 100,
    "empty": b"",
    "leading": b"garbage before\n\n" + POST * 2,
}


def corpus() -> dict[str, bytes]:
    out = dict(HARD)
    for name in SAMPLE_HOSTS:
        for path in sorted((SAMPLES / name).rglob("*.mbox")):
            if path.is_file():
                out[f"{name}-{path.stem}"] = path.read_bytes()
    for i, data in enumerate(fuzz_corpus(150)):
        out[f"fuzz{i:03d}"] = data
    return out


def local_summary(path: Path) -> dict:
    with open(path, "rb") as fh:
        return mboxscan.scan_open_file(
            fh, NAIVE_NOW, path=str(path),
            line_numbers=path.stat().st_size <= pipermail.LINE_NUMBER_LIMIT)


def remote_summaries(sshd, root: Path, names, progress=None) -> tuple[dict, remote.RemoteTree]:
    client = remote.connect("root@127.0.0.1", port=sshd.port, identity=str(sshd.key),
                            known_hosts=str(sshd.known_hosts))
    tree = remote.RemoteTree(client, root=str(root))
    tree.snapshot(SPEC, mbox_dirs=[PRIVATE], scan_now=NOW,
                  line_limit=pipermail.LINE_NUMBER_LIMIT)
    out = {}
    for name in names:
        out[name] = tree.scanned_mbox(f"{PRIVATE}/{name}.mbox/{name}.mbox",
                                      None if progress is None else
                                      lambda n, name=name: progress(name, n))
    return out, tree


def assert_same(local: dict, far: dict, name: str) -> None:
    assert far is not None, name
    for key in local:
        assert far[key] == local[key], (name, key)
    assert set(far) == set(local), name
    settled_here = pipermail.scan_from_summary(json.loads(json.dumps(local)), "/x", NOW)
    settled_there = pipermail.scan_from_summary(json.loads(json.dumps(far)), "/x", NOW)
    assert settled_there == settled_here, name


# --- one scanner on both sides --------------------------------------------------------------------


def test_the_scanner_is_ascii_and_runs_under_python_2_6_and_3():
    """The agent carries the scanner to the old host's Python: vermin checks it against 2.6 and
    3.0, and the bootstrap needs it ASCII."""
    source = Path(mboxscan.__file__).read_bytes()
    source.decode("ascii")
    remote.agent_program().decode("ascii")
    vermin = shutil.which("vermin") or str(Path(sys.executable).with_name("vermin"))
    need(os.path.exists(vermin), "vermin is not installed (pip install -e '.[test]')")
    ok = subprocess.run([vermin, "--no-tips", "-t=2.6", "-t=3.0", "--violations",
                         mboxscan.__file__], capture_output=True, text=True)
    assert ok.returncode == 0 and "not met" not in ok.stdout, ok.stdout


def test_the_rfc_date_port_reads_as_the_email_package_does():
    """rfc_date is CPython 3.11's reading, ported so every Python reads alike."""
    import email.utils
    values = ["Tue, 3 Jun 2008 11:05:30 +0200", "3 Jun 08 11:05 EDT", "Tue, 3 Jun 2008 11:05",
              "Tue,3 Jun 2008 11:05:30 -0000", "03-Jun-2008 11:05:30 +0100", "Jun 3 2008 11.05",
              "3 Jun 2008 11:05:30 +9999", "1 Jan 0001 00:00:00 +0100", "31 Feb 2004 10:00",
              "3 Jun 1_999 11:05", "", "   ", "GMT+00:00", "3 jun 2008 11:05:30 pdt",
              "Tue, 3 Jun 2008 11:05:30 +0200 (CEST)", "3 Jun 2008 11:5:3 +0530"]
    for text in values:
        try:
            want = email.utils.parsedate_to_datetime(text)
            want = want.astimezone(dt.timezone.utc).replace(tzinfo=None) if want.tzinfo \
                else want
        except (TypeError, ValueError, IndexError, OverflowError):
            want = None
        assert mboxscan.rfc_date(text) == want, text


@pytest.fixture(scope="module")
def host(base):
    """A host tree whose archive folder holds the whole corpus, one list per mbox."""
    root = base / "corpus-host"
    data = corpus()
    for name, content in data.items():
        put_mbox(root, name, content)
    return root, sorted(data)


def test_remote_and_local_summaries_are_identical_on_every_mbox(sshd, host):
    root, names = host
    far, tree = remote_summaries(sshd, root, names)
    try:
        for name in names:
            path = root / PRIVATE.lstrip("/") / f"{name}.mbox" / f"{name}.mbox"
            assert_same(local_summary(path), far[name], name)
        # every kind of deferred post and example crossed the link
        assert far["fuzzy"]["deferred"] and far["implausible"]["examples"]
        assert tree.stats.commands <= 2  # the scan, and the folders above the archives
    finally:
        tree.close()


def _agent_frames(data: bytes):
    pos = 0
    while pos < len(data):
        kind = data[pos:pos + 1]
        length = struct.unpack(">I", data[pos + 1:pos + 5])[0]
        yield kind, data[pos + 5:pos + 5 + length]
        pos += 5 + length


def test_python_2_agent_gives_the_same_summaries(host):
    """The old host's Python is usually Mailman's Python 2.7: the same program (bootstrap,
    scanner, agent) under the real Python 2.7 gives byte-for-byte the same summaries."""
    py27 = python27()
    need(py27 is not None, "no Python 2.7 (pyenv install 2.7.18)")
    root, names = host
    options = {"now": [2026, 11, 25, 0, 0, 0], "line_limit": pipermail.LINE_NUMBER_LIMIT}
    outputs = {}
    for python in (py27, sys.executable):
        res = subprocess.run([python, "-", "snap", str(root), json.dumps([list(SPEC[0])]),
                              json.dumps([PRIVATE]), json.dumps(options)],
                             input=remote.agent_program(), capture_output=True, check=True)
        summaries = {}
        current = None
        for kind, payload in _agent_frames(res.stdout):
            if kind == b"M":
                current = json.loads(payload)["p"]
            elif kind == b"S":
                summaries[current] = json.loads(payload)
        outputs[python] = summaries
    py2, py3 = outputs.values()
    assert len(py2) == len(names)
    assert py2 == py3
    for name in names:
        path = root / PRIVATE.lstrip("/") / f"{name}.mbox" / f"{name}.mbox"
        key = f"{PRIVATE}/{name}.mbox/{name}.mbox"
        assert_same(local_summary(path), py2[key], name)


def test_a_generated_100_mb_archive_is_summarised_alike_and_only_the_summary_travels(sshd,
                                                                                     base):
    sys.path.insert(0, str(Path(__file__).parent / "perf"))
    from bench_mbox import generate_mbox
    root = base / "big-host"
    path = put_mbox(root, "big", b"")
    generated = generate_mbox(path, 100 * 1024 * 1024)
    seen: list[int] = []
    far, tree = remote_summaries(sshd, root, ["big"], progress=lambda _n, done: seen.append(done))
    try:
        local = local_summary(path)
        assert_same(local, far["big"], "big")
        assert local["messages"] == generated.messages
        assert tree.stats.bytes_in < 1024 * 1024, tree.stats  # 100 MB scanned, < 1 MB back
        assert seen == sorted(seen) and seen[-1] == path.stat().st_size and len(seen) > 5
    finally:
        tree.close()


# --- what the inventory says ------------------------------------------------------------------


def _inventory(args: list[str]) -> dict:
    res = RUNNER.invoke(cli.app, args + ["--json"])
    assert res.exit_code in (0, 1), res.output
    data = json.loads(res.stdout)
    data.pop("source"), data.pop("collected_at")
    return data


def _ssh_args(sshd, root: Path) -> list[str]:
    return ["inspect", "--host", "root@127.0.0.1", "--port", str(sshd.port), "--identity",
            str(sshd.key), "--known-hosts", str(sshd.known_hosts), "--root", str(root)]


def test_fetch_archives_streams_them_and_gives_the_same_inventory(sshd, base):
    root = base / "fetch-host"
    shutil.copytree(SAMPLES / "netsight", root, symlinks=True)
    put_mbox(root, "users", POST * 20000)  # 40 MB
    local = _inventory(["inspect", "--root", str(root)])
    assert _inventory(_ssh_args(sshd, root)) == local
    assert _inventory(_ssh_args(sshd, root) + ["--fetch-archives"]) == local
    # and what crossed the wire
    volumes = {}
    for fetch in (False, True):
        client = remote.connect("root@127.0.0.1", port=sshd.port, identity=str(sshd.key),
                                known_hosts=str(sshd.known_hosts))
        tree = remote.RemoteTree(client, root=str(root))
        try:
            from migrate.app.inspection import inspect_tree, remote_mbox_dirs, remote_spec
            from migrate.core.model import Origin, OriginKind
            tree.snapshot(remote_spec(), mbox_dirs=remote_mbox_dirs(),
                          scan_now=None if fetch else NOW,
                          line_limit=pipermail.LINE_NUMBER_LIMIT)
            inspect_tree(tree, Origin(OriginKind.SSH, str(root)), now=NOW)
            volumes[fetch] = tree.stats.bytes_in
            assert tree.stats.commands == 1
        finally:
            tree.close()
    size = (root / PRIVATE.lstrip("/") / "users.mbox/users.mbox").stat().st_size
    assert volumes[True] > size > 100 * volumes[False], volumes


def test_fetch_archives_needs_host(tmp_path):
    res = RUNNER.invoke(cli.app, ["inspect", "--root", str(SAMPLES / "small"),
                                  "--fetch-archives", "--json"])
    assert res.exit_code == 2 and "--fetch-archives goes with --host" in res.output


def test_too_many_undecided_dates_fall_back_to_fetching_that_mbox(sshd, base):
    """Past MAX_DEFERRED undecided Date: values the agent gives up on that mbox (its summary
    would grow with the file); it is then fetched and scanned here: the same inventory."""
    root = base / "undecided-host"
    shutil.copytree(SAMPLES / "small", root, symlinks=True)
    lists = sorted(p.name for p in (root / MM.lstrip("/") / "lists").iterdir())
    posts = b"".join(b"From a@b Tue Jun  3 11:05:00 2008\nDate: 2008-06-%02d 11:05\n\nx\n\n"
                     % (1 + i % 28) for i in range(mboxscan.MAX_DEFERRED + 10))
    path = put_mbox(root, lists[0], posts)
    summary = local_summary(path)
    assert summary["incomplete"] and summary["deferred"] == []
    far, tree = remote_summaries(sshd, root, [lists[0]])
    tree.close()
    assert far[lists[0]]["incomplete"]
    local = _inventory(["inspect", "--root", str(root)])
    archive = next(a for a in local["archives"] if a["list_name"] == lists[0])
    assert archive["messages"] == mboxscan.MAX_DEFERRED + 10 and archive["bad_date_header"] == 0
    assert _inventory(_ssh_args(sshd, root)) == local


# --- an archive that changes while it is scanned -----------------------------------------------


#: The posts of the archive that changes while it is scanned: about 20 MB, three of the
#: scanner's chunks and twenty of the stream's (the change comes after the first).
BUSY_POSTS = 10000


def _changing_host(base: Path, name: str) -> tuple[Path, Path]:
    root = base / f"changing-{name}"
    path = put_mbox(root, "busy", POST * BUSY_POSTS)
    return root, path


#: Put ahead of the agent program by ``WhileRead``: before the agent sends a frame that says it
#: has read more of a file (``P``, the progress of a scan; ``D``, a chunk of a fetched file),
#: it writes one byte to the FIFO ``ask`` and waits for the test's answer on ``answer``:
#: ``a`` (stop here again next time) or ``d`` (go on without asking). The file is read but not
#: finished (the agent has not taken its last ``fstat``) while the test changes it.
GATE = r"""
import os, sys
class _Gate(object):
    def __init__(self, out, ask, answer):
        self.out, self.ask, self.answer, self.fds = out, ask, answer, None
    @property
    def buffer(self):
        return self
    def write(self, data):
        if self.ask is not None and data[:1] in (b"P", b"D"):
            if self.fds is None:
                self.fds = os.open(self.ask, os.O_WRONLY), os.open(self.answer, os.O_RDONLY)
            os.write(self.fds[0], b"?")
            if os.read(self.fds[1], 1) != b"a":
                self.ask = None
        return self.out.write(data)
    def flush(self):
        return self.out.flush()
sys.stdout = _Gate(getattr(sys.stdout, "buffer", sys.stdout), %r, %r)
"""


class WhileRead:
    """Calls ``action(n)`` each time the old host's agent, reading ``path``, has read more of it
    (``times`` at most), while the agent waits: the file changes in the middle of the agent's
    read, at a point the agent itself names (``GATE``, a FIFO handshake), whatever the speed
    of the link or the load of the machine."""

    def __init__(self, monkeypatch, folder: Path, action, times: int) -> None:
        import threading
        self.action, self.times, self.calls = action, times, 0
        ask, answer = folder / "agent-asks", folder / "test-answers"
        for fifo in (ask, answer):
            fifo.unlink(missing_ok=True)
            os.mkfifo(fifo)
        # both ends held open here (read-write): the agent's opens never block
        self.ask, self.answer = os.open(ask, os.O_RDWR), os.open(answer, os.O_RDWR)
        program = remote.agent_program()
        monkeypatch.setattr(remote, "agent_program",
                            lambda: (GATE % (str(ask), str(answer))).encode() + program)
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while os.read(self.ask, 1) == b"?":
            if self.calls < self.times:
                self.calls += 1
                self.action(self.calls)
            os.write(self.answer, b"a" if self.calls < self.times else b"d")

    def __enter__(self) -> "WhileRead":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        os.write(self.ask, b"!")  # not a question: the thread ends
        self.thread.join()
        os.close(self.ask)
        os.close(self.answer)


def _remote_archive(sshd, root: Path, mode: str) -> pipermail.ArchiveResult:
    """The archive of list ``busy``, scanned on the old host or (``fetch``) fetched."""
    client = remote.connect("root@127.0.0.1", port=sshd.port, identity=str(sshd.key),
                            known_hosts=str(sshd.known_hosts))
    tree = remote.RemoteTree(client, root=str(root))
    try:
        tree.snapshot(SPEC, mbox_dirs=[PRIVATE], scan_now=None if mode == "fetch" else NOW,
                      line_limit=pipermail.LINE_NUMBER_LIMIT)
        return pipermail.inspect_archive(tree, MM, "busy", archive_enabled=True, public=False,
                                         volume_frequency=1, now=NOW)
    finally:
        tree.close()


def _changed(result: pipermail.ArchiveResult):
    return [f for f in result.findings if f.id == "archive.mbox-changed"]


@pytest.mark.parametrize("mode", ["scan", "fetch"])
def test_an_archive_that_grows_while_scanned_is_counted_as_it_was(sshd, base, mode,
                                                                  monkeypatch):
    root, path = _changing_host(base, f"{mode}-grows")
    size = path.stat().st_size

    def append(_n: int) -> None:
        with open(path, "ab") as fh:
            fh.write(POST * 3)
    with WhileRead(monkeypatch, root, append, times=1) as changes:
        result = _remote_archive(sshd, root, mode)
    assert changes.calls == 1
    assert result.archive.messages == BUSY_POSTS and result.archive.bytes == size
    assert result.scan.changed == {"how": "grew", "from": size, "to": size + 3 * len(POST),
                                   "stable": True, "attempts": 1}
    [f] = _changed(result)
    assert f.severity.value == "info" and f"first {size} bytes" in f.message


@pytest.mark.parametrize("mode", ["scan", "fetch"])
def test_an_archive_rewritten_once_is_scanned_again(sshd, base, mode, monkeypatch):
    root, path = _changing_host(base, f"{mode}-rewritten")

    def rewrite(_n: int) -> None:  # drop the last post, in place
        with open(path, "r+b") as fh:
            fh.seek(-len(POST), os.SEEK_END)
            fh.write(b"x" * len(POST))
    with WhileRead(monkeypatch, root, rewrite, times=1) as changes:
        result = _remote_archive(sshd, root, mode)
    assert changes.calls == 1
    assert result.archive.messages == BUSY_POSTS - 1  # the file as it now is
    assert result.scan.changed["how"] == "modified" and result.scan.changed["stable"]
    assert result.scan.changed["attempts"] == 2
    [f] = _changed(result)
    assert f.severity.value == "warning" and "scanned again" in f.message


@pytest.mark.parametrize("mode", ["scan", "fetch"])
def test_an_archive_that_never_holds_still_is_an_error_not_a_count(sshd, base, mode,
                                                                    monkeypatch):
    root, path = _changing_host(base, f"{mode}-restless")

    def fidget(n: int) -> None:
        with open(path, "r+b") as fh:
            fh.seek(n % 1000)
            fh.write(b"F")
    with WhileRead(monkeypatch, root, fidget, times=10 ** 6) as changes:
        result = _remote_archive(sshd, root, mode)
    assert changes.calls >= mboxscan.ATTEMPTS
    assert result.scan.changed["stable"] is False
    assert result.scan.changed["attempts"] == mboxscan.ATTEMPTS
    # its checksum is of no file: the plan's manifest must not carry it
    assert result.archive.sha256 is None
    assert all(f.sha256 is None for f in result.archive.files)
    [f] = _changed(result)
    assert f.severity.value == "error" and "not to be trusted" in f.message


def test_the_local_scan_reports_a_change_too(base):
    root, path = _changing_host(base, "local")
    size = path.stat().st_size
    calls = []

    def append(done: int) -> None:
        calls.append(done)
        if len(calls) == 1:
            with open(path, "ab") as fh:
                fh.write(POST)
    result = pipermail.inspect_archive(LocalTree(root), MM, "busy", archive_enabled=True,
                                       public=False, volume_frequency=1, now=NOW,
                                       progress=append)
    assert result.archive.messages == BUSY_POSTS and result.archive.bytes == size
    assert result.scan.changed["how"] == "grew"


# --- the far end is not trusted -------------------------------------------------------------------


@pytest.mark.parametrize("change", [
    {"messages": "many"}, {"days": {"2004-01-05": "x"}}, {"examples": {"loose": [[1, 2]]}},
    {"deferred": [[1]]}, {"first_date": "yesterday"}, {"changed": {"how": "exploded"}},
    {"sha256": 5},
])
def test_a_malformed_summary_is_refused_cleanly(change):
    summary = mboxscan.new_summary()
    summary.update(change)
    with pytest.raises(MigrateError, match="not the inspection's output"):
        remote._checked_summary(summary)
    assert remote._checked_summary(mboxscan.new_summary()) == mboxscan.new_summary()


class _Channel:
    """What ``_AgentStream`` reads of a paramiko channel, over fixed bytes."""

    def __init__(self, data: bytes) -> None:
        self.data = io.BytesIO(data)

    def recv(self, n: int) -> bytes:
        return self.data.read(n)

    def recv_stderr(self, n: int) -> bytes:
        return b""


@pytest.mark.parametrize("payload", [b"{not json", b"[]", b'{"k": "file"}', b'{"p": 7}'])
def test_a_malformed_entry_in_the_snapshot_is_one_clear_error(payload):
    data = b"M" + struct.pack(">I", len(payload)) + payload
    stream = remote._AgentStream(_Channel(data), remote.Stats())
    with pytest.raises(MigrateError, match="not the inspection's output"):
        list(stream.entries())
    stream = remote._AgentStream(_Channel(data), remote.Stats())
    with pytest.raises(MigrateError, match="not the inspection's output"):
        stream.next_file("/a")


def test_a_summary_stream_is_parsed_with_its_progress():
    def frame(kind: bytes, payload: bytes) -> bytes:
        return kind + struct.pack(">I", len(payload)) + payload
    summary = mboxscan.new_summary()
    data = (frame(b"M", json.dumps({"p": "/a", "scan": True}).encode())
            + frame(b"P", b"10 20") + frame(b"P", b"20 20")
            + frame(b"S", json.dumps(summary).encode()) + frame(b"X", b""))
    stream = remote._AgentStream(_Channel(data), remote.Stats())
    seen: list[int] = []
    assert stream.next_summary("/a", seen.append) == ("/a", summary)
    assert seen == [10, 20]
    assert stream.next_summary("/b", None) == (None, None) and stream.done


# --- a host without Python 3 --------------------------------------------------------------------


def test_a_host_without_python_3_is_inspected_with_its_python_2(base):
    """An old FreeBSD host has Mailman's Python 2.7 and no Python 3: the agent and the scanner
    run under it, and the inventory is the one --root gives (--fetch-archives too)."""
    root = base / "python2-host"
    shutil.copytree(SAMPLES / "netsight", root, symlinks=True)
    put_mbox(root, "devtalk", b"".join(HARD.values()) + POST * 5000)
    local = _inventory(["inspect", "--root", str(root)])
    with sshd_running(no_python3=True) as sshd:
        found = subprocess.run(sshd.ssh_args() + [
            "for p in python3 python2.7; do command -v $p; done; "
            "python2.7 -c 'import sys; print(sys.version_info[0])'"],
            capture_output=True, text=True, timeout=60)
        assert found.stdout.split() == ["/usr/local/bin/python2.7", "2"], found
        assert _inventory(_ssh_args(sshd, root)) == local
        assert _inventory(_ssh_args(sshd, root) + ["--fetch-archives"]) == local


@pytest.mark.parametrize("frames", [
    [(b"M", b"not json")], [(b"M", b'{"p": 5, "scan": true}')],
    [(b"M", b'{"p": "/a", "scan": true}'), (b"P", b"lots")],
    [(b"M", b'{"p": "/a", "scan": true}'), (b"S", b"[1, 2]")],
    [(b"M", b'{"p": "/a", "scan": true}'), (b"D", b"data")],
    [(b"M", b'{"p": "/a", "scan": true}')],  # the agent stopped
])
def test_a_broken_summary_stream_is_one_error_naming_fetch_archives(frames):
    data = b"".join(k + struct.pack(">I", len(p)) + p for k, p in frames)
    stream = remote._AgentStream(_Channel(data), remote.Stats())
    with pytest.raises(MigrateError) as err:
        stream.next_summary("/a", None)
    assert "archive scan on the old host failed" in err.value.message
    assert "--fetch-archives" in err.value.hint
