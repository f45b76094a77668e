"""Cluster I/O: the only package that imports the `kubernetes` client."""
