"""The cost model that picks, per op, the function-secret-sharing gate or today's protocol.

Online time of an op on ``elements`` values = rounds x latency + bytes sent / bandwidth +
local compute. Rounds and bytes per element are the protocols' own (the README's table, from
the communicators' counters; ``tests/mpc/test_fss.py`` checks the FSS ones); local compute is
a per-element rate measured on this machine by ``benchmarks/bench_fss.py`` (override it for
another machine with ``CostModel(fss_seconds=..., classic_seconds=...)``).

FSS gates exist for two parties only (multi-party keys grow exponentially with the number of
parties): with more parties the choice is always the classic protocol. The dealer's key
material (about 1 KB per element for a ReLU) is offline traffic; its generation is counted
(``fss_keygen_seconds``) unless ``preprocessed=True`` says the dealer made the keys ahead of
time, because a session's dealer otherwise makes them while the parties wait.

>>> from secured.mpc.costs import CostModel
>>> from secured.mpc import Network
>>> CostModel(Network(latency=0.0, bandwidth=10e9)).choose("relu", 2**20, 2)
'classic'
>>> CostModel(Network(latency=0.020, bandwidth=12.5e6)).choose("relu", 2**20, 2)
'fss'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from ..exceptions import ConfigurationError
from ._comm import Network

__all__ = ["CostModel", "PROTOCOLS", "LAN", "FSS_OPS"]

PROTOCOLS = ("auto", "fss", "classic")
LAN = Network(latency=0.0002, bandwidth=1.25e9)      # a 10 Gbit/s switch, 0.2 ms per round

#: op -> (rounds, bytes per element per party) at 2 parties.
CLASSIC = {"relu": (6, 22.6), "ltz": (6, 14.6), "ge0": (6, 14.6), "sigmoid": (19, 275.9), "tanh": (19, 275.9),
           "reciprocal": (5, 361.0), "rsqrt": (5, 361.0)}
FSS = {"relu": (2, 8.125), "ltz": (2, 8.125), "ge0": (2, 8.125), "sigmoid": (2, 5.0), "tanh": (2, 5.0),
       "reciprocal": (2, 5.0), "rsqrt": (2, 5.0)}
FSS_OPS = tuple(FSS)
#: FSS gates exact only on a bounded domain (the spline gates: |x| < 2^13): 'auto' never
#: picks them, protocol='fss' asks for them. (The classic side of the reciprocal and rsqrt
#: tables, ``method='table'``, is their masked spline: 5 rounds, 128 comparisons.)
BOUNDED = ("sigmoid", "tanh", "reciprocal", "rsqrt")
#: the classic sigmoid / tanh, two ways: (rounds, bytes per element per party) at 2 and at 3
#: or more parties: exp and a Newton reciprocal, or the masked spline (the x^ opening, 96
#: comparisons of public words with the dealer's mask by 8-bit digits and a 3-level tree, the
#: masked piece index: 5 rounds at any n).
SPLINE_BREAKPOINTS = 46            # fss.named_spline's default
#: the FSS spline gate's breakpoints: 96 pieces, so a piece's index and the mask's wrap fit the
#: one byte of its second round (sigmoid within 4.0e-5 of the function, tanh 8.0e-5).
FSS_SPLINE_BREAKPOINTS = 95
#: the reciprocal and rsqrt tables (1/x and 1/sqrt(x) on TABLE_RANGE, saturated outside): 128
#: pieces, fitted for the smallest error relative to the function; the index still fits a byte.
TABLE_BREAKPOINTS = 127
TABLE_RANGE = (2.0 ** -4, 2.0 ** 6)
CLASSIC_VARIANTS = {"exp": {2: (19, 275.9), 3: (34, 823.8)},
                    "spline": {2: (5, 273.0), 3: (5, 546.0)}}
#: the exp inside softmax (its inputs are <= 0 after the row's max is subtracted), two ways:
#: the polynomial and squarings, or the masked spline of exp(min(x, 0)).
EXP_VARIANTS = {"exp": {2: (14, 126.6), 3: (23, 413.2)}, "spline": CLASSIC_VARIANTS["spline"]}


#: the sign bit of a comparison at 2 parties, two ways: (rounds, bytes per element per party,
#: seconds per element): the adder over the parties' own bits, or the masked comparison (x + r
#: opened, then the 16 digits of x^ against the dealer's thermometer codes of r's digits, a
#: 4-level tree; always used at 3 or more parties). Compute: ReLU on 2^18 values in-process,
#: adder 75-77 ms, masked 43-44 ms (its digit work in compiled kernels) on this machine.
MSB_VARIANTS = {"adder": (6, 54.3, 2.9e-7), "masked": (5, 14.5, 1.7e-7)}


@dataclass
class CostModel:
    """Online-time estimates of the two protocols on ``network``. ``fss_seconds`` and
    ``classic_seconds``: local compute per element (both parties on their own cores)."""
    network: Network = field(default_factory=lambda: LAN)
    # bench_fss.py on this machine (2^20 ReLUs and comparisons, 2^14 sigmoids), the masked
    # comparison and spline running in the compiled digit and byte kernels
    fss_seconds: dict = field(default_factory=lambda: {**{op: 3.0e-7 for op in FSS}, "relu": 3.6e-7,
                                                       "sigmoid": 1.2e-5, "tanh": 1.2e-5, "reciprocal": 1.6e-5,
                                                       "rsqrt": 1.6e-5})
    classic_seconds: dict = field(default_factory=lambda: {**{op: 1.2e-7 for op in CLASSIC}, "relu": 1.8e-7,
                                                           "sigmoid": 1.8e-6, "tanh": 1.8e-6, "spline": 1.3e-5,
                                                           "reciprocal": 1.75e-5, "rsqrt": 1.75e-5})
    fss_keygen_seconds: dict = field(default_factory=lambda: {**{op: 4.5e-7 for op in FSS}, "sigmoid": 3.4e-5,
                                                              "tanh": 3.4e-5, "reciprocal": 4.5e-5, "rsqrt": 4.5e-5})
    preprocessed: bool = False
    sigmoid: str = "auto"        # the classic sigmoid / tanh and softmax's exp: 'auto' (by cost), 'exp' or 'spline'
    comparison: str = "masked"   # the sign bit at 2 parties: 'masked' (fewest rounds and bytes), 'adder' or 'auto'



    def estimate(self, op: str, protocol: str, elements: int) -> float:
        """Seconds online for ``op`` on ``elements`` values with ``protocol`` ('fss' or 'classic')."""
        table, compute = (FSS, self.fss_seconds) if protocol == "fss" else (CLASSIC, self.classic_seconds)
        if op not in table:
            raise ConfigurationError(f"No cost entry for {op!r}; FSS covers {', '.join(FSS_OPS)}.")
        rounds, per_element = table[op]
        offline = self.fss_keygen_seconds[op] if protocol == "fss" and not self.preprocessed else 0.0
        return rounds * self.network.latency + per_element * elements / self.network.bandwidth + \
            (compute[op] + offline) * elements

    def choose(self, op: str, elements: int, n_parties: int, policy: str = "auto") -> str:
        """'fss' or 'classic' for this op (``policy`` 'fss'/'classic' forces one where it applies;
        'auto' never picks a gate that is exact only on a bounded domain)."""
        if policy not in PROTOCOLS:
            raise ConfigurationError(f"protocol must be one of {', '.join(PROTOCOLS)}.")
        if n_parties != 2 or op not in FSS or policy == "classic" or (policy == "auto" and op in BOUNDED):
            return "classic"
        if policy == "fss":
            return "fss"
        return "fss" if self.estimate(op, "fss", elements) < self.estimate(op, "classic", elements) else "classic"

    def classic_variant(self, elements: int, n_parties: int, op: str = "sigmoid") -> str:
        """'exp' or 'spline' for a classic sigmoid / tanh on ``elements`` values: the masked
        spline has 5 rounds (exp: 19 at 2 parties, 34 at 3), about the bytes of exp, and more
        compute (its dealer tables, 4.5 KB per element). ``op='exp'``: the same choice for the
        exp of softmax (the polynomial: 14 rounds at 2 parties, 23 at 3)."""
        if self.sigmoid in ("exp", "spline"):
            return self.sigmoid
        variants = EXP_VARIANTS if op == "exp" else CLASSIC_VARIANTS

        def cost(name: str, compute: float) -> float:
            rounds, per_element = variants[name][min(n_parties, 3)]
            return rounds * self.network.latency + per_element * elements / self.network.bandwidth + \
                compute * elements
        spline = cost("spline", self.classic_seconds["spline"])
        return "spline" if spline < cost("exp", self.classic_seconds["sigmoid"]) else "exp"

    def comparison_variant(self, elements: int, n_parties: int) -> str:
        """'adder' or 'masked' for the sign bits of ``elements`` values: at 2 parties the masked
        comparison has one round fewer than the adder, a quarter of its bytes and about its
        compute, and 32 bytes per element more from the dealer. ``comparison`` decides at 2
        parties: 'masked' (the default), 'adder', or 'auto' (the cheaper on this network)."""
        if n_parties > 2:
            return "masked"
        if self.comparison in MSB_VARIANTS:
            return self.comparison
        def cost(name: str) -> float:
            rounds, per_element, compute = MSB_VARIANTS[name]
            return rounds * self.network.latency + per_element * elements / self.network.bandwidth + compute * elements
        return "masked" if cost("masked") < cost("adder") else "adder"

    def report(self, elements: int = 2**20, ops: Optional[tuple[str, ...]] = None) -> list[dict]:
        """Both estimates and the choice per op, for the README and benchmarks."""
        return [{"op": op, "elements": elements, "classic_s": self.estimate(op, "classic", elements),
                 "fss_s": self.estimate(op, "fss", elements), "choice": self.choose(op, elements, 2)}
                for op in (ops or FSS_OPS)]
