"""The worker process (`threadwatch worker`) and its RQ jobs: thin entry points that take
ids and call app code (threadwatch). Queue and job names live in threadwatch.queues."""
