"""Emitters: write the new host's files from ``migrate.core.model`` objects and target settings.

Installed as ``emitters``. An emitter imports the model only: never a parser, and it
never reads a file of the old host.
"""
