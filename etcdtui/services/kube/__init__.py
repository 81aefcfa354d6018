"""What the nodes of a Kubernetes control plane say about their etcd, and whether it holds up."""
