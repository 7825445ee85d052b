"""Exact ring matmul and PRG benchmark (same code as `secured bench ring`).

    python benchmarks/bench_ring.py [--sizes 256,512,1024] [--repeat 3] [--backend cython|numpy|cupy]
"""

import argparse
import sys

from secured.bench.ring import main

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="256,512,1024")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--backend", default=None)
    parser.add_argument("--prg-mib", type=int, default=256)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sys.exit(main([int(s) for s in args.sizes.split(",")], args.repeat, args.backend,
                  args.prg_mib, args.json))
