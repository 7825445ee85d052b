"""Cluster: parties that each hold a private table train and use one model jointly, as Ray
actors (or threads of this process with ``transport="threads"``).

``Cluster(sources, label=...)`` builds the SMPC session (``RaySession`` or ``Session``) and is
otherwise ``secured.mpc.training.PrivateTrainer``: fit, predict, save and load shared models.
By default ``fit`` shows a progress bar on the terminal.

>>> cluster = Cluster([src0, src1, src2], label="readmitted", transport="threads")  # doctest: +SKIP
>>> history = cluster.fit(torch_model, epochs=5, batch_size=64, lr=0.1)            # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from ..exceptions import ConfigurationError
from ..mpc.session import Session
from ..mpc.training import LOSSES, PrivateTrainer, batch_order
from ..progress import Progress

__all__ = ["Cluster", "LOSSES", "batch_order"]


class Cluster(PrivateTrainer):
    """Parties holding private tables, as Ray actors (or threads): a ``PrivateTrainer`` whose
    session is built here (see the module docstring)."""
    def __init__(self, sources: list[Any], *, label: str, partition: str = "horizontal",
                 id_column: str | None = None, transport: str = "ray", timeout: float = 120.0,
                 fractional_bits: int | None = None, address: str | None = None,
                 party_resources: list[dict[str, float]] | None = None, protocol: str = "auto",
                 link: Any = None) -> None:
        if not isinstance(sources, (list, tuple)) or len(sources) < 2:
            raise ConfigurationError("A Cluster needs a list of at least 2 party sources.")
        if transport not in ("ray", "threads"):
            raise ConfigurationError(f"'transport' must be 'ray' or 'threads'; got {transport!r}.")
        if transport == "ray":
            from .session import RaySession

            session = RaySession(len(sources), timeout=timeout, fractional_bits=fractional_bits, address=address,
                                 party_resources=party_resources, protocol=protocol, link=link)
        else:
            session = Session(len(sources), timeout=timeout, fractional_bits=fractional_bits, protocol=protocol,
                              link=link)
        try:
            super().__init__(session, list(sources), label=label, partition=partition, id_column=id_column)
        except BaseException:
            session.close()
            raise

    def fit(self, model: Any, *, progress: bool | Progress | None = True, **kwargs: Any) -> dict[str, Any]:
        """``PrivateTrainer.fit``; ``progress=True`` draws a bar on the terminal, False is silent,
        a callable receives the progress events (``secured.progress``)."""
        if progress is True:
            from ..progress import RichProgress

            with RichProgress() as bar:
                return super().fit(model, progress=bar, **kwargs)
        return super().fit(model, progress=progress or None, **kwargs)

    def __enter__(self) -> "Cluster":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
