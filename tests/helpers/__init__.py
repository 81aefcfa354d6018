"""Helpers the tests share: labs, sshd, terminals, certificates. No test module imports another."""
