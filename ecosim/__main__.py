"""``python -m ecosim``: the ``ecosim`` command (:func:`ecosim.cli.main`), for an environment without the script."""

import sys

from ecosim.cli import main

sys.exit(main())
