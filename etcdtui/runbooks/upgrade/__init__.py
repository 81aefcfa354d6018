"""The rolling upgrade of etcd: a verified snapshot first, then one member at a time, followers
first and the leader last, each rolled back to its old binary if it fails to come up."""
