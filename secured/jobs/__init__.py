"""Ray job entry points for HPC users: ``python -m secured.jobs.train CONFIG``."""
