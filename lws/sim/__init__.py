"""The embedded cluster: a Kubernetes-API-compatible server plus the controllers a real cluster runs.

It knows nothing about LeaderWorkerSet beyond what installing a CRD teaches any API server.
"""
