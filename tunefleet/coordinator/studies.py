"""The coordinator's studies by name, each built with its sampler and pruner."""

from __future__ import annotations

from tunefleet.core import events as ev
from tunefleet.core.settings import StudySettings
from tunefleet.core.study import Study
from tunefleet.errors import StudyNotFound
from tunefleet.pruners import make_pruner
from tunefleet.samplers import make_sampler


def build_study(name: str, settings: StudySettings) -> Study:
    """A new, empty Study; ConfigError for unknown samplers, pruners or options."""
    sampler = make_sampler(settings.sampler.name, settings.sampler.options)
    pruner = make_pruner(settings.pruner.name, settings.pruner.options)
    return Study(name, settings, sampler, pruner)


def rebuild_plugins(study: Study) -> None:
    """Build the sampler and pruner objects its settings now name (after PluginsSet)."""
    s = study.settings
    study.sampler = make_sampler(s.sampler.name, s.sampler.options)
    study.pruner = make_pruner(s.pruner.name, s.pruner.options)


class Studies:
    def __init__(self) -> None:
        self.by_name: dict[str, Study] = {}

    def get(self, name: str) -> Study:
        study = self.by_name.get(name)
        if study is None:
            known = ", ".join(sorted(self.by_name)) or "none yet"
            raise StudyNotFound(
                f"there is no study {name!r} on this coordinator (studies: {known}); "
                "create it first with `tunefleet study create SPEC`"
            )
        return study

    def apply(self, event: ev.Event) -> None:
        """Replay: StudyCreated builds the study, every other event goes to its study."""
        if isinstance(event, ev.StudyCreated):
            self.by_name[event.study] = build_study(event.study, event.settings)
        else:
            study = self.get(event.study)
            study.apply(event)
            if isinstance(event, ev.PluginsSet):
                rebuild_plugins(study)
