"""A hostile or broken agent: what `migrate inspect --host` reads from the old host is input, and
the far end is not trusted.

The real agent's output for a sample host is recorded once (the agent run here, with this
Python, on a copy of sample_configs/netsight, as the old host's Python would run it), then
replayed to the client with its frames mutated: the kinds of malformed frames that used to end
in a traceback (each must now be the one-line protocol error, exit 3), content past the size its
header announced, and random mutations from hypothesis (the CLI exits 0, 1 or 3, never 70).
The replay goes through the seam where the client reads an agent command's stream
(``RemoteTree._run``); the SSH connection is not needed for that. Over OpenSSH's real sshd
(tests/sshtools.py), a hostile agent program sends 1 GiB for a file it announced as 10 bytes
(the client's peak memory is measured in its own process), a stalled one sends nothing (the
inspection stops after the read timeout, naming the host, exit 4), and an sshd that opens no
session is one clear error too.
"""

from __future__ import annotations

import io
import json
import os
import resource
import shlex
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import migrate.app.cli as cli
from conftest import REPO, SAMPLES
from migrate.app import remote, remote_agent
from migrate.core.errors import MigrateError
from parsers import mboxscan
from sshtools import sshd_running

RUNNER = CliRunner()
PROTOCOL = "not the inspection's output"
Frames = list[tuple[bytes, bytes]]


def frame(kind: bytes, payload: bytes) -> bytes:
    return kind + struct.pack(">I", len(payload)) + payload


def split(data: bytes) -> Frames:
    out, pos = [], 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos + 1:pos + 5])
        out.append((data[pos:pos + 1], data[pos + 5:pos + 5 + length]))
        pos += 5 + length
    return out


def join(frames: Frames) -> bytes:
    return b"".join(frame(k, p) for k, p in frames)


class Channel:
    """What ``_AgentStream`` reads of a paramiko channel, over fixed bytes; the command has
    exited (``exited=False``: it never does, and waiting for it would block for ever)."""

    def __init__(self, data: bytes, exited: bool = True) -> None:
        self.data = io.BytesIO(data)
        self.status_event = threading.Event()
        if exited:
            self.status_event.set()

    def recv(self, n: int) -> bytes:
        return self.data.read(n)

    def recv_stderr(self, n: int) -> bytes:
        return b""

    def recv_exit_status(self) -> int:
        assert self.status_event.is_set(), "would wait for ever for the exit status"
        return 0

    def close(self) -> None:
        pass


class Client:
    """The SSH connection, which the replay does not use."""

    def close(self) -> None:
        pass


def words(tree: remote.RemoteTree, mode: str, spec, *extra) -> list[str]:
    """The agent's arguments for a command, as the old host's shell gives them to it."""
    return shlex.split(tree._command(mode, spec, *extra))[4:]


def run_agent(argv: list[str]) -> bytes:
    """The real agent's output, run here as the old host's Python runs it."""
    done = subprocess.run([sys.executable, "-", *argv], input=remote.agent_program(),
                          capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def key(argv: list[str]) -> tuple[str, ...]:
    return tuple(argv[:4])  # the command, the root, the paths, the archives (not the scan's time)


@contextmanager
def replaying(outputs: dict[tuple[str, ...], bytes], record: bool = False):
    """The client reads ``outputs`` (by command) where it would read the agent's stream; a
    command not recorded runs the real agent here (and is recorded with ``record``)."""
    def run(self, mode, spec, *extra):
        argv = words(self, mode, spec, *extra)
        data = outputs.get(key(argv))
        if data is None:
            data = run_agent(argv)
            if record:
                outputs[key(argv)] = data
        self.stats.commands += 1
        return remote._AgentStream(Channel(data), self.stats)
    with mock.patch.object(remote, "connect", lambda *a, **k: Client()), \
            mock.patch.object(remote.RemoteTree, "_run", run):
        yield


def inspect(root: Path, *extra: str):
    return RUNNER.invoke(cli.app, ["inspect", "--host", "root@old.example.org", "--root",
                                   str(root), "--json", *extra])


@pytest.fixture(scope="module")
def host():
    base = Path(tempfile.mkdtemp(prefix="migrate-hostile-"))
    root = base / "netsight"
    shutil.copytree(SAMPLES / "netsight", root, symlinks=True)
    yield root
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def recorded(host):
    """The real agent's output for every command of an inspection of the sample host (the
    archives scanned there, and streamed with --fetch-archives), by command."""
    out = {}
    for extra in ((), ("--fetch-archives",)):
        outputs: dict[tuple[str, ...], bytes] = {}
        with replaying(outputs, record=True):
            res = inspect(host, *extra)
        assert res.exit_code == 1, res.output  # netsight has findings, no error
        with replaying(outputs):  # the recording replays as the inspection it came from
            again = inspect(host, *extra)
        assert again.exit_code == 1, again.output
        assert json.loads(again.stdout) | {"collected_at": 0} == \
            json.loads(res.stdout) | {"collected_at": 0}
        out[extra] = outputs
    # entries with names, link targets and content, the scans' progress and summaries
    assert {k for k, _p in split(out[()][snap(out[()])])} == {b"M", b"D", b"Z", b"X", b"P", b"S"}
    return out


def snap(outputs: dict) -> tuple[str, ...]:
    """The key of the snapshot command (the first, which holds the archives too)."""
    return next(k for k in outputs if k[0] == "snap" and len(k) == 4)


def edited(outputs: dict, edit: Callable[[Frames], Frames]) -> dict:
    changed = dict(outputs)
    changed[snap(outputs)] = join(edit(split(outputs[snap(outputs)])))
    return changed


def each_json(kind: bytes, change: Callable[[dict], None], only: str | None = None):
    """An edit: ``change`` applied to every ``kind`` frame's JSON (that holds ``only``)."""
    def edit(frames: Frames) -> Frames:
        out, hits = [], 0
        for k, p in frames:
            if k == kind and p:
                value = json.loads(p)
                if only is None or only in value:
                    change(value)
                    p = json.dumps(value).encode()
                    hits += 1
            out.append((k, p))
        assert hits, "the recording has no such frame"
        return out
    return edit


def first(kind: bytes, payload: bytes):
    """An edit: the first ``kind`` frame's payload replaced."""
    def edit(frames: Frames) -> Frames:
        i = next(i for i, (k, _p) in enumerate(frames) if k == kind)
        return frames[:i] + [(kind, payload)] + frames[i + 1:]
    return edit


def deep(n: int) -> str:
    return "[" * n + "]" * n


# --- each kind of malformed frame is the one protocol error -------------------------------------

KINDS = {
    "a path beyond Latin-1": each_json(b"M", lambda e: e.update(p=e["p"] + "\u0100")),
    "a name beyond Latin-1": each_json(b"M", lambda e: e["n"].append("\u20ac"), "n"),
    "a name that is not a string": each_json(b"M", lambda e: e.update(n=[5]), "n"),
    "a link target beyond Latin-1": each_json(b"M", lambda e: e.update(l=e["l"] + "\u0100"),
                                              "l"),
    "a link target that is not a string": each_json(b"M", lambda e: e.update(l=5), "l"),
    "a size as a string": each_json(b"M", lambda e: e.update(s=str(e["s"])), "s"),
    "a mode as a string": each_json(b"M", lambda e: e.update(m=str(e["m"])), "m"),
    "an entry nested 100,000 deep": first(
        b"M", ('{"p": "/etc/rc.conf", "n": %s}' % deep(100_000)).encode()),
    "a summary nested 100,000 deep": first(b"S", deep(100_000).encode()),
    "a 5,000-digit progress count": first(b"P", b"9" * 5000 + b" 10"),
    "a day in a summary that is no day": each_json(b"S", lambda s: s.update(days={"x": 1})),
    "a deferred post that is no post": each_json(b"S", lambda s: s.update(deferred=[
        ["first", 0, None, "no date", "Date: no date", "From a", "From a", None,
         "2004-13-40"]])),
}


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_of_malformed_frame_is_the_one_protocol_error(host, recorded, kind):
    outputs = recorded[()]
    with replaying(edited(outputs, KINDS[kind])):
        res = inspect(host)
    assert res.exit_code == 3, res.output
    assert PROTOCOL in res.output and "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1, res.output


def _past_announced(section: int) -> Callable[[Frames], Frames]:
    """An edit: one more chunk of content after the last one of each file the header
    announced, in the snapshot (``section`` 0: configuration files) or in the stream of
    archives that follows it (1)."""
    def edit(frames: Frames) -> Frames:
        out, ends = [], 0
        for k, p in frames:
            if k == b"Z" and ends == section:
                out.append((b"D", b"more than announced"))
            ends += k == b"X"
            out.append((k, p))
        assert len(out) > len(frames)
        return out
    return edit


@pytest.mark.parametrize("extra, section", [((), 0), (("--fetch-archives",), 1)],
                         ids=["configuration", "archive"])
def test_content_past_its_announced_size_is_refused(host, recorded, extra, section):
    """In the snapshot (configuration files, sent whole) and in the stream of archives (read
    as they come, by the scanner's reader thread)."""
    outputs = recorded[extra]
    with replaying(edited(outputs, _past_announced(section))):
        res = inspect(host, *extra)
    assert res.exit_code == 3, res.output
    assert PROTOCOL in res.output


def test_a_snapshot_file_past_the_agents_own_cap_is_refused():
    """The agent sends configuration files whole up to its MAX_CONTENT; a header that announces
    more is refused before any of it is read."""
    header = {"p": "/etc/rc.conf", "k": "file", "s": 1, "m": 0o644, "u": 0, "g": 0, "t": 0,
              "c": remote_agent.MAX_CONTENT + 1}
    stream = remote._AgentStream(Channel(frame(b"M", json.dumps(header).encode())),
                                 remote.Stats())
    with pytest.raises(MigrateError, match=PROTOCOL):
        list(stream.entries())


def test_the_bounds_hold_what_the_agent_sends():
    """A summary's deepest nesting is MAX_DEPTH, one more is refused; the agent's chunk fits
    a content frame."""
    summary = mboxscan.new_summary()
    summary["examples"] = {"loose": [[1, 2, "From x", None]]}
    assert remote._json_object(json.dumps(summary).encode()) == summary
    summary["examples"] = {"loose": [[1, 2, "From x", [None]]]}
    with pytest.raises(MigrateError, match=PROTOCOL):
        remote._json_object(json.dumps(summary).encode())
    assert remote.FRAME_LIMITS[b"D"] == remote_agent.CHUNK


def test_a_host_that_never_exits_is_a_stall():
    """After its last frame, waiting for the agent's exit status is bounded too."""
    stream = remote._AgentStream(Channel(frame(b"X", b""), exited=False), remote.Stats())
    list(stream.entries())
    with mock.patch.object(remote, "READ_TIMEOUT", 0.05, create=True), \
            pytest.raises(MigrateError, match="the old host sent nothing") as err:
        stream.finish("reading the old host's files")
    assert err.value.code == 4


# --- random mutations ---------------------------------------------------------------------------

_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats() | st.text(max_size=20)
    | st.sampled_from(["\u0100", "\x00", "/", "..", "", "9" * 30, "2004-13-01", "0000-01-01"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner,
                                                                 max_size=4),
    max_leaves=8)


_HOW = st.sampled_from(["field", "drop", "add", "nest", "bytes", "truncate", "length", "frame",
                        "repeat", "remove", "progress"])


@st.composite
def mutations(draw, commands: int) -> tuple[int, list[tuple]]:
    """Which command's stream to change, and one to three changes: ``(how, where, value)``
    with ``where`` a fraction of the stream's frames (or bytes)."""
    ops = []
    for _ in range(draw(st.integers(1, 3))):
        how = draw(_HOW)
        where = draw(st.floats(0, 1, exclude_max=True))
        if how in ("field", "add"):
            value = (draw(st.text(max_size=4)), draw(_VALUES))
        elif how == "nest":
            value = draw(st.integers(1, 20_000))
        elif how in ("bytes", "truncate"):
            value = (draw(st.floats(0, 1, exclude_max=True)), draw(st.integers(0, 255)))
        elif how == "length":
            value = draw(st.integers(0, 2**32 - 1))
        elif how == "frame":
            value = (draw(st.sampled_from([b"M", b"D", b"Z", b"X", b"P", b"S", b"Q"])),
                     draw(st.binary(max_size=40)))
        elif how == "progress":
            value = draw(st.sampled_from([b"9" * 5000, b"-1 2", b"1", b"1 2 3", b"\xff 1",
                                          b" 1 2", b"1e9 2"]))
        else:
            value = None
        ops.append((how, where, value))
    return draw(st.integers(0, commands - 1)), ops


def mutated(outputs: dict, command: int, ops: list[tuple]) -> dict:
    """``outputs`` with the stream of the ``command``-th command changed by ``ops``."""
    key = sorted(outputs)[command]
    frames = split(outputs[key])
    data = None
    for how, where, value in ops:
        i = int(where * len(frames))
        kind, payload = frames[i]
        if how in ("field", "drop", "add", "nest") and kind in b"MSZ":
            try:
                obj = json.loads(payload)
            except ValueError:
                continue
            if not isinstance(obj, dict):
                continue
            names = sorted(obj) or ["p"]
            name = names[int(where * 7919) % len(names)]
            if how == "field":
                obj[name] = value[1]
            elif how == "drop":
                obj.pop(name, None)
            elif how == "add":
                obj[value[0]] = value[1]
            else:
                obj[name] = "\0nested"
            payload = json.dumps(obj).encode()
            if how == "nest":
                payload = payload.replace(b'"\\u0000nested"', deep(value).encode())
            frames[i] = (kind, payload)
        elif how == "bytes" and payload:
            at = int(value[0] * len(payload))
            frames[i] = (kind, payload[:at] + bytes([value[1]]) + payload[at + 1:])
        elif how == "truncate":
            whole = join(frames)
            data = whole[:int(value[0] * len(whole))]
            break
        elif how == "length":
            head, rest = join(frames[:i]), join(frames[i:])
            data = head + rest[:1] + struct.pack(">I", value) + rest[5:]
            break
        elif how == "frame":
            frames.insert(i, value)
        elif how == "repeat":
            frames.insert(i, frames[i])
        elif how == "remove" and len(frames) > 1:
            del frames[i]
        elif how == "progress" and kind == b"P":
            frames[i] = (kind, value)
    changed = dict(outputs)
    changed[key] = join(frames) if data is None else data
    return changed


@pytest.mark.slow
def test_random_mutations_of_the_real_agents_output_exit_0_1_or_3(host, recorded):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    seen: dict[int, int] = {}
    for extra, examples in (((), 150), (("--fetch-archives",), 60)):
        outputs = recorded[extra]

        @settings(max_examples=examples, derandomize=True, database=None, deadline=None,
                  suppress_health_check=list(HealthCheck))
        @given(mutations(len(outputs)))
        def check(mutation: tuple[int, list[tuple]]) -> None:
            with replaying(mutated(outputs, *mutation)):
                res = inspect(host, *extra)
            seen[res.exit_code] = seen.get(res.exit_code, 0) + 1
            assert res.exit_code in (0, 1, 3), res.output
            assert "Traceback" not in res.output
        check()
    print("exit codes of the mutations:", seen)
    assert seen.get(3), seen  # the mutations reached the checks
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before  # KiB
    assert grown < 256 * 1024, f"the client's peak grew by {grown // 1024} MiB"


# --- over the real sshd -------------------------------------------------------------------------

HOSTILE = b'''import json, struct, sys
out = sys.stdout.buffer
def frame(kind, payload):
    out.write(kind + struct.pack(">I", len(payload)) + payload)
frame(b"M", json.dumps({"p": "/etc/rc.conf", "k": "file", "s": 10, "m": 420, "u": 0, "g": 0,
                        "t": 0, "c": 10}).encode())
chunk = b"#" * (1024 * 1024)
for _ in range(1024):  # 1 GiB for a file announced as 10 bytes
    frame(b"D", chunk)
frame(b"Z", b"")
frame(b"X", b"")
'''

# Runs the CLI with another agent program (argv[1]) and writes its peak RSS (KiB) to argv[2].
# The peak is VmHWM, this process's own: getrusage's ru_maxrss would carry over the peak of the
# process that spawned it (Linux keeps it across exec), here pytest's after the earlier tests.
DRIVER = '''import atexit, re, sys
from migrate.app import remote
program, peak = open(sys.argv[1], "rb").read(), sys.argv[2]
remote.agent_program = lambda: program
atexit.register(lambda: open(peak, "w").write(
    re.search(r"VmHWM:\\s*(\\d+)", open("/proc/self/status").read()).group(1)))
from migrate.app.cli import app
sys.argv = ["migrate"] + sys.argv[3:]
app()
'''


@pytest.fixture(scope="module")
def sshd():
    with sshd_running() as server:
        yield server


def _ssh_args(sshd, root: Path) -> list[str]:
    return ["inspect", "--host", "root@127.0.0.1", "--port", str(sshd.port), "--identity",
            str(sshd.key), "--known-hosts", str(sshd.known_hosts), "--root", str(root)]


def test_1_gib_for_a_file_announced_small_keeps_the_clients_memory_flat(sshd, host, tmp_path):
    program, peak = tmp_path / "agent.py", tmp_path / "peak"
    program.write_bytes(HOSTILE)
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-c", DRIVER, str(program), str(peak),
                           *_ssh_args(sshd, host)], cwd=REPO, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONPATH": str(REPO)})
    took = time.monotonic() - start
    rss = int(peak.read_text()) // 1024  # MiB
    print(f"hostile 1 GiB: exit {done.returncode} in {took:.1f} s, client peak RSS {rss} MiB")
    assert rss < 150, f"the client's peak RSS was {rss} MiB"
    assert done.returncode == 3, done.stderr
    assert PROTOCOL in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("program", [
    b"import time\ntime.sleep(30)\n",
    b"import sys, time\nsys.stdout.buffer.write(b'M\\0\\0\\0\\x10{\"p\": ')\n"
    b"sys.stdout.flush()\ntime.sleep(30)\n",
], ids=["nothing", "half a frame"])
def test_a_stalled_host_stops_the_inspection_naming_it(sshd, host, program):
    start = time.monotonic()
    with mock.patch.object(remote, "agent_program", lambda: program), \
            mock.patch.object(remote, "READ_TIMEOUT", 2.0, create=True):
        res = RUNNER.invoke(cli.app, _ssh_args(sshd, host))
    took = time.monotonic() - start
    assert res.exit_code == 4, res.output
    line = res.output.strip()
    assert len(line.splitlines()) == 1, line
    assert "root@127.0.0.1 sent nothing for 2 s" in line and "run again" in line, line
    assert took < 30, took


def test_a_host_that_refuses_the_session_is_one_clear_error(host):
    """An sshd that authenticates but opens no session (here MaxSessions 0)."""
    with sshd_running(config="MaxSessions 0\n") as refusing:
        res = RUNNER.invoke(cli.app, _ssh_args(refusing, host))
    assert res.exit_code == 4, res.output
    line = res.output.strip()
    assert len(line.splitlines()) == 1, line
    assert "root@127.0.0.1 did not let the inspection run" in line, line
