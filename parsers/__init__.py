"""Parsers: read the old host's files (through a ``Tree``) into ``migrate.core.model`` objects.

Installed as ``parsers``. A parser imports the model and ``base`` only: never an
emitter, never anything that knows the target host.
"""
