"""The SMPC runtime as a public API for transports built elsewhere (the Ray layer in
``secured.cluster``): a party's state and op runner, the dealer of correlated randomness, and
the communicator pieces. Protocol code stays private to ``secured.mpc``; a transport only
hosts these objects and carries their messages.

- ``Party(rank, n_parties, communicator, key, dealer_correction, backend, fractional_bits)``:
  one party; ``run(op, out, args, frees)`` executes a driver command on its shares.
- ``Dealer(n_parties, backend, derivations(backend))``: keys per party, corrections for party 0.
- ``PLAIN_RESULT_OPS``: the commands whose results are plain values, which a transport may
  carry in its own frames.
- ``MailboxCommunicator``: subclass it with a ``_send`` that delivers into the peer's
  ``Mailbox`` (``put``); receiving and timeouts are shared. ``CommStats`` counts bytes and rounds.
"""

from __future__ import annotations

from ._comm import CommStats, Communicator, Mailbox, MailboxCommunicator
from ._dealer import Dealer
from ._party import PLAIN_RESULT_OPS, Party
from ._protocols import derivations

__all__ = ["Party", "Dealer", "derivations", "Communicator", "MailboxCommunicator", "Mailbox", "CommStats",
           "PLAIN_RESULT_OPS"]
