"""Function-secret-sharing gates next to today's protocols, measured in one run.

    python benchmarks/bench_fss.py                 # 2^20 elements, LAN and simulated WANs (~2 min)
    python benchmarks/bench_fss.py --log2 16 --json out.json

1. DCF evaluation: evaluations per second per core (one thread) and on every core, for the
   ReLU's comparison (63-bit domain, 56 tree levels + a 7-bit leaf), compiled (16 elements at a
   time on VAES where the CPU has it) next to the compiled 8-wide AES-NI walk and the numpy twin
   (OpenSSL AES); key generation per element.
2. ReLU and x < 0 on 2^log2 elements, 2 parties: the classic protocol (Session, 6 rounds) and
   the FSS gate online (keys made beforehand, as a dealer would offline) and end to end (the
   session's dealer making the keys while the parties wait), on the in-process link and on
   simulated links (every round waits the latency, plus the bytes over the bandwidth):
   20 ms at 1 Gbit/s and 20 ms at 100 Mbit/s. Rounds and bytes from the communicators.
3. The cost model's estimates and choice for the same settings, next to the measurements.
   (``--cuda-only``: DCF evaluations per second on a GPU next to the CPU, for gpu_check.sh.)
4. sigmoid on 2^sigmoid_log2 elements, 2 parties: the classic protocol two ways (exp and a
   Newton reciprocal, 19 rounds; the masked spline, 5 rounds a chunk of 8,192), the FSS
   spline gate online (keys made beforehand) and end to end, on the same links; max error
   against float64.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from secured.backend import fss_kernels as F  # noqa: E402
from secured.mpc import Network, Session, fss  # noqa: E402
from secured.mpc._comm import make_thread_communicators  # noqa: E402
from secured.mpc.costs import CostModel  # noqa: E402

LINKS = {"in-process": None, "20ms-1Gbit": Network(0.020, 125e6), "20ms-100Mbit": Network(0.020, 12.5e6)}


def dcf_speed(m: int) -> dict:
    rng = np.random.default_rng(0)
    n = 63
    alpha = rng.integers(0, 2**63, m, dtype=np.uint64)
    seeds = rng.integers(0, 2**63, (2, m, 2), dtype=np.uint64)
    x = rng.integers(0, 2**63, m, dtype=np.uint64)
    out = {}
    t = time.perf_counter()
    keys = F.dcf_gen(n, alpha, seeds[0], seeds[1], threads=1)
    out["keygen_us_per_element_1_thread"] = (time.perf_counter() - t) / m * 1e6
    for threads in (1, None):
        best = min(_timed(lambda: F.dcf_eval(0, n, seeds[0], *keys, x, threads=threads)) for _ in range(3))
        out[f"eval_M_per_s_{'1_thread' if threads == 1 else 'all_cores'}"] = m / best / 1e6
    best = min(_timed(lambda: F.dcf_eval(0, n, seeds[0], *keys, x, threads=1, wide=False)) for _ in range(3))
    out["eval_M_per_s_1_thread_8_wide"] = m / best / 1e6
    small = min(m, 1 << 14)
    best = _timed(lambda: F.dcf_eval(0, n, seeds[0][:small], keys[0][:small], keys[1][:small], keys[2][:small], x[:small],
                                     impl=F.reference))
    out["numpy_twin_M_per_s"] = small / best / 1e6
    out["compiled"] = F.compiled
    out["vaes"] = F.vaes
    return out


def dcf_cuda_speed(m: int) -> dict:
    """DCF evaluation on a GPU (``fss_kernels.dcf_eval_cuda``) next to the CPU kernels in the
    same run, on the ReLU's 63-bit domain; the GPU's bits are checked against the CPU's."""
    import cupy

    rng = np.random.default_rng(1)
    n = 63
    alpha = rng.integers(0, 2**63, m, dtype=np.uint64)
    seeds = rng.integers(0, 2**63, (2, m, 2), dtype=np.uint64)
    x = rng.integers(0, 2**63, m, dtype=np.uint64)
    keys = F.dcf_gen(n, alpha, seeds[0], seeds[1])
    on_gpu = [cupy.asarray(a) for a in (seeds[0], *keys, x)]
    got = F.dcf_eval_cuda(0, n, *on_gpu)                               # compiles the kernel
    cupy.cuda.Device().synchronize()

    def gpu_run():
        F.dcf_eval_cuda(0, n, *on_gpu)
        cupy.cuda.Device().synchronize()
    gpu = min(_timed(gpu_run) for _ in range(5))
    cpu = min(_timed(lambda: F.dcf_eval(0, n, seeds[0], *keys, x)) for _ in range(3))
    same = bool(np.array_equal(cupy.asnumpy(got), F.dcf_eval(0, n, seeds[0], *keys, x)))
    return {"elements": m, "gpu_M_per_s": m / gpu / 1e6, "cpu_all_cores_M_per_s": m / cpu / 1e6,
            "gpu_over_cpu": cpu / gpu, "bits_equal": same}


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _two_parties(gate, shares, keys, link):
    """Run a gate on two threaded parties over the link; (seconds, party 0's counters)."""
    comms = make_thread_communicators(2, 120.0, network=link)
    threads = [threading.Thread(target=gate, args=(comms[b], shares[b], keys[b])) for b in (0, 1)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start, comms[0].stats


def fss_online(op: str, m: int, link) -> dict:
    """The FSS gate with keys made beforehand, two threaded parties over the link."""
    rng = np.random.default_rng(1)
    x = rng.integers(-2**40, 2**40, m).view(np.uint64)
    s0 = rng.integers(0, 2**63, m, dtype=np.uint64)
    with np.errstate(over="ignore"):
        shares = (s0, x - s0)
    keys = fss.sign_keygen((m,))
    seconds, st = _two_parties(fss.relu if op == "relu" else fss.drelu, shares, keys, link)
    return {"seconds": seconds, "rounds": st.rounds, "bytes_per_element": st.bytes_sent / m,
            "key_bytes_per_element": keys[0].key_bytes()}


def session_run(op: str, m: int, link, protocol: str) -> dict:
    rng = np.random.default_rng(2)
    x = rng.normal(0, 100, m)
    with Session(2, network=link, protocol=protocol) as s:
        t = s.share(x)
        s.reset_stats()
        start = time.perf_counter()
        (t.relu() if op == "relu" else (t < 0)).reveal()
        seconds = time.perf_counter() - start
        party = s.stats()["parties"][0]
        key = "relu" if op == "relu" else "ltz"
        rounds, sent = party["by_op"][key][1], party["by_op"][key][0]
    return {"seconds": seconds, "rounds": rounds, "bytes_per_element": sent / m}


def sigmoid_runs(m: int, link) -> dict:
    rng = np.random.default_rng(3)
    x = rng.normal(0, 4, m)
    truth = 1 / (1 + np.exp(-x))
    fss.named_spline("sigmoid")          # the tables are fitted once per process (~2 s): not timed
    fss.spline_table("sigmoid", 16)
    out = {}
    for name, protocol, variant in (("exp", "classic", "exp"), ("spline", "classic", "spline"),
                                    ("fss", "fss", "auto")):
        with Session(2, network=link, link=link, protocol=protocol) as s:
            s.costs.sigmoid = variant
            t = s.share(x)
            s.reset_stats()
            start = time.perf_counter()
            y = t.sigmoid().reveal()
            seconds = time.perf_counter() - start
            party = s.stats()["parties"][0]
        out[name] = {"seconds": seconds, "rounds": party["by_op"]["sigmoid"][1],
                     "bytes_per_element": party["by_op"]["sigmoid"][0] / m, "max_error": float(np.abs(y - truth).max())}
    table = fss.spline_table("sigmoid", 16)
    keys = fss.spline_keygen(table, (m,))
    xs = np.round(x * 2**16).astype(np.int64).view(np.uint64)
    s0 = rng.integers(0, 2**63, m, dtype=np.uint64)
    with np.errstate(over="ignore"):
        shares = (s0, xs - s0)
    seconds, st = _two_parties(fss.spline, shares, keys, link)
    out["fss_online"] = {"seconds": seconds, "rounds": st.rounds, "bytes_per_element": st.bytes_sent / m,
                         "key_bytes_per_element": keys[0].key_bytes()}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log2", type=int, default=20)
    parser.add_argument("--sigmoid-log2", type=int, default=14)
    parser.add_argument("--json", default=None)
    parser.add_argument("--cuda-only", action="store_true",
                        help="only DCF evaluations per second on the GPU next to the CPU (gpu_check.sh)")
    args = parser.parse_args()
    m = 1 << args.log2
    if args.cuda_only:
        r = dcf_cuda_speed(m)
        print(f"DCF (63-bit domain) on {m} elements: {r['gpu_M_per_s']:.1f} M evaluations/s on the GPU, "
              f"{r['cpu_all_cores_M_per_s']:.2f} M/s on every CPU core, GPU / CPU {r['gpu_over_cpu']:.1f}x; "
              f"bits equal: {r['bits_equal']}")
        if args.json:
            Path(args.json).write_text(json.dumps(r, indent=2))
        return 0 if r["bits_equal"] else 1
    report: dict = {"elements": m, "dcf": dcf_speed(m), "ops": []}
    d = report["dcf"]
    print(f"DCF (63-bit domain) on {m} elements, compiled={d['compiled']}: "
          f"{d['eval_M_per_s_1_thread']:.2f} M evaluations/s on one core, {d['eval_M_per_s_all_cores']:.2f} M/s on "
          f"every core (VAES 16-wide: {d['vaes']}; the 8-wide AES-NI walk "
          f"{d['eval_M_per_s_1_thread_8_wide']:.2f} M/s on one core); numpy twin {d['numpy_twin_M_per_s']:.3f} M/s "
          f"({d['eval_M_per_s_1_thread'] / d['numpy_twin_M_per_s']:.0f}x slower); key generation "
          f"{d['keygen_us_per_element_1_thread']:.2f} us/element on one core")
    print()
    header = f"{'op':5} {'link':13} {'classic':>22} {'FSS online':>22} {'FSS end to end':>16} {'classic/FSS':>12} " \
             f"{'model picks':>11}"
    print(header)
    for op in ("relu", "ltz"):
        for name, link in LINKS.items():
            classic = session_run(op, m, link, "classic")
            online = fss_online(op, m, link)
            end = session_run(op, m, link, "fss")
            model = CostModel(link or Network(), preprocessed=True)
            choice = model.choose(op, m, 2)
            row = {"op": op, "link": name, "classic": classic, "fss_online": online, "fss_end_to_end": end,
                   "model": {"classic_s": model.estimate(op, "classic", m), "fss_s": model.estimate(op, "fss", m),
                             "choice": choice}}
            report["ops"].append(row)
            print(f"{op:5} {name:13} {classic['seconds']:6.3f} s {classic['rounds']:2d} r {classic['bytes_per_element']:5.1f} B "
                  f"{online['seconds']:6.3f} s {online['rounds']:2d} r {online['bytes_per_element']:5.2f} B "
                  f"{end['seconds']:12.3f} s {classic['seconds'] / online['seconds']:11.2f}x {choice:>11}")
    ms = 1 << args.sigmoid_log2
    print(f"\nsigmoid on {ms} elements, 2 parties (seconds, rounds, bytes per element per party, max error):")
    print(f"{'link':13} {'classic exp':>28} {'masked spline':>28} {'FSS online':>20} {'FSS end to end':>28}")
    report["sigmoid"] = {}
    for name, link in LINKS.items():
        r = report["sigmoid"][name] = sigmoid_runs(ms, link)

        def cell(v):
            return f"{v['seconds']:6.3f} s {v['rounds']:2d} r {v['bytes_per_element']:7.1f} B " + \
                (f"{v['max_error']:.1e}" if "max_error" in v else "")
        print(f"{name:13} {cell(r['exp']):>28} {cell(r['spline']):>28} {cell(r['fss_online']):>20} {cell(r['fss']):>28}")
    print(f"FSS spline key per element per party: {report['sigmoid']['in-process']['fss_online']['key_bytes_per_element']:.0f} bytes")
    key = report["ops"][0]["fss_online"]["key_bytes_per_element"]
    print(f"\ndealer key per element per party (ReLU, 64-bit): {key:.1f} bytes; rounds (r) and bytes (B) per element "
          "per party online from the communicators")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
