"""``python -m metsurv.cli``: the ``metsurv`` command."""

import sys

from metsurv.cli import main

sys.exit(main())
