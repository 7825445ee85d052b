"""Private matmul and ReLU, 2 parties + dealer: ours (in-process and Ray) vs plaintext and
CrypTen in the same run (same code as `secured bench mpc`).

    python benchmarks/bench_mpc.py [--n 1024] [--relu-log2 20] [--repeat 3] [--no-ray] [--no-crypten] [--json]
"""

import argparse
import sys

from secured.bench.mpc import main

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1024)
    parser.add_argument("--relu-log2", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-ray", action="store_true")
    parser.add_argument("--no-crypten", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sys.exit(main(args.n, args.relu_log2, args.repeat, not args.no_ray, not args.no_crypten, args.json))
