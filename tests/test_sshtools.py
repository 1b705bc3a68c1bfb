"""The test sshd's two disguises (tests/sshtools.py): a host without Python 3 but with Python
2.7, as migrate's client finds Python there, and a network namespace behind a shaped link whose
interface counters count what sshd sends."""

from __future__ import annotations

import subprocess
import time

import pytest

from sshtools import Sshd, sshd_running

# migrate's client looks for the agent's Python with this loop (run by sshd's `sh -c`)
FIND_PYTHON = ('for p in python3 python2.7 python2 python /usr/local/bin/python2.7 '
               '/usr/local/bin/python3; do if [ -n "$(command -v "$p")" ]; then '
               'exec "$p" - "$@"; fi; done; echo "no python" >&2; exit 127')


def ssh(server: Sshd, command: str, stdin: bytes = b"",
        timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(server.ssh_args() + [command], input=stdin, capture_output=True,
                          timeout=timeout)


def sh_c(script: str) -> str:
    """The remote command ``sh -c 'SCRIPT'`` (the script single-quoted for the login shell)."""
    return "sh -c '" + script.replace("'", "'\\''") + "'"


@pytest.fixture(scope="module")
def old_host():
    with sshd_running(no_python3=True) as server:
        yield server


def test_without_python3_the_loop_lands_on_python27(old_host):
    res = ssh(old_host, sh_c(FIND_PYTHON),
              b"import sys\nprint(sys.version.split()[0])\nprint(sys.executable)\n")
    assert res.returncode == 0, res.stderr.decode()
    version, executable = res.stdout.decode().split("\n")[:2]
    assert version == "2.7.18", version
    assert executable.endswith("python2.7"), executable


def test_without_python3_no_python3_runs(old_host):
    res = ssh(old_host, sh_c('command -v python3 python3.11 /usr/local/bin/python3; '
                             'echo "path=$PATH"'))
    lines = res.stdout.decode().splitlines()
    assert [x for x in lines if not x.startswith("path=")] == [], lines  # found none
    # run directly, each python3 on the session's PATH fails
    path = next(x for x in lines if x.startswith("path="))[5:]
    assert ".pyenv" not in path, path  # root's ~/.bashrc would put pyenv's shims first
    for d in path.split(":"):
        res = ssh(old_host, sh_c(f'for f in {d}/python3*; do [ -e "$f" ] || continue; '
                                 '"$f" -c "print(1)" && echo "ran $f"; done; true'))
        assert b"ran " not in res.stdout, (d, res.stdout)
    # nor through the login shell (bash, for root), by name or by its usual paths
    for cmd in ("python3", "python3.11", "/usr/bin/python3", "/bin/python3",
                "/usr/local/bin/python3"):
        res = ssh(old_host, f"{cmd} -c 'print(1)'")
        assert res.returncode == 127 and res.stdout == b"", (cmd, res)


def test_without_python3_only_inside_the_namespace(old_host):
    out = subprocess.run(["sh", "-c", "command -v python3"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip(), "python3 hidden outside sshd's namespace"


def test_default_sshd_still_offers_python3():
    with sshd_running() as server:
        assert server.host == "127.0.0.1" and server.netns is None
        res = ssh(server, sh_c(FIND_PYTHON), b"import sys\nprint(sys.version_info[0])\n")
        assert res.returncode == 0, res.stderr.decode()
        assert res.stdout.decode().strip() == "3"


def _links() -> str:
    return subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout


def _namespaces() -> str:
    return subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout


def test_netns_counts_bytes_and_is_removed_afterwards():
    size = 5_000_000
    with sshd_running(netns=True) as server:
        assert server.host.startswith("10.199.") and server.host != "127.0.0.1"
        assert f"[{server.host}]:{server.port} " in server.known_hosts.read_text()
        veth, ns = server.veth, server.netns
        assert f" {veth}@" in _links() and ns in _namespaces()
        before = server.bytes_received()
        res = ssh(server, f"head -c {size} /dev/zero")
        after = server.bytes_received()
        assert res.returncode == 0 and len(res.stdout) == size, res.stderr.decode()
        # the payload, plus SSH framing, TCP/IP headers and the key exchange: a few percent
        assert size <= after - before <= size * 1.1 + 100_000, after - before
    assert f" {veth}@" not in _links()
    assert ns not in _namespaces()


def test_netns_rate_shapes_the_link():
    """5 MB at 20 Mbit/s take 2.0 s: not a timing assertion on the code, a check that the
    shaping is in place (an unshaped veth moves 5 MB in a few tens of milliseconds)."""
    size = 5_000_000
    with sshd_running(netns_rate="20mbit") as server:
        qdisc = subprocess.run(["tc", "qdisc", "show", "dev", server.veth], capture_output=True,
                               text=True).stdout
        assert "tbf" in qdisc and "20Mbit" in qdisc, qdisc
        inner = subprocess.run(["ip", "netns", "exec", server.netns, "tc", "qdisc", "show"],
                               capture_output=True, text=True).stdout
        assert "tbf" in inner and "20Mbit" in inner, inner
        ssh(server, "true")  # connect once, so the key exchange is not timed below
        t0 = time.monotonic()
        res = ssh(server, f"head -c {size} /dev/zero")
        seconds = time.monotonic() - t0
        assert res.returncode == 0 and len(res.stdout) == size, res.stderr.decode()
        assert seconds > 1.5, f"5 MB in {seconds:.2f} s: the link is not shaped to 20 Mbit/s"
        assert seconds < 30, f"5 MB in {seconds:.2f} s: far slower than 20 Mbit/s"


def test_netns_is_removed_when_sshd_fails(tmp_path):
    before_links, before_ns = _links(), _namespaces()
    bad_key = tmp_path / "not_a_key"
    bad_key.write_text("garbage\n")
    (tmp_path / "not_a_key.pub").write_text("garbage\n")
    with pytest.raises(subprocess.CalledProcessError):
        with sshd_running(bad_key, netns_rate="20mbit"):
            pass
    assert _namespaces() == before_ns
    assert sorted(x.split(":")[1] for x in _links().splitlines() if "mgt" in x) == \
        sorted(x.split(":")[1] for x in before_links.splitlines() if "mgt" in x)
