"""The Pruner interface.

``on_report`` sees the study (its StudyView), the trial with every value it has
reported so far, and the newest (step, value); it returns a PruneDecision, which
the coordinator journals as a fact. A pruner keeps no state that cannot be
rebuilt from the StudyView, and never writes to the study.
"""

from __future__ import annotations

import abc

from tunefleet.core.history import StudyView
from tunefleet.core.study import PruneDecision
from tunefleet.core.trial import TrialRecord


class Pruner(abc.ABC):
    @abc.abstractmethod
    def on_report(
        self, view: StudyView, trial: TrialRecord, step: int, value: float
    ) -> PruneDecision:
        """Whether ``trial`` should stop now that it reported ``value`` at ``step``."""


class NopPruner(Pruner):
    """Never prunes."""

    def on_report(
        self, view: StudyView, trial: TrialRecord, step: int, value: float
    ) -> PruneDecision:
        return PruneDecision(False)
