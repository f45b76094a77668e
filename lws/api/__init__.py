"""API layer: the LeaderWorkerSet schema, constants, defaulting, validation. No other lws imports."""
