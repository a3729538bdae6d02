"""``python -m hybridsearch`` runs the command line."""

import sys

from hybridsearch.cli.main import main

# Guarded, as a main module should be where processes are spawned (the server's response
# helper): multiprocessing re-imports a main script in the child; it skips a package's
# __main__, so this guard only keeps the module safe to import.
if __name__ == "__main__":
    sys.exit(main())
