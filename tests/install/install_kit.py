"""What the install tests share: the real kustomize (``kubectl kustomize``) over ``config/``, and the rendering
of ``lws/deploy/`` (the package data ``lws manifests`` prints). Both come from the generator of every
checked-in generated file, ``tools/generate.py``: after changing anything under ``config/`` (or the CRD's
schema), run ``.venv/bin/python tools/generate.py``.
"""

from __future__ import annotations

from tools.generate import (
    CHART,
    CONFIG,
    CRD_COPY,
    CRD_SOURCE,
    DEPLOY,
    KUBECTL,
    ROOT,
    build,
    changes,
    kubectl,
    kustomize,
    parse_all,
)

__all__ = [
    "CHART",
    "CONFIG",
    "CRD_COPY",
    "CRD_SOURCE",
    "DEPLOY",
    "KUBECTL",
    "ROOT",
    "build",
    "changes",
    "kubectl",
    "kustomize",
    "parse_all",
]
