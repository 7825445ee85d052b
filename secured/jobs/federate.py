"""``python -m secured.jobs.federate CONFIG``: the federation job of
``secured.cluster.jobs.federate`` (its documentation describes the config); this module only
keeps the short entry point."""

import sys

from ..cluster.jobs.federate import FederateJobConfig, load_config, main, run

__all__ = ["FederateJobConfig", "load_config", "main", "run"]

if __name__ == "__main__":
    sys.exit(main())
