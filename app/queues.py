"""The RQ queues and jobs, named here and nowhere else: app code queues jobs by these
names and never imports the worker package (threadwatch_workers), whose jobs call back
into app code."""

RUNS_QUEUE = "threadwatch-runs"
WEBHOOKS_QUEUE = "threadwatch-webhooks"
# Sweeps (lost runs, expired TTLs, stuck-thread alerts) and cron checks, served by a thread
# of their own.
MAINTENANCE_QUEUE = "threadwatch-maintenance"

# The job functions, by their import paths (threadwatch_workers/jobs.py).
EXECUTE_RUN = "threadwatch_workers.jobs.execute_run"
DELIVER_WEBHOOK = "threadwatch_workers.jobs.deliver_webhook"
SWEEP = "threadwatch_workers.jobs.sweep"
FIRE_CRONS = "threadwatch_workers.jobs.fire_crons"
