"""API layer: the LeaderWorkerSet schema, constants, defaulting, validation. Imports only lws.k8s of lws."""
