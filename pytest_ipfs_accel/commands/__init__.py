"""The `ipfs-accel` subcommands, one module each (``add_parser(p)``, ``run(args) -> int``)."""
