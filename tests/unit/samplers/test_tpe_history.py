"""How TPE splits finished trials into good and bad, and the Pareto tools it uses for that."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.samplers.studies import Run
from tunefleet.core.distributions import FloatDistribution
from tunefleet.core.pareto import hssp, hypervolume
from tunefleet.core.pareto import nondominated_ranks as nondomination_ranks
from tunefleet.core.trial import TrialState
from tunefleet.samplers import TPESampler
from tunefleet.samplers.parzen import floor_width, log_unit_mass
from tunefleet.samplers.tpe_history import _KEPT_BLOCKS, TrialFacts, split, split_ranked

X = FloatDistribution(0.0, 1.0)


def history(rows: list[tuple[TrialState, float | None, list[float] | None]],
            directions: tuple[str, ...] = ("minimize",)) -> Run:
    """A study whose trial i ended as rows[i] says: (state, value, constraints)."""
    run = Run(TPESampler(n_startup_trials=10**6), directions=directions)
    for state, value, constraints in rows:
        t = run.ask()
        t.suggest("x", X)
        run.tell(t, value, state=state, constraints=constraints)
    return run


def numbers(run: Run, idx: np.ndarray) -> list[int]:
    return sorted(run.study.view.numbers()[idx].tolist())


def test_the_best_complete_trials_are_good_ties_by_number() -> None:
    C, F = TrialState.COMPLETE, TrialState.FAIL
    run = history([(C, 3.0, None), (C, 1.0, None), (F, None, None), (C, 1.0, None), (C, 0.5, None),
                   (C, 1.0, None)])
    facts = TrialFacts(run.study.view)
    facts.sync()
    good, bad = split(facts, 3)
    assert numbers(run, good) == [1, 3, 4]  # 0.5, then the first two of three 1.0s
    assert numbers(run, bad) == [0, 5]  # a FAIL is neither
    assert numbers(run, split(facts, 0)[1]) == [0, 1, 3, 4, 5]


def test_maximize_takes_the_largest() -> None:
    C = TrialState.COMPLETE
    run = history([(C, v, None) for v in (1.0, 5.0, 3.0)], directions=("maximize",))
    facts = TrialFacts(run.study.view)
    facts.sync()
    assert numbers(run, split(facts, 1)[0]) == [1]


def test_infeasible_trials_are_bad_unless_good_ones_run_short() -> None:
    C = TrialState.COMPLETE
    run = history([(C, 0.0, [2.0]), (C, 5.0, [0.0, -1.0]), (C, 0.1, [0.5, 0.5]), (C, 9.0, None)])
    facts = TrialFacts(run.study.view)
    facts.sync()
    assert numbers(run, split(facts, 2)[0]) == [1, 3]  # the feasible ones, however bad
    assert numbers(run, split(facts, 3)[0]) == [1, 2, 3]  # then the least infeasible (1.0 < 2.0)


def test_pruned_trials_that_went_furthest_come_after_the_complete_ones() -> None:
    run = Run(TPESampler(n_startup_trials=10**6))
    for i, steps in enumerate([{0: 5.0}, {0: 1.0, 1: 9.0}, {0: 1.0, 1: 2.0}, {}]):
        t = run.ask()
        t.suggest("x", X)
        if steps:
            run.study.report(t.number, steps, request_id=f"p{i}", now=0.0)
        run.tell(t, None, state=TrialState.PRUNED)
    t = run.ask()
    run.tell(t, 100.0)
    facts = TrialFacts(run.study.view)
    facts.sync()
    assert numbers(run, split(facts, 3)[0]) == [1, 2, 4]  # the complete one, then step 1 by value


def test_good_trials_are_ranked_best_first_then_infeasible_by_violation() -> None:
    C = TrialState.COMPLETE
    run = history([(C, 3.0, [0.0]), (C, 1.0, [0.0]), (C, 0.0, [4.0]), (C, 1.0, [-1.0]),
                   (C, 0.5, [0.0]), (C, 7.0, [1.0])])
    facts = TrialFacts(run.study.view)
    facts.sync()
    good, bad, ranks = split_ranked(facts, 6)
    assert np.array_equal(good, split(facts, 6)[0]) and bad.size == 0
    numbers = run.study.view.numbers()[good]
    # 0.5, the two 1.0s by number, 3.0; then violation 1.0 before 4.0
    assert [int(n) for n in numbers[np.argsort(ranks)]] == [4, 1, 3, 0, 5, 2]


def test_facts_grow_with_the_view_and_start_over_on_another() -> None:
    C = TrialState.COMPLETE
    run = history([(C, 1.0, None), (C, 2.0, None)])
    facts = TrialFacts(run.study.view)
    facts.sync()
    assert facts.n == 2 and facts.n_used == 2
    t = run.ask()
    t.suggest("x", X)
    run.tell(t, 0.0)
    facts.sync()
    assert facts.n == 3 and list(facts.values_of("x", X)) == [r.params["x"] for r in run.study.trials]
    other = FloatDistribution(0.0, 0.5)  # a narrower range: values outside it are not usable
    col = facts.values_of("x", other)
    assert all((np.isnan(c) and v > 0.5) or c == v for c, v in zip(col, facts.values_of("x", X),
                                                                      strict=True))


@settings(max_examples=25, deadline=None)
@given(batches=st.lists(st.integers(1, 30), min_size=1, max_size=6), seed=st.integers(0, 10**6))
def test_sorted_blocks_are_the_columns_sorted_afresh(batches: list[int], seed: int) -> None:
    """After each batch of trials (ties, params left out, values outside a narrower range,
    a floor that moves while n < 98), every row of ``sorted_block`` is its column sorted
    afresh: by value, ties by finishing order, the trials without a usable value last."""
    rng = np.random.default_rng(seed)
    dists = {"a": FloatDistribution(0.0, 1.0), "b": FloatDistribution(1e-3, 1.0, log=True),
             "c": FloatDistribution(0.0, 1.0, step=0.25)}
    run = Run(TPESampler(n_startup_trials=10**6))
    facts = TrialFacts(run.study.view)
    params = (("a", dists["a"]), ("b", dists["b"]), ("c", dists["c"]),
              ("a", FloatDistribution(0.0, 0.5)))  # a narrower range: some values not usable
    for size in batches:
        for _ in range(size):
            t = run.ask()
            for name, dist in dists.items():
                if rng.random() < 0.8:
                    t.suggest(name, dist)
            run.tell(t, 0.0)
        facts.sync()
        floor = floor_width(int(rng.integers(0, 150)))
        block = facts.sorted_block(params)
        log_z = block.log_mass(floor)
        for r, (name, dist) in enumerate(params):
            values, units = facts.values_of(name, dist), facts.unit_of(name, dist)
            want = np.argsort(np.where(np.isnan(values), np.inf, values), kind="stable")
            assert block.order[r].tolist() == want.tolist()
            assert np.array_equal(block.units[:, r], units, equal_nan=True)
            usable = ~np.isnan(units)
            assert np.array_equal(log_z[usable, r], log_unit_mass(units[usable], floor))


def test_sorted_blocks_kept_are_the_last_few_asked_for() -> None:
    run = history([(TrialState.COMPLETE, float(v), None) for v in range(5)])
    facts = TrialFacts(run.study.view)
    facts.sync()
    blocks = [(("x", FloatDistribution(0.0, 1.0 + i)),) for i in range(_KEPT_BLOCKS + 2)]
    for block in blocks:
        facts.sorted_block(block)
    assert list(facts._blocks) == blocks[2:]
    facts.sorted_block(blocks[2])  # asked for again: the newest
    assert list(facts._blocks) == blocks[3:] + blocks[2:3]


def brute_ranks(loss: np.ndarray) -> np.ndarray:
    n = len(loss)
    ranks = np.full(n, -1)
    rest = set(range(n))
    r = 0
    while rest:
        front = {i for i in rest if not any(
            np.all(loss[j] <= loss[i]) and np.any(loss[j] < loss[i]) for j in rest)}
        for i in front:
            ranks[i] = r
        rest -= front
        r += 1
    return ranks


points = st.integers(1, 40).flatmap(lambda n: st.integers(1, 4).flatmap(
    lambda m: st.lists(st.lists(st.integers(0, 6).map(float), min_size=m, max_size=m),
                       min_size=n, max_size=n))).map(np.array)


@settings(max_examples=150, deadline=None)
@given(loss=points)
def test_nondomination_ranks_are_pareto_ranks(loss: np.ndarray) -> None:
    want = brute_ranks(loss)
    got = nondomination_ranks(loss, len(loss))
    assert list(got) == list(want)
    k = max(1, len(loss) // 3)
    partial = nondomination_ranks(loss, k)
    ranked = partial >= 0
    assert ranked.sum() >= k and list(partial[ranked]) == list(want[ranked])
    assert all(want[~ranked] > want[ranked].max(initial=-1))


def brute_hv(pts: np.ndarray, ref: np.ndarray) -> float:
    """Exact: sum the cells of the grid that every coordinate cuts, dominated by some point."""
    axes = [np.unique(np.append(pts[:, d], ref[d])) for d in range(len(ref))]
    total = 0.0
    for cell in itertools.product(*[range(len(a) - 1) for a in axes]):
        lo = np.array([axes[d][i] for d, i in enumerate(cell)])
        hi = np.array([axes[d][i + 1] for d, i in enumerate(cell)])
        if np.any(np.all(pts <= lo, axis=1)):
            total += float(np.prod(hi - lo))
    return total


@settings(max_examples=100, deadline=None)
@given(pts=st.integers(1, 7).flatmap(lambda n: st.integers(1, 3).flatmap(
    lambda m: st.lists(st.lists(st.floats(0, 10), min_size=m, max_size=m), min_size=n,
                       max_size=n))).map(np.array))
def test_hypervolume_is_exact(pts: np.ndarray) -> None:
    ref = np.full(pts.shape[1], 11.0)
    assert hypervolume(pts, ref) == pytest.approx(brute_hv(pts, ref), rel=1e-9, abs=1e-9)


def test_hypervolume_subset_selection_is_greedy_by_contribution() -> None:
    pts = np.array([[0.0, 10.0], [1.0, 5.0], [5.0, 1.0], [10.0, 0.0], [2.0, 4.0]])
    ref = np.array([11.0, 11.0])
    # greedy: (2, 4) dominates most alone, then (5, 1) adds most to it (the best pair,
    # (1, 5) with (5, 1), is not found: greedy selection is a 1 - 1/e approximation)
    assert list(hssp(pts, 2, ref)) == [2, 4]
    assert list(hssp(pts, 5, ref)) == [0, 1, 2, 3, 4]
    greedy: list[int] = []
    for _ in range(3):
        best = max((i for i in range(5) if i not in greedy),
                   key=lambda i: (brute_hv(pts[greedy + [i]], ref), -i))
        greedy.append(best)
    assert list(hssp(pts, 3, ref)) == sorted(greedy)


def test_several_objectives_take_whole_fronts_then_cut_by_hypervolume() -> None:
    C = TrialState.COMPLETE
    values = [(0.0, 3.0), (3.0, 0.0), (1.0, 1.0), (2.0, 2.0), (4.0, 4.0), (0.5, 2.5)]
    run = history([(C, v, None) for v in values], directions=("minimize", "minimize"))  # type: ignore[misc]
    facts = TrialFacts(run.study.view)
    facts.sync()
    # front 0: 0, 1, 2, 5; front 1: 3; front 2: 4
    assert numbers(run, split(facts, 4)[0]) == [0, 1, 2, 5]
    assert numbers(run, split(facts, 5)[0]) == [0, 1, 2, 3, 5]
    good = numbers(run, split(facts, 2)[0])
    assert len(good) == 2 and set(good) <= {0, 1, 2, 5}
