"""``python -m sim`` runs the ``pmrsim`` command line."""

import sys

from sim.cli import main

sys.exit(main())
