"""CrypTen side of ``secured bench mpc``, run by the peers' Python (not SECURED's): CrypTen
pins an older stack and installs top-level packages, so it lives in its own virtual
environment (``make peers``). Prints one JSON line from rank 0.

    python _crypten_worker.py ops MATMUL_N RELU_LOG2
    python _crypten_worker.py train ROWS FEATURES REPEAT
"""

import json
import sys
import time

import torch

try:  # torch >= 2.9 moved the module CrypTen imports at start-up
    import torch.onnx._internal.torchscript_exporter.registration as _registration

    sys.modules.setdefault("torch.onnx._internal.registration", _registration)
except ImportError:
    pass

import crypten  # noqa: E402
import crypten.communicator as comm  # noqa: E402
import crypten.mpc as mpc  # noqa: E402

crypten.cfg.communicator.verbose = True


def _timed(fn):
    comm.get().reset_communication_stats()
    start = time.perf_counter()
    out = fn()
    seconds = time.perf_counter() - start
    stats = comm.get().get_communication_stats()
    return out, seconds, int(stats.get("bytes", 0)), int(stats.get("rounds", 0))


@mpc.run_multiprocess(world_size=2)
def _run(n, relu_log2):
    torch.manual_seed(0)
    x, y = torch.randn(n, n), torch.randn(n, n)
    X, Y = crypten.cryptensor(x), crypten.cryptensor(y)
    X.matmul(Y)  # warm-up
    _, t_mm, b_mm, r_mm = _timed(lambda: X.matmul(Y))
    r = crypten.cryptensor(torch.randn(1 << relu_log2))
    r.relu()
    _, t_relu, b_relu, r_relu = _timed(lambda: r.relu())
    if comm.get().get_rank() == 0:
        print(json.dumps({"matmul_s": t_mm, "matmul_bytes": b_mm, "matmul_rounds": r_mm,
                          "relu_s": t_relu, "relu_bytes": b_relu, "relu_rounds": r_relu,
                          "crypten": getattr(crypten, "__version__", "?")}), flush=True)


@mpc.run_multiprocess(world_size=2)
def _train(rows, features, repeat):
    """Seconds per full-batch epoch for logistic regression and the 20-10-5-1 network on
    Gaussian clusters, trained the way CrypTen's own model benchmark does."""
    torch.manual_seed(0)
    y = torch.randint(0, 2, (rows, 1)).double()
    x = torch.randn(rows, features) + y
    results = {}
    nets = {
        "logistic regression": lambda: crypten.nn.Sequential(crypten.nn.Linear(features, 1), crypten.nn.Sigmoid()),
        "feed-forward 20-10-5-1": lambda: crypten.nn.Sequential(
            crypten.nn.Linear(features, 10), crypten.nn.ReLU(), crypten.nn.Linear(10, 5), crypten.nn.ReLU(),
            crypten.nn.Linear(5, 1), crypten.nn.Sigmoid()),
    }
    x_enc, y_enc = crypten.cryptensor(x), crypten.cryptensor(y)
    for name, make in nets.items():
        model = make().encrypt()
        criterion = crypten.nn.BCELoss()
        times = []
        for _ in range(repeat + 1):
            start = time.perf_counter()
            model.zero_grad()
            loss = criterion(model(x_enc), y_enc)
            loss.backward()
            model.update_parameters(0.5)
            times.append(time.perf_counter() - start)
        results[name] = sorted(times[1:])[len(times[1:]) // 2]
    if comm.get().get_rank() == 0:
        print(json.dumps({"epoch_s": results, "crypten": getattr(crypten, "__version__", "?")}), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "train":
        _train(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
    else:
        _run(int(sys.argv[2]), int(sys.argv[3]))
