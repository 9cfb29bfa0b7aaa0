"""RQ jobs (thin: they take ids and call app code) and the worker process entry."""

RUNS_QUEUE = "threadwatch-runs"
