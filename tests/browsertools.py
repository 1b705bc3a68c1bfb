"""Headless Chromium, asked over its DevTools protocol what a page it loaded became.

``load_page(path)`` starts Debian's ``chromium`` headless with a throwaway profile and
``--remote-debugging-pipe`` (the protocol's JSON messages, each ended by a NUL byte, on the
browser's file descriptors 3 and 4: no port, no WebSocket), opens a tab, turns on the console
and log domains, loads the file and, once its load event fired, runs ``PROBE`` in the page. It
returns a ``Page``: what the probe found (the rendered DOM's title, headings, tables, the SVG
charts' laid-out size and bars, the internal links that lead nowhere) and every error the page
raised: uncaught exceptions, ``console.error``, and the browser's own log entries of level
error (a bad SVG attribute, a resource that failed to load). Chromium's stderr is not read for
them: Debian's launcher script writes its own noise there.

The browser reaches no network: every host name resolves to nothing and every request goes to
a closed loopback port, so only ``file:`` pages load (the reports are self-contained) and
nothing leaves the machine.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from conftest import need

#: How long one page may take, start to close (it takes about a second).
TIMEOUT = 60.0

FLAGS = (
    "--headless",
    # The page is the test's own; Chromium's sandbox refuses to start as root (make test's user)
    # and needs user namespaces otherwise, which containers often lack.
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--window-size=1300,2000",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-extensions",
    "--disable-component-extensions-with-background-pages",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-sync",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--disable-features=Translate,OptimizationHints,MediaRouter,DialMediaRouteProvider",
    "--metrics-recording-only",
    "--mute-audio",
    "--password-store=basic",
    "--use-mock-keychain",
    # no network: no name resolves, and whatever would be fetched goes to a closed local port
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--proxy-server=127.0.0.1:9",
    "--remote-debugging-pipe",
)

#: Run in the loaded page; returns what it became, as JSON-able values.
PROBE = r"""(() => {
  const visible = e => {
    const s = getComputedStyle(e);
    return s.display !== "none" && s.visibility !== "hidden" && Number(s.opacity) > 0;
  };
  const ids = [...document.querySelectorAll("[id]")].map(e => e.id);
  const hrefs = [...document.querySelectorAll("[href], [*|href]")]
    .map(e => e.getAttribute("href") ?? e.getAttributeNS("http://www.w3.org/1999/xlink", "href"))
    .filter(h => h !== null && h.startsWith("#"));
  const target = h => {
    let id = h.slice(1);
    try { id = decodeURIComponent(id); } catch (e) { return null; }
    return id ? document.getElementById(id) : null;
  };
  const charts = [...document.querySelectorAll("svg")].map(svg => {
    const box = svg.getBoundingClientRect();
    const bars = [...svg.querySelectorAll("rect")].map(r => {
      const b = r.getBoundingClientRect();
      return {width: b.width, height: b.height, fill: getComputedStyle(r).fill,
              shown: visible(r)};
    });
    return {width: box.width, height: box.height, shown: visible(svg),
            elements: svg.querySelectorAll("*").length, bars,
            label: svg.getAttribute("aria-label")};
  });
  return {
    readyState: document.readyState,
    title: document.title,
    h1: [...document.querySelectorAll("h1")].filter(visible).map(h => h.textContent.trim()),
    h2: [...document.querySelectorAll("h2")].filter(visible).map(h => h.textContent.trim()),
    tables: [...document.querySelectorAll("table")].filter(visible).map(t => ({
      rows: t.querySelectorAll("tbody tr").length,
      height: t.getBoundingClientRect().height})),
    bodyHeight: document.body ? document.body.getBoundingClientRect().height : 0,
    charts,
    ids,
    duplicateIds: [...new Set(ids.filter((id, i) => ids.indexOf(id) !== i))],
    internalLinks: hrefs,
    brokenLinks: hrefs.filter(h => target(h) === null),
  };
})()"""


class BrowserError(AssertionError):
    """Chromium did not start, answer or load the page in time: the message says what it did."""


@dataclass
class Page:
    url: str
    found: dict
    #: one line per error the page raised (exception, console.error, log entry of level error)
    errors: list[str] = field(default_factory=list)


def chromium_binary() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    need(path is not None, "chromium is not installed (tools/install-test-deps.sh installs it)")
    return path  # type: ignore[return-value]


def _above_4(fd: int) -> int:
    """``fd`` moved to 10 or above: made fd 3 or 4, it cannot clobber the other one."""
    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return high


class _Pipe:
    """One browser, its DevTools pipe, and the events it sent while a command was awaited."""

    def __init__(self, binary: str, profile: Path, deadline: float) -> None:
        self.deadline = deadline
        self.events: list[dict] = []
        self._next = 0
        self._buf = b""
        to_r, self._to_w = os.pipe()
        self._from_r, from_w = os.pipe()
        to_r, from_w = (_above_4(fd) for fd in (to_r, from_w))
        self._stderr = tempfile.TemporaryFile()
        # the launcher (a shell script) and the browser it execs get the pipe as fds 3 and 4
        # (bash: dash takes no fd above 9)
        argv = [binary, *FLAGS, f"--user-data-dir={profile}", "about:blank"]
        self.proc = subprocess.Popen(
            ["bash", "-c", f'exec "$@" 3<&{to_r} 4>&{from_w} {to_r}<&- {from_w}>&-', "bash", *argv],
            pass_fds=(to_r, from_w), stdin=subprocess.DEVNULL, stdout=self._stderr,
            stderr=self._stderr, start_new_session=True)
        os.close(to_r)
        os.close(from_w)

    def stderr(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")[-3000:]

    def _fail(self, what: str) -> BrowserError:
        return BrowserError(f"chromium: {what}\n--- its stderr ---\n{self.stderr()}")

    def _read(self) -> dict:
        while b"\0" not in self._buf:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise self._fail("no answer in time")
            ready, _, _ = select.select([self._from_r], [], [], left)
            if ready:
                chunk = os.read(self._from_r, 1 << 16)
                if not chunk:
                    raise self._fail(f"closed its pipe (exit status {self.proc.poll()})")
                self._buf += chunk
        raw, _, self._buf = self._buf.partition(b"\0")
        return json.loads(raw)

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self._next += 1
        msg = {"id": self._next, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        try:
            os.write(self._to_w, json.dumps(msg).encode() + b"\0")
        except BrokenPipeError:
            raise self._fail(f"gone before {method} (exit status {self.proc.wait()})") from None
        while True:
            got = self._read()
            if got.get("id") == self._next:
                if "error" in got:
                    raise self._fail(f"{method}: {got['error']}")
                return got.get("result", {})
            if "method" in got:
                self.events.append(got)

    def wait_event(self, method: str, session: str) -> dict:
        seen = 0
        while True:
            for ev in self.events[seen:]:
                if ev["method"] == method and ev.get("sessionId") == session:
                    return ev
            seen = len(self.events)
            got = self._read()
            if "method" in got:
                self.events.append(got)

    def close(self) -> None:
        try:
            if self.proc.poll() is None:
                os.write(self._to_w, json.dumps({"id": 0, "method": "Browser.close"}).encode()
                         + b"\0")
                self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            pass
        finally:
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGKILL)  # its own session: it and its children
                self.proc.wait()
            os.close(self._to_w)
            os.close(self._from_r)
            self._stderr.close()


def _error_lines(events: list[dict], session: str) -> list[str]:
    out = []
    for ev in events:
        if ev.get("sessionId") != session:
            continue
        p = ev.get("params", {})
        if ev["method"] == "Runtime.exceptionThrown":
            d = p["exceptionDetails"]
            text = d.get("exception", {}).get("description") or d.get("text", "")
            out.append(f"exception at {d.get('url', '')}:{d.get('lineNumber', 0) + 1}: {text}")
        elif ev["method"] == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            args = " ".join(str(a.get("value", a.get("description", ""))) for a in p["args"])
            out.append(f"console.{p['type']}: {args}")
        elif ev["method"] == "Log.entryAdded" and p["entry"]["level"] == "error":
            e = p["entry"]
            out.append(f"log ({e.get('source')}) {e.get('url', '')}: {e['text']}")
    return out


def load_page(path: Path, *, binary: str | None = None, timeout: float = TIMEOUT) -> Page:
    """Load the file ``path`` in a fresh headless Chromium and say what it became."""
    binary = binary or chromium_binary()
    url = Path(path).resolve().as_uri()
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        pipe = _Pipe(binary, Path(profile), time.monotonic() + timeout)
        try:
            target = pipe.send("Target.createTarget", {"url": "about:blank"})["targetId"]
            session = pipe.send("Target.attachToTarget",
                                {"targetId": target, "flatten": True})["sessionId"]
            for domain in ("Page", "Runtime", "Log"):
                pipe.send(f"{domain}.enable", session=session)
            nav = pipe.send("Page.navigate", {"url": url}, session=session)
            if nav.get("errorText"):
                raise pipe._fail(f"could not load {url}: {nav['errorText']}")
            pipe.wait_event("Page.loadEventFired", session)
            res = pipe.send("Runtime.evaluate", {"expression": PROBE, "returnByValue": True},
                            session=session)
            if "exceptionDetails" in res:
                raise pipe._fail(f"the probe failed: {res['exceptionDetails']}")
            found = res["result"]["value"]
            return Page(url, found, _error_lines(pipe.events, session))
        finally:
            pipe.close()
