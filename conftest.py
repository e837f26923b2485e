"""The repo's own test-suite plumbing (not part of the plugin)."""

pytest_plugins = ["pytester"]
