"""lws: a Python operator for Kubernetes LeaderWorkerSet, drop-in compatible with kubernetes-sigs/lws."""

from lws.hooks import hookimpl

__version__ = "0.1.0"

__all__ = ["__version__", "hookimpl"]
