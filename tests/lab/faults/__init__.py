"""The fault matrix of issue 14 as tests: faults injected into real labs while runbooks run.

Each scenario writes KEYS keys first, injects its fault on an observable event (a step's
start or result, a file a node-side command leaves), and asserts the run's exit code or
`report.ok`, the first line of its cause, the cluster's state afterwards (member list, health,
leader) and that every key is still there.
"""
