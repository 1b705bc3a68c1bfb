"""migrate: move a legacy Mailman 2 list host onto OpenBSD's base mail and web stack.

The package has three parts with one contract between them:

* ``migrate.parsers`` (``parsers/`` in the checkout) read the old host into the model;
* ``migrate.model`` is the inventory, the only thing parsers and emitters share;
* ``migrate.emitters`` (``emitters/`` in the checkout) write the new host's files from the model.

Only the orchestration modules in this package (``cli``, ``inspect``, ...) import both sides.
"""

from __future__ import annotations

import os as _os

__version__ = "0.1.0"


def _map_checkout_subpackages() -> None:
    """Let a source checkout import ``migrate.parsers`` and ``migrate.emitters``.

    Installed (``pip install .`` or ``-e .``), setuptools' ``package-dir`` mapping places
    ``parsers/`` and ``emitters/`` under this package. Run straight from a checkout
    (``python -m migrate`` in the repository), this package shadows the installed one and would
    not find them, so the checkout's top folder is added to the search path of this package only.
    The ``pyproject.toml`` check keeps this inert in an installed site-packages.
    """
    here = _os.path.dirname(_os.path.abspath(__file__))
    top = _os.path.dirname(here)
    if _os.path.isfile(_os.path.join(top, "pyproject.toml")) and _os.path.isdir(
        _os.path.join(top, "parsers")
    ):
        if top not in __path__:
            __path__.append(top)


_map_checkout_subpackages()
