"""Private training per epoch in CrypTen's benchmark setting (same code as `secured bench train`).

    python benchmarks/bench_train.py [--rows 3750] [--features 20] [--repeat 3] [--no-crypten] [--json]
"""

import argparse
import sys

from secured.bench.train import main

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=3750)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-crypten", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sys.exit(main(args.rows, args.features, args.repeat, not args.no_crypten, args.json))
