"""Parsers: read the old host's files (through a ``Tree``) into ``migrate.model`` objects.

Installed as ``migrate.parsers``. A parser imports the model and ``base`` only: never an
emitter, never anything that knows the target host.
"""
