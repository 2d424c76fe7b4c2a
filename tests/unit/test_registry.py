"""Plug-ins by name: helpful errors for unknown names, unknown options and bad values."""

from __future__ import annotations

from typing import Any

import pytest

from tunefleet.errors import ConfigError
from tunefleet.pruners import PRUNERS, MedianPruner, NopPruner, PercentilePruner, make_pruner
from tunefleet.samplers import SAMPLERS, RandomSampler, make_sampler


@pytest.mark.parametrize(
    ("make", "name", "options", "cls"),
    [
        (make_sampler, "random", None, RandomSampler),
        (make_sampler, "random", {"seed": 4}, RandomSampler),
        (make_pruner, "nop", {}, NopPruner),
        (make_pruner, "median", {"n_warmup_steps": 3}, MedianPruner),
        (make_pruner, "percentile", {"percentile": 25.0}, PercentilePruner),
    ],
)
def test_known_names_build_their_class(make: Any, name: str, options: Any, cls: type) -> None:
    assert type(make(name, options)) is cls


def test_options_reach_the_plugin() -> None:
    assert make_sampler("random", {"seed": 4}).seed == 4
    pruner = make_pruner("median", {"n_warmup_steps": 3, "interval_steps": 2})
    assert (pruner.n_warmup_steps, pruner.interval_steps) == (3, 2)


REQUIRED = {  # no default in Optuna either
    "patient": {"wrapped_pruner": None, "patience": 1},
    "grid": {"search_space": {"x": [1, 2]}},
}


def test_every_registered_plugin_builds_with_its_defaults() -> None:
    for name in SAMPLERS:
        make_sampler(name, REQUIRED.get(name))
    for name in PRUNERS:
        make_pruner(name, REQUIRED.get(name))


@pytest.mark.parametrize(
    ("make", "name", "match"),
    [
        (make_sampler, "randon", r"unknown sampler 'randon' \(did you mean 'random'\?\); "
                                 "known samplers: " + ", ".join(sorted(SAMPLERS))),
        (make_pruner, "meidan", r"unknown pruner 'meidan' \(did you mean 'median'\?\); "
                                r"known pruners: asha, hyperband, median, nop, patient, percentile, "
                                r"successive_halving, threshold"),
        (make_pruner, "wilcoxon", r"unknown pruner 'wilcoxon'; known pruners: asha, hyperband, median"),
        (make_sampler, "", "unknown sampler ''; known samplers: " + ", ".join(sorted(SAMPLERS))),
    ],
)
def test_unknown_names_list_the_known_ones(make: Any, name: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        make(name)


@pytest.mark.parametrize(
    ("make", "name", "options", "match"),
    [
        (make_sampler, "random", {"sed": 1}, r"sampler 'random' has no option 'sed'; "
                                             r"its options are: seed"),
        (make_pruner, "median", {"percentile": 10, "warmup": 1},
         r"pruner 'median' has no option 'percentile', 'warmup'; its options are: "
         r"interval_steps, n_min_trials, n_startup_trials, n_warmup_steps"),
        (make_pruner, "nop", {"x": 1}, r"pruner 'nop' has no option 'x'; its options are: none"),
    ],
)
def test_unknown_options_are_named(make: Any, name: str, options: dict[str, Any],
                                   match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        make(name, options)


@pytest.mark.parametrize(
    ("make", "name", "options", "match"),
    [
        (make_sampler, "random", {"seed": "abc"}, r"sampler 'random': invalid literal"),
        (make_sampler, "random", {"seed": None}, r"sampler 'random': .*NoneType"),
        (make_pruner, "median", {"n_warmup_steps": -1}, r"pruner 'median': .*n_warmup_steps"),
        (make_pruner, "median", {"interval_steps": 0}, r"pruner 'median': .*interval_steps"),
        (make_pruner, "percentile", {"percentile": 150.0}, r"pruner 'percentile': percentile"),
        (make_pruner, "percentile", {"percentile": "50"}, r"pruner 'percentile': "),
    ],
)
def test_bad_option_values_are_config_errors(make: Any, name: str, options: dict[str, Any],
                                             match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        make(name, options)
