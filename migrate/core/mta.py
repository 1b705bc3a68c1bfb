"""The old host's MTA as a plugin, registered once by its kind (as a SQL library registers a
dialect). Exim is the one there is (migrate/app/mtas.py registers it).

A plugin has two halves that never import each other. The reading half (``Reader``, in
parsers/) knows where the MTA's configuration lives (for ``--root`` and for the SSH snapshot),
reads it into the inventory's ``Mta`` (with a part of its own, ``Mta.detail``) and says what the terminal shows of it. The writing half
(``Writer``, in emitters/) writes the old host's files for the freeze and the forward, gives the
runbook its parts (``Adapter``) and names the files whose comment lines continue. Only the
orchestration holds both halves; this module, standing on the model alone, is where either side
looks a plugin up by ``Mta.kind``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from migrate.core.model import Finding, HostName, Inventory, Mta, Target


@dataclass
class Read:
    """What the reading half found: the MTA, its findings, whether it read the aliases it
    delivers through (else the inspection reads the system aliases file), and the names the MTA
    says it is (Exim's primary_hostname, with its line: the inspection adds them to
    ``Host.names``)."""

    mta: Mta
    findings: list[Finding] = field(default_factory=list)
    has_aliases: bool = False
    names: list[HostName] = field(default_factory=list)


@dataclass
class Table:
    """A table of the terminal summary: plain text, drawn by migrate/app/ui.py."""

    title: str
    columns: tuple[str, ...]
    rows: list[tuple[str, ...]]
    fold: tuple[str, ...] = ()  # the columns that wrap (the others keep one line)


@dataclass
class Reader:
    """The reading half. ``read(tree, config, hostname, defines)``: ``config`` is the first of
    ``config_paths`` the tree holds, ``defines`` the ``-D NAME=VALUE`` overrides."""

    name: str  # for people: "Exim"
    service: str  # its rc.conf name: ``exim_enable``
    config_paths: tuple[str, ...]  # the main configuration by layout, first match wins
    read: Callable[[Any, str, str | None, dict[str, str]], Read]
    summary: Callable[[Mta], list[Table]]
    model: type | None = None  # its own part of the inventory: ``Mta.detail``'s dataclass
    #: what is wrong with a ``-D NAME`` for it (None: a name it takes)
    define_problem: Callable[[str], str | None] = lambda name: "it takes no -D"


@dataclass
class StepParts:
    """The actions, checks and way back of one step, as an adapter writes them."""

    run: list
    check: list[str]
    rollback: list


class Adapter(Protocol):
    """What the runbook asks of the old MTA (made with the inventory, the moved domains and a
    probe address: a list address on a moved domain, or None)."""

    kind: str  # Mta.kind: "exim"
    name: str  # for people: "Exim"
    version: str  # a command that fails unless the MTA is there
    reload: str  # a command that makes a configuration change take effect
    queue_step: str  # the id of the step that waits for the MTA's queue

    def freeze(self) -> StepParts: ...

    def unfreeze(self) -> Any: ...  # an Action: the freeze's way back

    def queue(self) -> StepParts: ...

    def forward(self) -> StepParts: ...


@dataclass(frozen=True)
class Kept:
    """The addresses of the moved domains that the old host keeps serving after the switch
    (the new host hands them back to it): ``addresses`` ("security@lists.example.org"), and
    every address of ``domains`` (their catch-alls) but ``but`` (their lists' addresses). The
    old MTA's forward must leave exactly these to its own routing, or mail loops."""

    addresses: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()
    but: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.addresses or self.domains)


@dataclass
class Writer:
    """The writing half. ``old_host(inv, target, domains, kept)`` gives the old host's files
    for the freeze and the forward (path -> text) and its findings: the forward sends the moved
    ``domains`` to the new host, but for the addresses the old host keeps serving (``Kept``);
    ``continued`` names the files whose comment lines must not end in a backslash."""

    adapter: Callable[[Inventory, list[str], str | None], Adapter]
    old_host: Callable[[Inventory, Target, list[str], Kept],
                       tuple[dict[str, str], list[Finding]]]
    continued: tuple[str, ...]


@dataclass
class Plugin:
    kind: str
    reader: Reader
    writer: Writer


_PLUGINS: dict[str, Plugin] = {}


def register(plugin: Plugin) -> None:
    """Make ``plugin`` the one for its kind; a second, different one for a kind is refused."""
    known = _PLUGINS.get(plugin.kind)
    if known is not None and known is not plugin:
        raise ValueError(f"an old-MTA plugin for {plugin.kind!r} is registered already")
    _PLUGINS[plugin.kind] = plugin


def lookup(kind: str | None) -> Plugin | None:
    """The plugin for ``Mta.kind``; None for an MTA that has none (or none found)."""
    return _PLUGINS.get(kind) if kind else None


def plugins() -> list[Plugin]:
    """Every plugin, in the order registered (the inspection tries them so)."""
    return list(_PLUGINS.values())
