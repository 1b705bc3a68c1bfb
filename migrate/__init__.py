"""migrate: move a legacy Mailman 2 list host onto OpenBSD's base mail and web stack.

Three packages with one contract between them, and two floors in this one:

* ``parsers`` read the old host into the model;
* ``emitters`` write the new host's files from the model;
* ``migrate.core``, the ground floor: the model (the inventory, the only thing parsers and
  emitters share), its codec, the typed cutover plan, text and errors;
* ``migrate.app``, the top floor: the CLI and the orchestration, the only modules that
  import both sides (ARCHITECTURE.md).
"""

__version__ = "0.1.0"
