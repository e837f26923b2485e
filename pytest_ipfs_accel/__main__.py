"""``python -m pytest_ipfs_accel``: the ``ipfs-accel`` command."""

import sys

from pytest_ipfs_accel.cli import main

sys.exit(main())
