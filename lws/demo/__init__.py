"""``lws demo`` and ``lws simulate``: the embedded cluster and the operator, run together in this process.

* :mod:`lws.demo.stage` starts them (a topology, the CRD, the operator exactly as ``lws run`` runs it);
* :mod:`lws.demo.feed` tells the caller's thread when the objects it watches change;
* :mod:`lws.demo.sample` sizes the demo's vLLM LeaderWorkerSet (``vllm.yaml``) to a topology;
* :mod:`lws.demo.view` turns objects into the groups-and-pods view the demo narrates (pure);
* :mod:`lws.demo.narration` shows that view, as a live table on a terminal or as lines of text;
* :mod:`lws.demo.scenario` runs the demo's steps, each waiting on a condition with a deadline;
* :mod:`lws.demo.summary` is what the demo measured, and what it prints at the end;
* :mod:`lws.demo.placement` is ``lws simulate``'s report: where every pod of every group landed (pure);
* :mod:`lws.demo.settle` applies manifests and waits until the cluster has settled (``lws simulate``);
* :mod:`lws.demo.columns` lays rows out as plain-text columns.
"""
