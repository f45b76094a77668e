"""Pure core: desired objects, pod mutation, rollout maths, status. No I/O, no kopf, no kubernetes client."""
