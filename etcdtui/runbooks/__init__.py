"""Runbooks: preflight, plan, execute, verify; one engine for every procedure."""
