"""API layer: the LeaderWorkerSet schema, constants, defaulting and validation. Imports nothing else of lws."""
