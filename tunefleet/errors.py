"""The exceptions a tunefleet user can meet, in one tree.

    TunefleetError                      every error of ours; ``code`` is its stable wire code
    ├── ConfigError         config      a bad argument, option or study spec
    │   └── SpecError       spec        a study spec file: names the file, the key, what was expected
    ├── BadMessage          bad_message a message that does not decode or validate
    ├── StudyNotFound       no_study
    ├── StudyExists         study_exists
    ├── TrialNotFound       no_trial
    ├── TrialFinishedError  trial_finished   a tell (or report) for a trial that has already ended
    ├── IllegalMove         illegal_move     a trial state change outside the allowed table
    ├── InvalidValue        invalid_value    a suggest/tell/report with a value that cannot be used;
    │                                        also a ValueError, as Optuna raises
    ├── BrokerError         broker           the broker cannot be reached or refuses us
    │   └── BrokerAuthError broker_auth
    ├── RequestTimeout      timeout          no answer from the coordinator in time
    └── JournalError        journal          the journal cannot be opened or read

    TrialPruned                          raised by an objective to say "prune me"; not an error

Every message is a full sentence that says what to do. Library exceptions
(pika, sqlite3, pydantic) are translated into these at the edge.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


class TunefleetError(Exception):
    """Base of every tunefleet error. ``code`` is stable and travels on the wire."""

    code = "error"


class ConfigError(TunefleetError):
    code = "config"


class SpecError(ConfigError):
    code = "spec"


class BadMessage(TunefleetError):
    code = "bad_message"


class StudyNotFound(TunefleetError):
    code = "no_study"


class StudyExists(TunefleetError):
    code = "study_exists"


class TrialNotFound(TunefleetError):
    code = "no_trial"


class TrialFinishedError(TunefleetError):
    code = "trial_finished"


class IllegalMove(TunefleetError):
    code = "illegal_move"


class InvalidValue(TunefleetError, ValueError):
    code = "invalid_value"


class BrokerError(TunefleetError):
    code = "broker"


class BrokerAuthError(BrokerError):
    code = "broker_auth"


class RequestTimeout(TunefleetError):
    code = "timeout"


class JournalError(TunefleetError):
    code = "journal"


class TrialPruned(Exception):  # noqa: N818 - Optuna's name, kept so users can move over
    """Raise inside an objective to end the trial as PRUNED."""


BY_CODE: dict[str, type[TunefleetError]] = {
    cls.code: cls
    for cls in (
        TunefleetError,
        ConfigError,
        SpecError,
        BadMessage,
        StudyNotFound,
        StudyExists,
        TrialNotFound,
        TrialFinishedError,
        IllegalMove,
        InvalidValue,
        BrokerError,
        BrokerAuthError,
        RequestTimeout,
        JournalError,
    )
}


def from_code(code: str, message: str) -> TunefleetError:
    """The exception for a wire error ``code`` (unknown codes give the base class)."""
    return BY_CODE.get(code, TunefleetError)(message)


def mask_url(url: str) -> str:
    """``url`` with its password replaced by ``***``, safe for logs and errors."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    if parts.password is None:
        return url
    host = parts.hostname or ""
    port: int | str | None
    try:
        port = parts.port
    except ValueError:  # a port out of range: show what was given, without the password
        port = parts.netloc.rpartition(":")[2] or None
    if port is not None:
        host = f"{host}:{port}"
    netloc = f"{parts.username or ''}:***@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
