"""RQ jobs and worker entry; see issue 3."""
