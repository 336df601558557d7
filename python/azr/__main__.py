"""``python -m azr``: the ``azr`` command, for environments whose ``bin/`` is not on ``PATH``."""

import sys

from azr.cli import main

if __name__ == "__main__":
    sys.exit(main())
