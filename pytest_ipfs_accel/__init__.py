"""pytest-ipfs-accel: test and benchmark transformers models across hardware, recorded in DuckDB."""

__version__ = "0.1.0"
