from tests.mpc.conftest import ray_runtime  # noqa: F401  (one Ray instance for the run)
