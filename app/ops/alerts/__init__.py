"""Stuck-thread alerts: rules (rules.py) and their evaluation by the sweeper (evaluate.py)."""
