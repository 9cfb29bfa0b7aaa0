"""RQ jobs (thin: they take ids and call app code) and the worker process entry."""

RUNS_QUEUE = "threadwatch-runs"
# Sweeps (lost runs, expired TTLs, stuck-thread alerts), served by a thread of their own.
MAINTENANCE_QUEUE = "threadwatch-maintenance"
