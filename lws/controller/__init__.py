"""Controller wiring: the only package that imports kopf."""
