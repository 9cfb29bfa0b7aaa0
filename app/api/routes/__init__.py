"""One module per noun: health, threads, runs, events."""
