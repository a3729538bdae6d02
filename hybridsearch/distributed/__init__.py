"""Sharded build and search on Ray, an optional extra: ``pip install 'hybridsearch[ray]'``."""
