"""``python -m hybridsearch`` runs the command line."""

import sys

from hybridsearch.cli.main import main

# Guarded: a process that multiprocessing spawns (the server's response helper) imports the
# parent's main module again, and must not run the command line a second time.
if __name__ == "__main__":
    sys.exit(main())
