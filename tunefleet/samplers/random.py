"""RandomSampler: independent uniform sampling (on a log scale where asked)."""

from __future__ import annotations

from tunefleet.core.distributions import Distribution, ParamValue
from tunefleet.core.history import StudyView
from tunefleet.core.trial import TrialRecord
from tunefleet.samplers.base import Sampler, random_value


class RandomSampler(Sampler):
    """Uniform random search (Bergstra & Bengio, JMLR 2012).

    Reproducible: the value of a param depends only on ``seed``, the trial
    number and the param's name, whichever worker asks and in whatever order.
    """

    def __init__(self, *, seed: int = 0) -> None:
        self.seed = int(seed)

    def sample_independent(
        self, view: StudyView, trial: TrialRecord, name: str, dist: Distribution
    ) -> ParamValue:
        return random_value(self.seed, trial.number, name, dist)
