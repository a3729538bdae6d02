"""``python -m hybridsearch`` runs the command line."""

import sys

from hybridsearch.cli import main

sys.exit(main())
