"""``python -m secured.jobs.train CONFIG``: the training job of ``secured.cluster.jobs.train``
(its documentation describes the config); this module only keeps the short entry point."""

import sys

from ..cluster.jobs.train import JobConfig, build_model, load_config, main, run

__all__ = ["JobConfig", "build_model", "load_config", "main", "run"]

if __name__ == "__main__":
    sys.exit(main())
