"""Defragmentation and space recovery.

runbook.py is the rolling defrag (followers first, the leader last, health between); nospace.py
the way out of a NOSPACE alarm built on it; steps.py their step kinds and typed arguments;
preflight.py the checks before a run; handlers.py what each step does; rule.py the expression
language that picks the members to defragment.
"""
