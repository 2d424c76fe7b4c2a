"""tunefleet: hyperparameter and black-box optimization for HPC fleets.

    import tunefleet

    def objective(trial):
        x = trial.suggest_float("x", -10, 10)
        return (x - 2) ** 2

    study = tunefleet.create_study(direction="minimize")
    study.optimize(objective, n_trials=100)
    print(study.best_params)
"""

from tunefleet import distributions, trial
from tunefleet.client import Study, create_study, load_study
from tunefleet.core.settings import Direction
from tunefleet.core.trial import FrozenTrial, TrialState
from tunefleet.errors import (
    BadMessage,
    BrokerAuthError,
    BrokerError,
    ConfigError,
    InvalidValue,
    JournalError,
    RequestTimeout,
    SpecError,
    StudyExists,
    StudyNotFound,
    TrialFinishedError,
    TrialNotFound,
    TrialPruned,
    TunefleetError,
)
from tunefleet.pruners import (
    HyperbandPruner,
    MedianPruner,
    NopPruner,
    PatientPruner,
    PercentilePruner,
    SuccessiveHalvingPruner,
    ThresholdPruner,
)
from tunefleet.samplers import (
    CmaEsSampler,
    GPSampler,
    GridSampler,
    NSGAIISampler,
    QMCSampler,
    RandomSampler,
    TPESampler,
)
from tunefleet.trial import create_trial
from tunefleet.worker.trial import FixedTrial, Trial

__version__ = "0.1.0"

__all__ = [
    "BadMessage",
    "BrokerAuthError",
    "BrokerError",
    "CmaEsSampler",
    "ConfigError",
    "Direction",
    "FixedTrial",
    "FrozenTrial",
    "GPSampler",
    "GridSampler",
    "HyperbandPruner",
    "InvalidValue",
    "JournalError",
    "MedianPruner",
    "NSGAIISampler",
    "NopPruner",
    "PatientPruner",
    "PercentilePruner",
    "QMCSampler",
    "RandomSampler",
    "RequestTimeout",
    "SpecError",
    "Study",
    "StudyExists",
    "StudyNotFound",
    "SuccessiveHalvingPruner",
    "TPESampler",
    "ThresholdPruner",
    "Trial",
    "TrialFinishedError",
    "TrialNotFound",
    "TrialPruned",
    "TrialState",
    "TunefleetError",
    "__version__",
    "create_study",
    "create_trial",
    "distributions",
    "load_study",
    "trial",
]
