"""The engine version stamped on every answer and audit record."""

from importlib.metadata import PackageNotFoundError, version

try:
    ENGINE_VERSION = version("dosefinding")
except PackageNotFoundError:  # running from a source tree that was never installed
    ENGINE_VERSION = "0+unknown"
