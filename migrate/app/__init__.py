"""The top floor: the CLI and the orchestration that ties parsers and emitters together.

``inspection`` runs the parsers on a tree of the old host (``sources``, or ``remote`` over
SSH), ``planning`` runs the emitters, ``cutover`` and ``exporting`` carry out a plan on the
hosts (``hosts``), and ``cli``/``ui`` are what a person types and sees.
"""
