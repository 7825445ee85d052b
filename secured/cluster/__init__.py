"""Ray layer: parties and the dealer as Ray actors, the Ray-backed SMPC session.

Thin shells around ``secured.mpc``: the protocol code is the same; only the transport
changes. Shares travel party to party through Ray actor calls (the object store for large
arrays), never through the driver.
"""

from .cluster import Cluster
from .session import RaySession, ensure_ray

__all__ = ["Cluster", "RaySession", "ensure_ray"]
