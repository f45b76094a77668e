"""Shared pytest configuration: the embedded cluster fixtures (kube_api, embedded_cluster, ...)."""

pytest_plugins = ["lws.sim.testing"]
