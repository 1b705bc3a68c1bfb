"""Emitters: write the new host's files from ``migrate.model`` objects and target settings.

Installed as ``migrate.emitters``. An emitter imports the model only: never a parser, and it
never reads a file of the old host.
"""
