"""The ``migrate`` command line: thin commands over library functions, one error boundary.

Exit codes (README.md): 0 ok; 1 done, but findings of severity error or blocker stand; 2 usage,
or a verb or source that is not available yet; 3 unreadable or malformed input; 70 internal
error (the traceback goes to a log file that the message names, never to the terminal).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import inspect as pyinspect
import json
import os
import re
import tempfile
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Optional

import typer

from migrate import __version__

from migrate.core import codec

from migrate.app import ui
from migrate.core.errors import Exit, MigrateError
from migrate.app.fileio import check_replaceable_file, write_atomic
from migrate.app.inspection import (exit_code_for, inspect_tree, no_progress, open_local_root,
                                    remote_mbox_dirs, remote_spec)
from emitters.release import NEWEST_STABLE
from migrate.core.model import Inventory, Origin, OriginKind
from migrate.core.mta import plugins
from parsers.pipermail import LINE_NUMBER_LIMIT
from migrate.app.planning import (build_plan, prepare_overlay, read_target_file, resolve_target,
                                  write_plan)

app = typer.Typer(
    name="migrate",
    help="Move a legacy Mailman 2 list host (FreeBSD, Exim, Apache) onto OpenBSD "
    "(OpenSMTPD, httpd + slowcgi, the mailman package).\n\n"
    "The flow: [bold]inspect[/bold] the old host into an inventory, [bold]plan[/bold] the "
    "new host's files and the cutover from it, then [bold]cutover[/bold] during the DNS switch.",
    rich_markup_mode="rich",
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
    except (typer.Exit, typer.Abort, KeyboardInterrupt):
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


@app.command(epilog=INSPECT_EXAMPLES)
def inspect(
    root: Annotated[Optional[Path], typer.Option(
        "--root", help="The old host's / as a local folder (a snapshot or mounted disk); "
        "with --host, the prefix of the host's tree on the remote side.",
        file_okay=True, dir_okay=True, resolve_path=False)] = None,
    host: Annotated[Optional[str], typer.Option(
        "--host", metavar="USER@HOST[:PORT]", help="Inspect the old host over SSH.")] = None,
    port: Annotated[Optional[int], typer.Option("--port", help="SSH port.")] = None,
    identity: Annotated[Optional[Path], typer.Option(
        "--identity", help="SSH private key file.")] = None,
    known_hosts: Annotated[Optional[Path], typer.Option(
        "--known-hosts", help="known_hosts file to verify the host key against "
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
        progress = no_progress if as_json or target == "-" else ui.archive_progress
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
            if code == Exit.INPUT and f.id.startswith("input.") and f.severity.rank >= 2:
                ui.error_line(ui.finding_line(f))
        if as_json:
            ui.plain_stdout(codec.dump_json(inv))
        elif target != "-":
            ui.inventory_summary(inv, target)
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


@app.command(epilog=PLAN_EXAMPLES)
def plan(
    inventory: Annotated[Path, typer.Argument(help="The inventory written by `migrate inspect`.")],
    target: Annotated[Optional[Path], typer.Option(
        "--target", help="Target settings (YAML); flags override it.")] = None,
    openbsd: Annotated[Optional[str], typer.Option(
        "--openbsd", metavar="RELEASE", help="OpenBSD release of the new host "
        f"(default: {NEWEST_STABLE}, the newest stable release this version knows).")] = None,
    hostname: Annotated[Optional[str], typer.Option("--hostname", help="New host name.")] = None,
    ipv6: Annotated[Optional[list[str]], typer.Option("--ipv6", help="New IPv6 address(es).")] = None,
    ipv4: Annotated[Optional[list[str]], typer.Option("--ipv4", help="New IPv4 address(es).")] = None,
    smarthost: Annotated[Optional[str], typer.Option(
        "--smarthost", help="Relay for outbound mail (HOST or HOST:PORT).")] = None,
    email_domain: Annotated[Optional[list[str]], typer.Option(
        "--email-domain", help="A mail domain that moves (repeatable; default: the domains "
        "that host lists).")] = None,
    web_host: Annotated[Optional[str], typer.Option(
        "--web-host", help="Host name of Mailman's web pages (default: DEFAULT_URL_HOST).")] = None,
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
        "-o", "--output", help="The plan directory to write (default: plan).")] = None,
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
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan summary as JSON.")] = False,
) -> None:
    """Turn an inventory and target settings into a plan directory to review.

    The directory holds the new host's files (smtpd.conf, aliases, httpd.conf, the list
    manager's settings) and plan.yaml for `migrate cutover`. Same input, same bytes. Exit 1 when
    a blocker finding stands. Change the plan through the target settings or --overlay: a file
    edited inside the plan directory is refused by the cutover, and planning into that
    directory again refuses (exit 2) until told --keep-edits or --discard-edits.
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
        if as_json:
            ui.plain_stdout(json.dumps({
                "plan_dir": out_dir, "release": str(result.release), "digest": result.digest,
                "target": codec.to_data(result.target), "files": sorted(result.files),
                "findings": [codec.to_data(f) for f in result.findings]}, indent=2) + "\n")
        else:
            ui.plan_summary(result, out_dir)
        raise typer.Exit(int(Exit.FINDINGS if result.blockers() else Exit.OK))


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

  See every step and command without changing anything (the default):
    [cyan]migrate cutover plan/ --old root@old.example.org --new root@new.example.org[/cyan]

  Execute it, journaled, only if it is the plan that was reviewed (the digest runbook.md,
  report.md and the dry run show); continue after an interruption:
    [cyan]migrate cutover plan/ --old root@old --new root@new --execute --plan-digest 1db4d4d3...[/cyan]
    [cyan]migrate cutover plan/ --old root@old --new root@new --execute --resume[/cyan]
"""


@app.command(epilog=CUTOVER_EXAMPLES)
def cutover(
    plan_dir: Annotated[Path, typer.Argument(help="The plan directory from `migrate plan`.")],
    old: Annotated[Optional[str], typer.Option("--old", metavar="USER@HOST[:PORT]",
                                               help="The old host.")] = None,
    new: Annotated[Optional[str], typer.Option("--new", metavar="USER@HOST[:PORT]",
                                               help="The new host.")] = None,
    execute: Annotated[bool, typer.Option("--execute", help="Make the changes "
                                           "(without it: a dry run).")] = False,
    resume: Annotated[bool, typer.Option("--resume", help="Continue at the first "
                                          "unfinished step of the journal.")] = False,
    rollback: Annotated[bool, typer.Option("--rollback", help="Restore the old host "
                                            "from the journal's backups.")] = False,
    journal: Annotated[Optional[Path], typer.Option(
        "--journal", help="Journal file (default: PLAN_DIR/journal.jsonl).")] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask before the first change.")]
    = False,
    identity: Annotated[Optional[Path], typer.Option(
        "--identity", help="SSH private key file for both hosts.")] = None,
    known_hosts: Annotated[Optional[Path], typer.Option(
        "--known-hosts", help="known_hosts file for both hosts.")] = None,
    old_host_key: Annotated[Optional[str], typer.Option(
        "--old-host-key", metavar="SHA256:...", help="Pin the old host's key.")] = None,
    new_host_key: Annotated[Optional[str], typer.Option(
        "--new-host-key", metavar="SHA256:...", help="Pin the new host's key.")] = None,
    plan_digest: Annotated[Optional[str], typer.Option(
        "--plan-digest", metavar="SHA256", help="Run only the plan with this digest (shown "
        "in runbook.md, report.md and the dry run); another is refused, nothing run.")] = None,
) -> None:
    """Execute the plan's runbook during the DNS switch (dry run unless --execute).

    Every step is journaled (JSON lines, fsynced) with the backups of what it changed;
    --resume continues after an interruption, --rollback puts the old host back. The plan is
    checked at load: every file as `migrate plan` sealed it, runbook.md showing the steps
    plan.yaml holds, and with --plan-digest the very plan that was reviewed.
    """
    from migrate.app import cutover as engine

    with error_boundary():
        _check_digests([plan_digest] if plan_digest is not None else [])
        plan = engine.load_plan(str(plan_dir), pin=plan_digest)
        blocked = engine.blockers(plan)
        if not (execute or resume or rollback):
            if blocked:
                ui.say(f"BLOCKED: {engine.blocker_line(blocked)} (fix them and plan again; "
                       "this dry run only shows the steps)")
            ui.say(f"Dry run of {plan_dir}: nothing is changed. "
                   + ("" if blocked else "Add --execute to run it."))
            engine.dry_run(plan, say=ui.say)
            if blocked:
                ui.say(f"BLOCKED: {len(blocked)} blocker(s) in plan.yaml's findings: this "
                       "plan cannot be executed (see report.md, fix them and plan again)")
            raise typer.Exit(0)
        if blocked and not rollback:  # the way back always works
            ui.error_line(f"{engine.blocker_line(blocked)} (fix them and plan again; "
                          "--rollback is still allowed)")
            raise typer.Exit(int(Exit.FINDINGS))
        if not old or not new:
            raise MigrateError("give --old USER@HOST and --new USER@HOST", code=Exit.USAGE)
        journal_path = journal or plan_dir / "journal.jsonl"
        book = engine.Journal(journal_path)
        if execute and not resume and not rollback and not yes:
            if not typer.confirm(f"Run {len(plan.steps)} steps against {old} and {new}?"):
                raise typer.Exit(int(Exit.USAGE))
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
        runner = engine.Runner(plan, hosts, book, say=ui.say)
        if rollback:
            runner.rollback()
            raise typer.Exit(0)
        try:
            if ui.out.is_terminal:  # a live table of the steps with the freeze window timer
                from rich.live import Live
                view = ui.CutoverView([(s.id, s.runs_on, s.title) for s in plan.steps],
                                      book.records, lambda: engine.frozen_for(book.records))
                book.listeners.append(view.event)
                runner.status = lambda line: None
                with Live(view, console=ui.out, refresh_per_second=4):
                    runner.execute(resume=resume)
            else:  # a log: one line per step state
                runner.execute(resume=resume)
            steps, freeze, total = engine.timings(book)
            for sid, seconds in steps if not ui.out.is_terminal else []:  # else in the table
                ui.say(f"  {sid:<20} {seconds:8.1f} s")
            if freeze is not None:
                ui.say(f"freeze window: {freeze:.0f} s (first deferral to forwarding)")
                parts = engine.window_parts(book)
                if parts:
                    ui.say(f"  in it: {parts}")
            if total is not None:
                ui.say(f"cutover done in {total:.0f} s; journal: {journal_path}")
        except engine.StepFailed as exc:
            ui.error_line(f"step {exc.step.id} failed: {exc.message}")
            ui.error_line(f"fix the cause, then `migrate cutover {plan_dir} --old {old} "
                          f"--new {new} --resume`, or --rollback")
            raise typer.Exit(int(Exit.FINDINGS)) from None
        raise typer.Exit(0)


STATUS_EXAMPLES = """\
[bold]Examples[/bold]

  Where the cutover of plan/ stands (its journal, plan/journal.jsonl), and what comes next:
    [cyan]migrate status plan/[/cyan]

  The same for a script (the failed step's output included):
    [cyan]migrate status plan/ --json | jq -r .next[/cyan]
"""


@app.command(epilog=STATUS_EXAMPLES)
def status(
    plan_dir: Annotated[Path, typer.Argument(help="The plan directory from `migrate plan`.")],
    journal: Annotated[Optional[Path], typer.Option(
        "--journal", metavar="FILE", help="Journal file (default: PLAN_DIR/journal.jsonl).")]
    = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the status as JSON.")] = False,
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
        raise typer.Exit(0)


export_app = typer.Typer(
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


@export_app.command("ansible", epilog=EXPORT_EXAMPLES)
def export_ansible(
    plan_dirs: Annotated[list[Path], typer.Argument(
        help="Plan directories from `migrate plan` (each checked as `cutover` checks it).",
        show_default=False)],
    output: Annotated[Path, typer.Option("-o", "--output", help="The folder to write "
                                         "(replaced whole if it is an earlier export).")],
    serial: Annotated[int, typer.Option("--serial", min=1, help="Pairs per batch; a failing "
                                        "pair stops the rollout.")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    plan_digest: Annotated[Optional[list[str]], typer.Option(
        "--plan-digest", metavar="SHA256", help="Export only the plans reviewed: give it once "
        "per plan directory, in their order; a plan with another digest is refused, nothing "
        "written.")] = None,
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
            for pair in summary["pairs"]:
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
