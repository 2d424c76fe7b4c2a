"""NopPruner: the pruner of a study that prunes nothing."""

from __future__ import annotations

from tunefleet.core.history import StudyView
from tunefleet.core.replies import NEVER, PruneDecision
from tunefleet.core.trial import TrialRecord
from tunefleet.pruners.base import Pruner


class NopPruner(Pruner):
    """Never prunes (Optuna's NopPruner; no paper). Holds nothing.

    Its answer tells workers that no report can change anything, so they keep their
    intermediate values and send them all with the tell: one report per trial.
    """

    def on_report(
        self, view: StudyView, trial: TrialRecord, step: int, value: float
    ) -> PruneDecision:
        return PruneDecision(False, next_step=NEVER)
