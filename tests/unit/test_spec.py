"""Study specs select and configure every sampler by name, with errors that name the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunefleet.errors import SpecError
from tunefleet.samplers import SAMPLERS, make_sampler
from tunefleet.spec import load_spec

SAMPLER_TABLES = {
    "random": '{ name = "random", seed = 3 }',
    "tpe": '{ name = "tpe", n_startup_trials = 5, multivariate = true, group = true, gamma = 0.2 }',
    "qmc": '{ name = "qmc", qmc_type = "halton", scramble = true, seed = 1 }',
    "grid": '{ name = "grid", search_space = { lr = [0.01, 0.1], act = ["relu", "tanh"] } }',
    "gp": '{ name = "gp", n_startup_trials = 8, deterministic_objective = true }',
    "cmaes": ('{ name = "cmaes", restart_strategy = "ipop", sigma0 = 0.3, popsize = 12, '
              'independent_sampler = "random" }'),
    "nsga2": '{ name = "nsga2", population_size = 20, crossover = "sbx" }',
}


def spec(tmp_path: Path, sampler: str) -> Path:
    path = tmp_path / "study.toml"
    path.write_text(f"[study]\nname = 's'\nsampler = {sampler}\n[objective]\nfunction = 'm:f'\n")
    return path


def test_every_sampler_has_a_spec_example() -> None:
    assert set(SAMPLER_TABLES) == set(SAMPLERS)


@pytest.mark.parametrize("name", sorted(SAMPLER_TABLES))
def test_each_sampler_is_selected_and_configured_by_name(tmp_path: Path, name: str) -> None:
    request = load_spec(spec(tmp_path, SAMPLER_TABLES[name])).create_request()
    assert request.sampler.name == name
    built = make_sampler(request.sampler.name, dict(request.sampler.options))
    assert type(built) is SAMPLERS[name]
    for key, value in request.sampler.options.items():
        assert getattr(built, key) == value


def test_the_default_sampler_is_tpe(tmp_path: Path) -> None:
    path = tmp_path / "study.toml"
    path.write_text("[study]\nname = 's'\n[objective]\nfunction = 'm:f'\n")
    assert load_spec(path).create_request().sampler.name == "tpe"


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ('"cmaess"', "unknown sampler 'cmaess' (did you mean 'cmaes'?); known samplers: cmaes, gp,"),
        ('{ name = "gp", n_startup = 3 }', "sampler 'gp' has no option 'n_startup'; its options are:"),
        ('{ name = "nsga2", crossover = "blx" }', "sampler 'nsga2': "),
        ('{ name = "cmaes", restart_strategy = "lpop" }', "sampler 'cmaes': "),
        ('{ name = "cmaes", independent_sampler = "qmc" }',
         "sampler 'cmaes': independent_sampler must be 'tpe' or 'random'"),
        ('{ name = "grid" }', "sampler 'grid' needs the option 'search_space' (see GridSampler's"),
        ('{ seed = 3 }', "[study].sampler needs a 'name'"),
    ],
)
def test_bad_samplers_name_the_file_and_the_key(tmp_path: Path, table: str, expected: str) -> None:
    path = spec(tmp_path, table)
    with pytest.raises(SpecError) as info:
        load_spec(path).create_request()
    message = str(info.value)
    assert str(path) in message and "[study].sampler" in message
    assert expected in message
