"""Side-by-side benchmarks shared by ``secured bench ...`` and the scripts in ``benchmarks/``.

Each benchmark measures its baseline in the same run and reports ratios, so numbers from a
noisy machine still compare like with like.
"""

__all__ = ["ring"]
