"""The DisaggregatedSet API (``disaggregatedset.x-k8s.io/v1``): names, schema, CRDs, defaulting, validation.

A DisaggregatedSet runs 2 to 10 *roles* (prefill, decode, ...), each one child LeaderWorkerSet per slice and
revision, and rolls them out in lockstep. It is upstream kubernetes-sigs/lws's second API (KEP-766); every
name, default and rule here is upstream's, so existing manifests apply unchanged.
"""
