"""Kept for ``python -m secured.jobs.train``: the job entry points live in the Ray layer,
``secured.cluster.jobs``."""
