"""Federation: aggregate cluster models with robust strategies, secure aggregation and
accounted differential privacy.

- ``strategies``: the ``Strategy`` base, FedAvg, FedAvgM, FedProx, FedAdagrad, FedAdam,
  FedYogi, coordinate-wise median and trimmed mean, Krum / Multi-Krum, ``NormBound``.
- ``secagg``: secure aggregation with pairwise masks (Bonawitz et al. 2017): X25519 key
  agreement, ChaCha20 masks, Shamir shares of the seeds for dropout recovery.
- ``accounting``: the run's privacy ledger composed by dp-accounting, and ``ClusterDP``
  (cluster-level Gaussian mechanism with OpenDP's discrete Gaussian noise).
- ``mia``: membership-inference attacks (loss threshold, offline LiRA) and a publication gate.
- ``smpc``: clusters of SMPC parties as clients: each trains privately and the clusters'
  models are summed by a secure aggregation over their parties' shares, never opened.
- ``run``: ``Federation`` (rounds persisted in a run folder, resumable; clients that fail or
  time out are left out of a round) and ``TorchClient`` (local training, FedProx's term).

>>> from secured.federation import FedAvg, Update
"""

from .accounting import ClusterDP, PrivacyAccountant, gaussian_noise
from .mia import gate, membership_inference
from .run import Federation, TorchClient
from .smpc import SMPCCluster, SMPCFederation, secure_cluster_sum, smpc_round
from .secagg import SecAggClient, SecAggServer, SecureAggregation, secure_sum
from .strategies import (STRATEGIES, FedAdagrad, FedAdam, FedAvg, FedAvgM, FedProx, FedYogi, Krum, Median, NormBound,
                         Strategy, TrimmedMean, Update, build, check_update, clip_update)

__all__ = ["Strategy", "Update", "FedAvg", "FedAvgM", "FedProx", "FedAdagrad", "FedAdam", "FedYogi", "Median",
           "TrimmedMean", "Krum", "NormBound", "clip_update", "check_update", "build", "STRATEGIES",
           "SecureAggregation", "SecAggClient", "SecAggServer", "secure_sum", "ClusterDP", "PrivacyAccountant",
           "gaussian_noise", "Federation", "TorchClient", "membership_inference", "gate",
           "SMPCCluster", "SMPCFederation", "secure_cluster_sum", "smpc_round"]
