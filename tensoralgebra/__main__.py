"""``python -m tensoralgebra``: the ``tensoralgebra`` command."""

import sys

from tensoralgebra.cli import main

if __name__ == "__main__":
    sys.exit(main())
