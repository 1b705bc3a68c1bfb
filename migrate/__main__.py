"""``python -m migrate``: the same entry point as the ``migrate`` console script."""

from migrate.app.cli import main

if __name__ == "__main__":
    main()
