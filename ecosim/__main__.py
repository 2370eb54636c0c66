"""``python -m ecosim``: the ``ecosim`` command (:func:`ecosim.cli.main`), for an environment without the script."""

import sys

from ecosim.cli import main

if __name__ == "__main__":
    sys.exit(main())
