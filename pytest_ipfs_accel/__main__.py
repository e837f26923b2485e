import sys

from pytest_ipfs_accel.cli import main

sys.exit(main())
