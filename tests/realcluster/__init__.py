"""The real Kubernetes control plane as the second test target: Go-built binaries (``gomod/``), the launcher
(:mod:`tests.realcluster.plane`), the operator started against it (:mod:`tests.realcluster.operator`), and
the divergence report between it and the embedded cluster (:mod:`tests.realcluster.divergence`).

    python -m tests.realcluster up            # a plane in the foreground; prints its kubeconfig
    python -m tests.realcluster run -- CMD    # CMD against a plane with the operator, then stop
"""
