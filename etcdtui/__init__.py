"""etcdtui: a terminal UI for operating the etcd clusters behind Kubernetes."""

__version__ = "0.1.0"
