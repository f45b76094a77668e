"""The controllers a real cluster runs, built into the embedded cluster: StatefulSet, scheduler, kubelets,
Service ClusterIPs. They know nothing about LeaderWorkerSet."""
