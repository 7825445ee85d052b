"""The one exception hierarchy of SECURED.

Every error the package raises on purpose derives from :class:`SecuredError`, and each
subclass also derives from the builtin a caller would naturally catch::

    SecuredError
    ├── ConfigurationError      (ValueError)   unknown option, bad backend name, bad setting
    ├── BadInputError           (ValueError)   unusable data: unreadable file, missing column, NaN, empty table
    ├── NotFittedError          (ValueError, AttributeError) an estimator used before fit
    ├── BackendError            (RuntimeError) a backend that cannot be used here
    │   └── BackendUnavailableError (ImportError) compiled core or cupy missing
    ├── BackendMismatchError    (TypeError)    numpy and cupy arrays mixed in one call
    ├── RingValueError          (ValueError)   wrong dtype/shape for ring arithmetic
    ├── FixedPointOverflowError (OverflowError) a value does not fit the fixed-point range
    ├── PartyTimeoutError       (TimeoutError) a party or dealer did not answer in time
    ├── PartyError              (RuntimeError) a party's step failed (message withheld: it may quote data)
    ├── PartyRefused            (PermissionError) a party refused a request outside its protocol
    ├── PrivacyBudgetError      (RuntimeError) a privacy budget or its ledger refuses a release
    │   └── BudgetExceededError               the release would spend more than is left
    ├── RoundFailedError        (RuntimeError) a federated round got too few updates; the run resumes
    └── HubError                (RuntimeError) the knowledge base refused or failed an operation
        ├── AccessDenied        (PermissionError) bad, expired or revoked token; not allowed
        ├── NotFound            (LookupError)  no such member, dataset, object or model
        └── IntegrityError      (ValueError)   malformed input or a lake checksum mismatch

Messages say what is wrong and what to do. They never contain cell values, identifiers or
secrets: only counts, shapes, dtypes, column and option names.
"""

from __future__ import annotations

__all__ = [
    "SecuredError",
    "StateConflict",
    "Unauthenticated",
    "ConfigurationError",
    "BadInputError",
    "NotFittedError",
    "BackendError",
    "BackendUnavailableError",
    "BackendMismatchError",
    "RingValueError",
    "FixedPointOverflowError",
    "PartyTimeoutError",
    "PartyError",
    "PartyRefused",
    "PrivacyBudgetError",
    "BudgetExceededError",
    "RoundFailedError",
    "HubError",
    "AccessDenied",
    "NotFound",
    "IntegrityError",
]


class SecuredError(Exception):
    """Root of every error raised on purpose by SECURED."""


class ConfigurationError(SecuredError, ValueError):
    """An option, setting or parameter value is not one SECURED accepts."""


class BadInputError(SecuredError, ValueError):
    """The data given cannot be used as it is: an unreadable or empty file, a missing column,
    missing values where none are allowed, a table too small for the request."""


class NotFittedError(SecuredError, ValueError, AttributeError):
    """An estimator's result or ``transform`` was asked for before ``fit``."""


class BackendError(SecuredError, RuntimeError):
    """A ring backend cannot perform the requested operation here."""


class BackendUnavailableError(BackendError, ImportError):
    """A backend's compiled core or its array library cannot be imported."""


class BackendMismatchError(SecuredError, TypeError):
    """Arrays from different array libraries (e.g. numpy and cupy) were mixed in one call."""


class RingValueError(SecuredError, ValueError):
    """An input to ring arithmetic has the wrong dtype, shape or kind."""


class FixedPointOverflowError(SecuredError, OverflowError):
    """A real value is NaN, infinite or outside the representable fixed-point range."""


class PartyTimeoutError(SecuredError, TimeoutError):
    """A party or the dealer did not answer within the configured timeout."""

    def __init__(self, message: str, *, party: str | None = None) -> None:
        super().__init__(message)
        self.party = party


class PartyError(SecuredError, RuntimeError):
    """A step failed inside a party; the library's own message is withheld (it may quote data)."""


class PartyRefused(SecuredError, PermissionError):
    """A party refused a request outside its protocol: opening a party's private input as it
    is, a second dealer key, code sent to run inside the party."""


class PrivacyBudgetError(SecuredError, RuntimeError):
    """A privacy budget ledger refuses a release: exhausted, corrupt, or of the wrong kind."""


class BudgetExceededError(PrivacyBudgetError):
    """A release would spend more privacy budget than the ledger has left."""


class RoundFailedError(SecuredError, RuntimeError):
    """A federated round got fewer updates than it needs; it is recorded as failed and the run
    resumes from the last completed round."""


class HubError(SecuredError, RuntimeError):
    """The knowledge base refused or could not complete an operation."""


class AccessDenied(HubError, PermissionError):
    """A token is unknown, expired or revoked, or its member may not do this."""


class Unauthenticated(AccessDenied):
    """The token itself is unusable (malformed, unknown, expired or revoked): HTTP 401, where
    a valid token without the right scope, role or visibility is 403."""


class NotFound(HubError, LookupError):
    """No member, dataset, lake object or model with that name or id (or not visible)."""


class IntegrityError(HubError, ValueError):
    """Malformed input (schema, scopes, names) or stored data that fails its checksum."""


class StateConflict(HubError):
    """The object is in a state that does not allow this (a job that has not finished has no
    result to fetch; a finished job cannot be cancelled)."""
