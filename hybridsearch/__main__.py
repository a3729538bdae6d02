"""``python -m hybridsearch`` runs the command line."""

import sys

from hybridsearch.cli.main import main

sys.exit(main())
