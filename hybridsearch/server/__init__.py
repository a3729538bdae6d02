"""The HTTP service (FastAPI), an optional extra: ``pip install 'hybridsearch[server]'``."""
