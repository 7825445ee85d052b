"""Ray job entry points for HPC users: ``python -m secured.cluster.jobs.train CONFIG`` (also
reachable as ``python -m secured.jobs.train`` and ``secured mpc train``)."""
