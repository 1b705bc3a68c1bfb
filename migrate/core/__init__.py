"""The ground floor: the contracts the parsers, the emitters and the top floor stand on.

The model and its codec (the inventory), the typed cutover plan (``steps``), the values a
person reads (``text``), the errors, and the facts of Mailman 2 that both sides name. Nothing
here imports ``parsers``, ``emitters`` or ``migrate.app``.
"""
