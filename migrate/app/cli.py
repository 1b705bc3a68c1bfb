"""The ``migrate`` command line: thin commands over library functions, one error boundary.

Exit codes: one table for every verb (``migrate.core.errors.EXIT_MEANINGS``), shown by README.md
and every verb's ``--help``; an internal error's traceback goes to a log file that the message
names, never to the terminal. Every verb takes ``--quiet`` (only its closing one-line summary)
and ``--json`` (machine output on stdout, diagnostics on stderr).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import inspect as pyinspect
import json
import os
import re
import shlex
import tempfile
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Optional

import typer
import typer.core
from rich.markup import escape as _markup_escape

from migrate import __version__

from migrate.core import codec

from migrate.app import ui
from migrate.core.errors import EXIT_MEANINGS, Exit, MigrateError
from migrate.app.fileio import check_replaceable_file, write_atomic
from migrate.app.inspection import (exit_code_for, inspect_tree, no_progress, open_local_root,
                                    remote_mbox_dirs, remote_spec)
from emitters.release import NEWEST_STABLE
from migrate.core.model import Inventory, Origin, OriginKind
from migrate.core.mta import plugins
from parsers.pipermail import LINE_NUMBER_LIMIT
from migrate.app.planning import (build_plan, prepare_overlay, read_target_file, resolve_target,
                                  write_plan)


def _exit_codes_help() -> str:
    """The exit-code table as every ``--help`` shows it (from EXIT_MEANINGS, the one
    definition)."""
    rows = "\n".join(f"  {int(code):>3}  {_markup_escape(meaning)}"
                     for code, meaning in EXIT_MEANINGS.items())
    return f"\n[bold]Exit codes[/bold] (the same for every verb)\n\n{rows}\n"


EXIT_CODES_HELP = _exit_codes_help()


class _Plain:
    """Help as the ecosystem's tools write it: a flag shows no type (typer would print
    ``<bool>``), and every other option names its value (``FILE``, ``HOST``, ``ADDR``: each
    option below says it; tests/test_exit_codes.py holds every verb's help to that); every
    help ends with the exit-code table."""

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.epilog = (self.epilog or "") + EXIT_CODES_HELP  # type: ignore[has-type]
        for param in self.params:  # type: ignore[attr-defined]
            if getattr(param, "is_flag", False) and param.metavar is None:
                param.metavar = ""
            if isinstance(param, typer.core.TyperArgument):  # its metavar says it: no <path>
                param.display_type_rich = lambda ctx: None  # type: ignore[method-assign]

    def get_help_option(self, ctx):  # type: ignore[no-untyped-def]
        option = super().get_help_option(ctx)  # type: ignore[misc]
        if option is not None and option.metavar is None:
            option.metavar = ""
        return option


class _Command(_Plain, typer.core.TyperCommand):
    """A verb whose usage line names its arguments as the ecosystem's tools do (``PLAN_DIR``,
    not typer's ``{plan_dir}`` for a required one)."""

    def collect_usage_pieces(self, ctx):  # type: ignore[no-untyped-def]
        return [re.sub(r"^\{(.*)\}", r"\1", p) for p in super().collect_usage_pieces(ctx)]


class _Group(_Plain, typer.core.TyperGroup):
    """The root and ``export``: their flags as plain as the verbs'."""


app = typer.Typer(
    name="migrate",
    help="Move a legacy Mailman 2 list host (FreeBSD, Exim, Apache) onto OpenBSD "
    "(OpenSMTPD, httpd + slowcgi, the mailman package).\n\n"
    "The flow: [bold]inspect[/bold] the old host into an inventory, [bold]plan[/bold] the "
    "new host's files and the cutover from it, then [bold]cutover[/bold] during the DNS switch.",
    rich_markup_mode="rich",
    cls=_Group,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@contextlib.contextmanager
def error_boundary() -> Iterator[None]:
    """Expected errors: one line, documented exit code. Anything else: a crash log."""
    try:
        yield
    except MigrateError as exc:
        ui.error_line(exc.one_line())
        raise typer.Exit(int(exc.code)) from None
    except KeyboardInterrupt:
        ui.error_line("interrupted; a cutover's journal says where it stopped (`migrate status "
                      "PLAN`), --execute --resume goes on")
        raise typer.Exit(int(Exit.INTERRUPTED)) from None
    except (typer.Exit, typer.Abort):
        raise
    except Exception:  # noqa: BLE001 - the boundary: log it, say where, exit 70
        log = _crash_log(traceback.format_exc())
        ui.error_line(f"internal error (a bug in migrate {__version__}); "
                      f"the traceback is in {log}: please report it with that file")
        raise typer.Exit(int(Exit.INTERNAL)) from None


def _crash_log(text: str) -> str:
    folder = os.environ.get("XDG_STATE_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "state")
    folder = os.path.join(folder, "migrate")
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError:
        folder = tempfile.gettempdir()
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    fd, path = tempfile.mkstemp(prefix=f"crash-{stamp}-", suffix=".log", dir=folder)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    return path


def _defines(items: list[str]) -> dict[str, str]:
    """``-D NAME=VALUE`` items, each name one that an old MTA's plugin takes."""
    out = {}
    for item in items:
        name, eq, value = item.partition("=")
        problems = [p.reader.define_problem(name) for p in plugins()]
        if None not in problems:
            raise MigrateError(f"-D {item!r}: {'; '.join(dict.fromkeys(problems))}",
                               code=Exit.USAGE)
        out[name] = value if eq else ""
    return out


def _version(value: bool) -> None:
    if value:
        ui.plain_stdout(f"migrate {__version__}")
        raise typer.Exit(0)


@app.callback()
def _main(
    version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True, help="Print the version and exit.")] = False,
) -> None:
    """Root options."""


INSPECT_EXAMPLES = """\
[bold]Examples[/bold]

  Inspect a copy of the old host's / and review the summary:
    [cyan]migrate inspect --root /srv/oldhost -o inventory.yaml[/cyan]

  The same inventory as JSON for a script:
    [cyan]migrate inspect --root /srv/oldhost --json | jq .host.hostname[/cyan]

  Over SSH (read-only), as root through sudo; the archives are scanned on the old host:
    [cyan]migrate inspect --host admin@lists.example.org --sudo -o inventory.yaml[/cyan]

  The same, but bring every archive mbox across the link and scan it here:
    [cyan]migrate inspect --host admin@lists.example.org --sudo --fetch-archives[/cyan]
"""


@app.command(cls=_Command, epilog=INSPECT_EXAMPLES)
def inspect(
    root: Annotated[Optional[Path], typer.Option(
        "--root", metavar="DIR", help="The old host's / as a local folder (a snapshot or "
        "mounted disk); "
        "with --host, the prefix of the host's tree on the remote side.",
        file_okay=True, dir_okay=True, resolve_path=False)] = None,
    host: Annotated[Optional[str], typer.Option(
        "--host", metavar="USER@HOST[:PORT]", help="Inspect the old host over SSH.")] = None,
    port: Annotated[Optional[int], typer.Option("--port", metavar="PORT",
                                                help="SSH port (default: 22, or the one "
                                                "USER@HOST:PORT names).")] = None,
    identity: Annotated[Optional[Path], typer.Option(
        "--identity", metavar="FILE", help="SSH private key file.")] = None,
    known_hosts: Annotated[Optional[Path], typer.Option(
        "--known-hosts", metavar="FILE", help="known_hosts file to verify the host key against "
        "(default: ~/.ssh/known_hosts).")] = None,
    accept_host_key: Annotated[Optional[str], typer.Option(
        "--accept-host-key", metavar="SHA256:...", help="Accept only the host key with this "
        "fingerprint (as `ssh-keygen -lf` prints it), instead of known_hosts.")] = None,
    sudo: Annotated[bool, typer.Option("--sudo", help="Read files through `sudo -n`.")] = False,
    timeout: Annotated[float, typer.Option(
        "--timeout", metavar="SECONDS", help="Give up connecting after this long.")] = 15,
    output: Annotated[Optional[str], typer.Option(
        "-o", "--output", metavar="FILE",
        help="Where to write the inventory: YAML, or JSON if FILE ends in .json; '-' for "
        "stdout (YAML). Default: inventory.yaml, or none with --json.")] = None,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print the inventory as JSON on stdout instead of the summary.")] = False,
    quiet: Annotated[bool, typer.Option(
        "-q", "--quiet", help="Print only the closing line (where the inventory went, the "
        "findings by severity); errors still go to stderr.")] = False,
    define: Annotated[Optional[list[str]], typer.Option(
        "-D", "--define", metavar="NAME=VALUE",
        help="Override a macro of the old MTA's configuration (Exim's, as `exim -D` "
        "does; repeatable).")] = None,
    fetch_archives: Annotated[bool, typer.Option(
        "--fetch-archives", help="With --host: bring every archive mbox across the link and "
        "scan it here, instead of scanning it on the old host and bringing back its summary "
        "(the default). Costs the archives' whole size on the wire (20 GB at 20 Mbit/s is over "
        "two hours) but runs nothing on the old host beyond reading; the default costs a few "
        "kB per list on the wire and one CPU core of the old host while it reads each mbox "
        "once.")] = False,
) -> None:
    """Read the old host (a local tree or over SSH) into an inventory (YAML).

    Nothing on the old host is changed. The inventory carries every alias, list and archive
    with the file and line it came from, and findings that say what to do before the move.
    Member and admin passwords are never read.
    """
    with error_boundary():
        if root is None and host is None:
            raise MigrateError("give --root DIR or --host USER@HOST", code=Exit.USAGE)
        if fetch_archives and host is None:
            raise MigrateError("--fetch-archives goes with --host (a local --root reads the "
                               "archives where they are)", code=Exit.USAGE)
        target = output if output is not None else (None if as_json else "inventory.yaml")
        if target not in (None, "-"):
            check_replaceable_file(target)  # before a long inspection, not after it
        progress = no_progress if as_json or quiet or target == "-" else ui.archive_progress
        if host is not None:
            inv = _inspect_remote(host, str(root) if root is not None else "/", port=port,
                                  identity=str(identity) if identity else None,
                                  known_hosts=str(known_hosts) if known_hosts else None,
                                  accept_host_key=accept_host_key, sudo=sudo, timeout=timeout,
                                  defines=_defines(define or []), progress=progress,
                                  fetch_archives=fetch_archives)
        else:
            assert root is not None
            root_text = str(root)
            tree = open_local_root(root_text)
            inv = inspect_tree(tree, Origin(OriginKind.LOCAL, os.path.abspath(root_text)),
                               defines=_defines(define or []), progress=progress)
        if target == "-":
            ui.plain_stdout(codec.dump_yaml(inv))
        elif target is not None:
            # Member addresses are personal data: the inventory is readable by its owner only.
            # A .json name gets JSON: the same inventory, read about 40 times faster by `plan`
            # on a very large host (PyYAML builds every value in Python).
            text = codec.dump_json(inv) if target.endswith(".json") else codec.dump_yaml(inv)
            check_replaceable_file(target)  # again: it may have changed meanwhile
            write_atomic(target, text, mode=0o600)
        code = exit_code_for(inv)
        for f in inv.findings:
            if code == Exit.INPUT and f.id.startswith("input.") and f.severity.serious:
                ui.error_line(ui.finding_line(f))
        if as_json:
            ui.plain_stdout(codec.dump_json(inv))
        elif target != "-":
            if not quiet:
                ui.inventory_summary(inv)
            ui.say(ui.inventory_line(inv, target))
        raise typer.Exit(int(code))


def _inspect_remote(host: str, root: str, *, port, identity, known_hosts, accept_host_key,
                    sudo, timeout, defines, progress, fetch_archives=False) -> Inventory:
    """Connect, take the snapshot (the archives scanned on the old host, unless
    ``fetch_archives``), check it looks like a host, inspect it."""
    from migrate.app import remote  # paramiko is imported only when SSH is used

    client = remote.connect(host, port=port, identity=identity, known_hosts=known_hosts,
                            accept_host_key=accept_host_key, timeout=timeout)
    t = remote.ssh_target(host, port, identity)
    tree = remote.RemoteTree(client, root=root, sudo=sudo, label=host)
    try:
        now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
        tree.snapshot(remote_spec(), mbox_dirs=remote_mbox_dirs(),
                      scan_now=None if fetch_archives else now, line_limit=LINE_NUMBER_LIMIT)
        if not any(tree.is_dir(d) for d in ("/etc", "/usr", "/var")):
            raise MigrateError(f"{root} on {t.host} does not look like a host's root: no etc/, "
                               "usr/ or var/", code=Exit.INPUT,
                               hint="--root with --host names the prefix of the host's tree")
        origin = Origin(OriginKind.SSH, root, host=t.host, user=t.user, port=t.port)
        return inspect_tree(tree, origin, now=now, defines=defines, progress=progress)
    finally:
        tree.close()


PLAN_EXAMPLES = """\
[bold]Examples[/bold]

  Plan an IPv6-only OpenBSD host with an upstream smarthost:
    [cyan]migrate plan inventory.yaml --hostname lists.example.org --ipv6 2001:db8:40::25 --smarthost smtp.example.net -o plan/[/cyan]

  The same from a settings file (flags still win), for an older release:
    [cyan]migrate plan inventory.yaml --target target.yaml --openbsd 6.3 -o plan-6.3/[/cyan]

  Change an emitted file through an overlay (checked and sealed with the plan):
    [cyan]mkdir -p local/new/etc && cp plan/files/new/etc/httpd.conf local/new/etc/[/cyan]
    [cyan]migrate plan inventory.yaml --target target.yaml --overlay local/ -o plan/[/cyan]

  plan/ holds hand edits: keep them (copied into local/) or drop them:
    [cyan]migrate plan inventory.yaml --target target.yaml --overlay local/ --keep-edits -o plan/[/cyan]
    [cyan]migrate plan inventory.yaml --target target.yaml --discard-edits -o plan/[/cyan]
"""


@app.command(cls=_Command, epilog=PLAN_EXAMPLES)
def plan(
    inventory: Annotated[Path, typer.Argument(
        metavar="INVENTORY", help="The inventory written by `migrate inspect` (YAML or JSON).",
        show_default=False)],
    target: Annotated[Optional[Path], typer.Option(
        "--target", metavar="FILE", help="Target settings (YAML); flags override it.")] = None,
    openbsd: Annotated[Optional[str], typer.Option(
        "--openbsd", metavar="RELEASE", help="OpenBSD release of the new host "
        f"(default: {NEWEST_STABLE}, the newest stable release this version knows).")] = None,
    hostname: Annotated[Optional[str], typer.Option(
        "--hostname", metavar="HOST", help="The new host's name.")] = None,
    ipv6: Annotated[Optional[list[str]], typer.Option(
        "--ipv6", metavar="ADDR", help="An IPv6 address of the new host (repeatable: give it "
        "once per address).")] = None,
    ipv4: Annotated[Optional[list[str]], typer.Option(
        "--ipv4", metavar="ADDR", help="An IPv4 address of the new host (repeatable: give it "
        "once per address).")] = None,
    smarthost: Annotated[Optional[str], typer.Option(
        "--smarthost", metavar="HOST[:PORT]", help="Relay for outbound mail (default: none, "
        "direct delivery by MX).")] = None,
    email_domain: Annotated[Optional[list[str]], typer.Option(
        "--email-domain", metavar="DOMAIN", help="A mail domain that moves (repeatable: give "
        "it once per domain; default: the domains that host lists).")] = None,
    web_host: Annotated[Optional[str], typer.Option(
        "--web-host", metavar="HOST", help="Host name of Mailman's web pages (default: "
        "DEFAULT_URL_HOST).")] = None,
    tls: Annotated[Optional[str], typer.Option(
        "--tls", metavar="acme|none", help="HTTPS for the web pages: acme (acme-client gets "
        "the certificate; HTTP redirects to HTTPS) or none (default: acme when the old host "
        "served HTTPS).")] = None,
    url_prefixes: Annotated[Optional[str], typer.Option(
        "--url-prefixes", metavar="keep|package", help="Where Mailman's pages are served: keep "
        "(default: at the old host's URL prefixes, such as /cgi-bin/mailman/, so every old "
        "link stays the same) or package (at the OpenBSD package's /mailman/, /icons/ and "
        "/pipermail/; the old prefixes answer 301 to them).")] = None,
    list_manager: Annotated[Optional[str], typer.Option(
        "--list-manager", metavar="mailman2|mailman3", help="The list manager on the new host: "
        "mailman2 (the OpenBSD mailman package: the lists, archives and pages move as they "
        "are) or mailman3 (Mailman 3 core from PyPI; the lists are imported). Default: "
        "mailman2 for releases known to have its package (through 6.9), else mailman3.")]
    = None,
    second_presync: Annotated[Optional[bool], typer.Option(
        "--second-presync/--no-second-presync", help="Run the pre-sync twice before the "
        "freeze: the second one moves what changed while the first copied (default: on when "
        "the archives hold 1 GiB or more).")] = None,
    output: Annotated[Optional[Path], typer.Option(
        "-o", "--output", metavar="DIR", help="The plan directory to write (default: plan).")]
    = None,
    overlay: Annotated[Optional[Path], typer.Option(
        "--overlay", metavar="DIR", help="Files that replace or add files of the plan's files/ "
        "tree (DIR/new/etc/httpd.conf is files/new/etc/httpd.conf): checked as the emitted "
        "ones are (here, and by their check such as `httpd -n` when the cutover installs "
        "them) and sealed with the plan.")] = None,
    keep_edits: Annotated[bool, typer.Option(
        "--keep-edits", help="The plan directory holds files edited since it was written: "
        "copy them into the --overlay folder first, so this plan and later ones keep them.")]
    = False,
    discard_edits: Annotated[bool, typer.Option(
        "--discard-edits", help="The plan directory holds files edited since it was "
        "written: drop them.")] = False,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print the plan summary as JSON (its findings: the inventory's that "
        "stand and the plan's own, each with its severity and stage).")] = False,
    quiet: Annotated[bool, typer.Option(
        "-q", "--quiet", help="Print only the closing line (where the plan went, the findings "
        "by severity); errors still go to stderr.")] = False,
) -> None:
    """Turn an inventory and target settings into a plan directory to review.

    The directory holds the new host's files (smtpd.conf, aliases, httpd.conf, the list
    manager's settings) and plan.yaml for `migrate cutover`. Same input, same bytes. Its findings
    are the inventory's that still stand and the plan's own; exit 1 when one of severity error
    or blocker stands (a blocker also stops the cutover). Change the plan through the target
    settings or --overlay: a file edited inside the plan directory is refused by the cutover,
    and planning into that directory again refuses (exit 2) until told --keep-edits or
    --discard-edits.
    """
    with error_boundary():
        inv = _read_inventory(str(inventory))
        settings = read_target_file(str(target)) if target is not None else {}
        flags = {"openbsd": openbsd, "hostname": hostname, "ipv6": ipv6, "ipv4": ipv4,
                 "smarthost": smarthost, "email_domains": email_domain, "web_host": web_host,
                 "tls": tls, "url_prefixes": url_prefixes, "destination": list_manager,
                 "second_presync": second_presync}
        tgt = resolve_target(inv, settings, flags, source=str(target or "flags"))
        out_dir = str(output or "plan")
        files = prepare_overlay(out_dir, str(overlay) if overlay else None, keep=keep_edits,
                                discard=discard_edits)
        result = build_plan(inv, tgt, files, str(overlay or ""))
        write_plan(result, out_dir)
        standing = result.standing()
        code = Exit.FINDINGS if any(f.severity.serious for f in standing) else Exit.OK
        if as_json:
            planned = {id(f) for f in result.findings}
            ui.plain_stdout(json.dumps({
                "plan_dir": out_dir, "release": str(result.release), "digest": result.digest,
                "target": codec.to_data(result.target), "files": sorted(result.files),
                "findings": [{**codec.to_data(f),
                              "stage": "plan" if id(f) in planned else "inspect"}
                             for f in standing],
                "exit": int(code)}, indent=2) + "\n")
        else:
            if not quiet:
                ui.plan_summary(result, out_dir)
            ui.say(ui.plan_line(result, out_dir))
        raise typer.Exit(int(code))


def _read_inventory(path: str) -> Inventory:
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise MigrateError(f"cannot read the inventory: {exc.strerror}", file=path,
                           code=Exit.INPUT, hint="write one with `migrate inspect`") from None
    except UnicodeDecodeError:
        raise MigrateError("the inventory is not UTF-8 text", file=path,
                           code=Exit.INPUT) from None
    try:
        return codec.load_json(text) if text.lstrip().startswith("{") else codec.load_yaml(text)
    except codec.CodecError as exc:
        raise MigrateError(str(exc), file=path, line=exc.line, code=Exit.INPUT,
                           hint="write it again with `migrate inspect`") from None


CUTOVER_EXAMPLES = """\
[bold]Examples[/bold]

  See every step and command without changing anything (the default; exit 1 when findings
  of severity error or blocker stand):
    [cyan]migrate cutover plan/ --old root@old.example.org --new root@new.example.org[/cyan]

  Execute it, journaled, only if it is the plan that was reviewed (the digest runbook.md,
  report.md and the dry run show); it asks before the first change unless --yes:
    [cyan]migrate cutover plan/ --old root@old --new root@new --execute --plan-digest 1db4d4d3...[/cyan]

  After an interruption or a failed step: see where it stands, then go on, or put the old
  host back (each asks first; without --execute each only shows what it would do):
    [cyan]migrate status plan/[/cyan]
    [cyan]migrate cutover plan/ --old root@old --new root@new --execute --resume[/cyan]
    [cyan]migrate cutover plan/ --old root@old --new root@new --execute --rollback[/cyan]

  For a script: every journal record as a JSON line, no question asked:
    [cyan]migrate cutover plan/ --old root@old --new root@new --execute --yes --json > run.jsonl[/cyan]
"""


class _Output:
    """Where the cutover's lines go: the human lines on stdout (none with --quiet), or with
    --json the journal's records as JSON lines on stdout and the human lines on stderr (none
    with --quiet); the closing summary always (as a record with --json)."""

    def __init__(self, as_json: bool, quiet: bool) -> None:
        self.as_json = as_json
        self.quiet = quiet

    def say(self, line: str) -> None:
        if self.quiet:
            return
        (ui.note if self.as_json else ui.say)(line)

    def record(self, record: dict) -> None:
        if self.as_json:
            ui.plain_stdout(json.dumps(record, sort_keys=True))

    def summary(self, line: str, **fields: object) -> None:
        if self.as_json:
            self.record({"event": "summary", "line": line, **fields})
        else:
            ui.say(line)


def _confirm(question: str) -> None:
    """Ask before changing a host; a "no", or no answer at all (no terminal, end of input),
    changes nothing and exits 8 (DECLINED), never 2: it is not a usage error."""
    try:
        agreed = typer.confirm(question, err=True)
    except typer.Abort:
        raise MigrateError("no answer to the confirmation: nothing was changed",
                           code=Exit.DECLINED, hint="answer it at a terminal, or give --yes "
                           "to run without asking") from None
    if not agreed:
        raise MigrateError("declined: nothing was changed", code=Exit.DECLINED)


def _dry_run(plan, plan_dir: Path, journal_path: Path, *, resume: bool,
             rollback: bool, old: str | None, new: str | None, out: _Output) -> Exit:
    """Show what the cutover would do, change nothing; exit 1 (FINDINGS) when findings of
    severity error or blocker stand in plan.yaml, as ``migrate plan`` exits."""
    from migrate.app import cutover as engine

    blocked = engine.blockers(plan)
    serious = engine.serious(plan)
    base = (f"migrate cutover {shlex.quote(str(plan_dir))} --old {shlex.quote(old or 'USER@OLD')} "
            f"--new {shlex.quote(new or 'USER@NEW')} --execute")
    if blocked:
        out.say(f"BLOCKED: {engine.blocker_line(blocked)} (fix them and plan again; this dry "
                "run only shows the steps)")
    code = Exit.FINDINGS if serious else Exit.OK
    standing = (f"; {engine.findings_line(serious)} stand (report.md)" if serious else "")
    if rollback or resume:
        state = engine.status(plan, engine.Journal(journal_path))
    if rollback:
        out.say(f"Dry run of --rollback for {plan_dir} (journal {journal_path}): nothing is "
                "changed. It would undo, newest first:")
        for undo in state["rollback"]:
            out.record({"event": "undo", "step": undo["step"], "actions": undo["actions"]})
            for action in undo["actions"]:
                out.say(f"  {undo['step']}: {action}")
        for path in state["restore"]:
            out.record({"event": "restore", "file": path})
            out.say(f"  restore {path} as it was before the cutover")
        line = (f"dry run of --rollback: {len(state['rollback'])} started step(s) to undo, "
                f"{len(state['restore'])} file(s) to restore{standing}; to do it: "
                f"{base} --rollback")
        out.summary(line, mode="rollback", dry_run=True, exit=int(code),
                    undo=[u["step"] for u in state["rollback"]], restore=state["restore"])
        return code
    steps = plan.steps
    if resume:
        done = set(state["done"])
        steps = [s for s in plan.steps if s.id not in done]
        out.say(f"Dry run of --resume for {plan_dir} (journal {journal_path}): nothing is "
                f"changed. {len(done)} of {len(plan.steps)} steps are done; it would run:")
    else:
        out.say(f"Dry run of {plan_dir}: nothing is changed."
                + ("" if blocked else " Add --execute to run it."))
    if out.as_json:
        ids = {s.id for s in steps}
        for n, step in enumerate(plan.steps, 1):
            if step.id in ids:
                out.record({"event": "step", "n": n, "step": step.id, "phase": step.phase,
                            "host": step.runs_on, "title": step.title,
                            "actions": [a.describe() for a in step.actions],
                            "check": list(step.check)})
    elif not out.quiet:
        engine.dry_run(plan, say=out.say, only={s.id for s in steps})
    if blocked:
        out.say(f"BLOCKED: {len(blocked)} blocker(s) in plan.yaml's findings: this plan cannot "
                "be executed (see report.md, fix them and plan again)")
    counts = engine.step_counts(steps)
    then = ("it cannot be executed: plan again once the blockers are fixed" if blocked
            else f"to execute: {base}" + (" --resume" if resume else
                                           f" --plan-digest {plan.digest}"))
    line = (f"dry run{' of --resume' if resume else ''}: {len(steps)} step(s) ({counts})"
            f"{standing}; {then}")
    out.summary(line, mode="resume" if resume else "execute", dry_run=True, exit=int(code),
                steps=len(steps), digest=plan.digest)
    return code


@app.command(cls=_Command, epilog=CUTOVER_EXAMPLES)
def cutover(
    plan_dir: Annotated[Path, typer.Argument(
        metavar="PLAN_DIR", help="The plan directory from `migrate plan`.", show_default=False)],
    old: Annotated[Optional[str], typer.Option("--old", metavar="USER@HOST[:PORT]",
                                               help="The old host.")] = None,
    new: Annotated[Optional[str], typer.Option("--new", metavar="USER@HOST[:PORT]",
                                               help="The new host.")] = None,
    execute: Annotated[bool, typer.Option(
        "--execute", help="Change the hosts: run the plan, or with --resume go on, or with "
        "--rollback undo. Nothing changes a host without it: without it every form is a dry "
        "run that shows what it would do.")] = False,
    resume: Annotated[bool, typer.Option(
        "--resume", help="Go on at the first unfinished step of the journal (changes the "
        "hosts only with --execute).")] = False,
    rollback: Annotated[bool, typer.Option(
        "--rollback", help="Put the old host back: each started step's rollback, newest "
        "first, and every changed file restored from the journal's backups (changes the hosts "
        "only with --execute; allowed even when blockers stand).")] = False,
    journal: Annotated[Optional[Path], typer.Option(
        "--journal", metavar="FILE", help="Journal file (default: PLAN_DIR/journal.jsonl).")]
    = None,
    yes: Annotated[bool, typer.Option(
        "--yes", help="With --execute: do not ask before the first change (a script's "
        "run; without it a run without a terminal to answer exits 8, nothing changed).")]
    = False,
    identity: Annotated[Optional[Path], typer.Option(
        "--identity", metavar="FILE", help="SSH private key file for both hosts.")] = None,
    known_hosts: Annotated[Optional[Path], typer.Option(
        "--known-hosts", metavar="FILE", help="known_hosts file for both hosts.")] = None,
    old_host_key: Annotated[Optional[str], typer.Option(
        "--old-host-key", metavar="SHA256:...", help="Pin the old host's key.")] = None,
    new_host_key: Annotated[Optional[str], typer.Option(
        "--new-host-key", metavar="SHA256:...", help="Pin the new host's key.")] = None,
    plan_digest: Annotated[Optional[str], typer.Option(
        "--plan-digest", metavar="SHA256", help="Run only the plan with this digest (shown "
        "in runbook.md, report.md and the dry run); another is refused, nothing run.")] = None,
    as_json: Annotated[bool, typer.Option(
        "--json", help="JSON lines on stdout: each journal record as the journal keeps it "
        "(the dry run: one record per step), then one summary record; the human lines go to "
        "stderr.")] = False,
    quiet: Annotated[bool, typer.Option(
        "-q", "--quiet", help="Print only the closing line; errors still go to stderr.")]
    = False,
) -> None:
    """Execute the plan's runbook during the DNS switch (a dry run unless --execute).

    Nothing changes a host without --execute: the plain form, --resume and --rollback each
    only show what they would do, and with --execute each asks before the first change
    unless --yes. Every step is journaled (JSON lines, fsynced) with the backups of what it
    changed; `migrate status` reads the journal. The plan is checked at load: every file as
    `migrate plan` sealed it, runbook.md showing the steps plan.yaml holds, and with
    --plan-digest the very plan that was reviewed. A step that fails stops the run (exit 7).
    """
    from migrate.app import cutover as engine

    with error_boundary():
        if resume and rollback:
            raise MigrateError("--resume and --rollback exclude each other", code=Exit.USAGE,
                               hint="--resume goes on, --rollback undoes: choose one")
        _check_digests([plan_digest] if plan_digest is not None else [])
        plan = engine.load_plan(str(plan_dir), pin=plan_digest)
        journal_path = journal or plan_dir / "journal.jsonl"
        out = _Output(as_json, quiet)
        if not execute:
            raise typer.Exit(int(_dry_run(plan, plan_dir, journal_path, resume=resume,
                                          rollback=rollback, old=old, new=new, out=out)))
        blocked = engine.blockers(plan)
        if blocked and not rollback:  # the way back always works
            raise MigrateError(f"{engine.blocker_line(blocked)} (fix them and plan again; "
                               "--rollback is still allowed)", code=Exit.FINDINGS)
        if not old or not new:
            raise MigrateError("give --old USER@HOST and --new USER@HOST", code=Exit.USAGE)
        book = engine.Journal(journal_path)
        state = engine.status(plan, book)
        if rollback:
            if not state["rollback"] and not state["restore"]:
                raise MigrateError("nothing to roll back: the journal holds no started step",
                                   file=str(book.path), code=Exit.USAGE,
                                   hint="--journal names another journal")
            question = (f"Roll back {len(state['rollback'])} started step(s) and restore "
                        f"{len(state['restore'])} file(s) on {old} and {new}?")
        elif resume:
            if not state["remaining"]:  # a re-run of a finished cutover: nothing to do
                out.summary(f"nothing to resume: every step is done; journal: {journal_path}",
                            mode="resume", exit=int(Exit.OK))
                raise typer.Exit(0)
            question = (f"Go on at {state['next']} ({len(state['remaining'])} of "
                        f"{len(plan.steps)} steps left) against {old} and {new}?")
        else:
            engine.refuse_restart(book)  # before asking and connecting, not after
            question = f"Run {len(plan.steps)} steps against {old} and {new}?"
        if not yes:
            _confirm(question)
        from migrate.app import remote
        from migrate.app.hosts import LocalHost, SshHost
        hosts = {
            "old": SshHost("old", remote.connect(
                old, identity=str(identity) if identity else None,
                known_hosts=str(known_hosts) if known_hosts else None,
                accept_host_key=old_host_key)),
            "new": SshHost("new", remote.connect(
                new, identity=str(identity) if identity else None,
                known_hosts=str(known_hosts) if known_hosts else None,
                accept_host_key=new_host_key)),
            "local": LocalHost("local", env={"PLAN": str(plan_dir.resolve())}),
        }
        book.listeners.append(out.record)
        runner = engine.Runner(plan, hosts, book, say=out.say)
        if rollback:
            undone = runner.rollback()
            failed = runner.rollback_failures
            for each in failed:  # on stderr even with --quiet: the operator must look
                ui.error_line(f"rollback of {each}")
            line = (f"rolled back: {len(undone)} step(s) undone, "
                    f"{len(state['restore'])} file(s) restored"
                    + (f", {len(failed)} rollback action(s) failed" if failed else "")
                    + f"; journal: {journal_path}")
            out.summary(line, mode="rollback", exit=int(Exit.STEP_FAILED if failed
                                                         else Exit.OK))
            raise typer.Exit(int(Exit.STEP_FAILED if failed else Exit.OK))
        live = ui.out.is_terminal and not as_json and not quiet
        try:
            if live:  # a live table of the steps with the freeze window timer
                from rich.live import Live
                view = ui.CutoverView([(s.id, s.runs_on, s.title) for s in plan.steps],
                                      book.records, lambda: engine.frozen_for(book.records))
                book.listeners.append(view.event)
                runner.status = lambda line: None
                with Live(view, console=ui.out, refresh_per_second=4):
                    runner.execute(resume=resume)
            else:  # a log: one line per step state
                runner.execute(resume=resume)
        except engine.StepFailed as exc:
            hint = (f"`migrate status {shlex.quote(str(plan_dir))}` shows its output; fix the "
                    f"cause, then `migrate cutover {shlex.quote(str(plan_dir))} --old "
                    f"{shlex.quote(old)} --new {shlex.quote(new)} --execute --resume`, or "
                    "--execute --rollback")
            ui.error_line(f"step {exc.step.id} failed: {exc.message}")
            ui.error_line(hint)
            out.summary(f"cutover stopped: step {exc.step.id} failed; journal: {journal_path}",
                        mode="resume" if resume else "execute", exit=int(Exit.STEP_FAILED),
                        failed=exc.step.id)
            raise typer.Exit(int(Exit.STEP_FAILED)) from None
        steps, freeze, total = engine.timings(book)
        for sid, seconds in steps if not live else []:  # else in the table
            out.say(f"  {sid:<20} {seconds:8.1f} s")
        if freeze is not None:
            out.say(f"freeze window: {freeze:.0f} s (first deferral to forwarding)")
            parts = engine.window_parts(book)
            if parts:
                out.say(f"  in it: {parts}")
        line = (f"cutover done in {total or 0:.0f} s: {len(plan.steps)} steps"
                + (f", freeze window {freeze:.0f} s" if freeze is not None else "")
                + f"; journal: {journal_path}")
        out.summary(line, mode="resume" if resume else "execute", exit=int(Exit.OK),
                    freeze_window=freeze, elapsed=total)
        raise typer.Exit(0)


STATUS_EXAMPLES = """\
[bold]Examples[/bold]

  Where the cutover of plan/ stands (its journal, plan/journal.jsonl), and what comes next:
    [cyan]migrate status plan/[/cyan]

  The same for a script (the failed step's output included):
    [cyan]migrate status plan/ --json | jq -r .next[/cyan]
"""


@app.command(cls=_Command, epilog=STATUS_EXAMPLES)
def status(
    plan_dir: Annotated[Path, typer.Argument(
        metavar="PLAN_DIR", help="The plan directory from `migrate plan`.", show_default=False)],
    journal: Annotated[Optional[Path], typer.Option(
        "--journal", metavar="FILE", help="Journal file (default: PLAN_DIR/journal.jsonl).")]
    = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the status as JSON.")] = False,
    quiet: Annotated[bool, typer.Option(
        "-q", "--quiet", help="Print only the closing line (the state, the steps done, what "
        "comes next).")] = False,
) -> None:
    """Say where a cutover stands, from its journal; changes nothing and reaches no host.

    The steps done, the step that failed with its output, what `migrate cutover --resume`
    runs next, what `--rollback` would undo (each started step's rollback, newest first, and
    the files it restores) and the freeze window. Exit 0 whatever the state; 3 when the plan
    or the journal cannot be read.
    """
    from migrate.app import cutover as engine

    with error_boundary():
        plan = engine.load_plan(str(plan_dir))
        book = engine.Journal(journal or plan_dir / "journal.jsonl")
        state = engine.status(plan, book)
        if as_json:
            ui.plain_stdout(json.dumps(state, indent=2))
            raise typer.Exit(0)
        if quiet:
            ui.say(engine.status_line(state, str(plan_dir)))
            raise typer.Exit(0)
        ui.say(f"Cutover of {plan_dir}: {state['state']} (journal {state['journal']})")
        ui.say(engine.digest_line(state["plan_digest"]))
        done = state["done"]
        ui.say(f"  done: {len(done)} of {state['steps']} steps"
               + (f" (the last: {done[-1]})" if done else ""))
        if state["failed"]:
            ui.say(f"  failed: {state['failed']['step']}: {state['failed']['message']}")
            for line in state["failed"]["output"].splitlines()[-20:]:
                ui.say(f"    | {line}")
        if state["next"]:
            ui.say(f"  next with --resume: {state['next']} "
                   f"({len(state['remaining'])} step(s) left)")
        undo = [u for u in state["rollback"] if u["actions"]]
        if undo or state["restore"]:
            ui.say("  --rollback would undo, newest first:")
            for u in undo:
                ui.say(f"    {u['step']}: " + "; ".join(u["actions"]))
            for f in state["restore"]:
                ui.say(f"    restore {f} as it was before the cutover")
        if state["frozen_for"] is not None:
            ui.say(f"  the freeze window is open: {state['frozen_for']:.0f} s so far (the old "
                   "host defers list mail)")
        elif state["freeze_window"] is not None:
            ui.say(f"  freeze window: {state['freeze_window']:.0f} s")
        ui.say(engine.status_line(state, str(plan_dir)))
        raise typer.Exit(0)


export_app = typer.Typer(
    cls=_Group,
    help="Export plans for another engine (Ansible), so a fleet of hosts moves with the tools "
    "a team already runs.", no_args_is_help=True, rich_markup_mode="rich")
app.add_typer(export_app, name="export")

EXPORT_EXAMPLES = """\
[bold]Examples[/bold]

  One Ansible tree for three reviewed plans; then a dry run and the preflight of every pair:
    [cyan]migrate export ansible plans/lists-a plans/lists-b plans/lists-c -o fleet/[/cyan]
    [cyan]cd fleet && ansible-playbook -i hosts.yaml site.yaml --check[/cyan]
    [cyan]ansible-playbook -i hosts.yaml site.yaml --tags preflight[/cyan]

  Five pairs per batch instead of one:
    [cyan]migrate export ansible plans/* -o fleet/ --serial 5[/cyan]

  Only the plans reviewed (each digest as its runbook.md shows it, in the plans' order):
    [cyan]migrate export ansible plans/a plans/b -o fleet/ --plan-digest 3f9a... --plan-digest 77c0...[/cyan]
"""


def _check_digests(digests: list[str]) -> None:
    """``--plan-digest`` values: each the 64 hex digits runbook.md, report.md and the dry run
    show (the cutover and the export take the same)."""
    for digest in digests:
        if not re.fullmatch(r"[0-9a-fA-F]{64}", digest):
            raise MigrateError("--plan-digest takes the 64 hex digits of the plan digest",
                               code=Exit.USAGE, hint="copy it from runbook.md, report.md or "
                               "the dry run")


@export_app.command("ansible", cls=_Command, epilog=EXPORT_EXAMPLES)
def export_ansible(
    plan_dirs: Annotated[list[Path], typer.Argument(
        metavar="PLAN_DIR", help="Plan directories from `migrate plan` (each checked as "
        "`cutover` checks it).", show_default=False)],
    output: Annotated[Path, typer.Option("-o", "--output", metavar="DIR",
                                         help="The folder to write (replaced whole if it is "
                                         "an earlier export).", show_default=False)],
    serial: Annotated[int, typer.Option("--serial", metavar="N", min=1,
                                        help="Pairs per batch; a failing pair stops the "
                                        "rollout.")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    quiet: Annotated[bool, typer.Option(
        "-q", "--quiet", help="Print only the closing line (where the tree went).")] = False,
    plan_digest: Annotated[Optional[list[str]], typer.Option(
        "--plan-digest", metavar="SHA256", help="Export only the plans reviewed: give it once "
        "per plan directory, in their order (repeatable); a plan with another digest is "
        "refused, nothing written.")] = None,
) -> None:
    """Write one Ansible tree (inventory, playbook, roles) that runs the plans' cutovers.

    Every old/new pair is a group in hosts.yaml; site.yaml runs the same steps as `migrate
    cutover`, pair by pair, with tags per role and step; rollback.yaml is the way back.
    """
    from migrate.app.exporting import export_ansible as run_export

    with error_boundary():
        pins = plan_digest or []
        _check_digests(pins)
        if pins and len(pins) != len(plan_dirs):
            raise MigrateError(f"{len(pins)} --plan-digest for {len(plan_dirs)} plan "
                               "directories", code=Exit.USAGE,
                               hint="give one --plan-digest per plan directory, in their order")
        summary = run_export([str(p) for p in plan_dirs], str(output), serial=serial,
                             pins=pins or None)
        if as_json:
            ui.plain_stdout(json.dumps(summary, indent=2))
        else:
            for pair in summary["pairs"] if not quiet else []:
                ui.say(f"{pair['name']}: {pair['old']} -> {pair['new']}")
            ui.say(f"Ansible tree written to {summary['output']} ({summary['files']} files); "
                   f"try: ansible-playbook -i hosts.yaml site.yaml --check")
        raise typer.Exit(0)


def _reflow_help(*apps: typer.Typer) -> None:
    """Each command's help from its docstring, every paragraph one line: Typer keeps a
    docstring's line breaks, and a terminal narrower than the source then shows ragged text."""
    for each in apps:
        for info in each.registered_commands:
            doc = pyinspect.getdoc(info.callback) or ""
            info.help = "\n\n".join(" ".join(p.split("\n")) for p in doc.split("\n\n"))


_reflow_help(app, export_app)


def main() -> None:
    """Console-script entry point."""
    app()
