"""The old-MTA plugins, each made here once from its two halves (migrate/core/mta.py): the reading
one from parsers/, the writing one from emitters/. Adding an MTA adds its line here."""

from __future__ import annotations

from migrate.core.mta import Plugin, register
from parsers.exim_model import READER as EXIM_READER
from emitters.old_mta import WRITER as EXIM_WRITER

PLUGINS = (Plugin("exim", EXIM_READER, EXIM_WRITER),)


def register_all() -> None:
    """Register every plugin this migrate has (again: nothing changes)."""
    for plugin in PLUGINS:
        register(plugin)
