"""``python -m secured.jobs.synth CONFIG``: the synthetic-data job of
``secured.cluster.jobs.synth`` (its documentation describes the config); this module only
keeps the short entry point."""

import sys

from ..cluster.jobs.synth import SynthJobConfig, load_config, main, run

__all__ = ["SynthJobConfig", "load_config", "main", "run"]

if __name__ == "__main__":
    sys.exit(main())
