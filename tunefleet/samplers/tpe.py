"""TPESampler: the Tree-structured Parzen Estimator, with Optuna 5's defaults and behaviour.

Per ask, the finished trials are split into good and bad (``tpe_history.split``), a
Parzen estimator is fitted to each (g's kernels: ``tpe_bad``), ``n_ei_candidates`` points
are drawn from the good one, and the point with the largest log l(x) - log g(x) is taken:
per block of params sampled together (``parzen.Parzen``; g of continuous params at
hundreds of trials as a ``parzen_kept.KeptMixture``, refitted where its kernels moved), or
for all single numeric params of the ask at once, a row each
(``parzen_sorted.SortedParzen``, which visits only the kernels near a point, and first
bounds g to score most candidates without them, ``_best_rows``).
With ``constant_liar`` the trials still RUNNING count as bad, with the params they were
handed (Optuna's rule), and g(x) also holds narrow kernels at them with the
weight good trials have in l(x) (``_lie``), so workers asking at once are steered away
from each other's points even when thousands of finished trials dilute the bad ones; and
while trials run, l(x) leans on the best of the good trials (``_lean``) and holds a kernel
at their weighted mean, stepped towards the least of a quadratic fitted to their ranks
(``tpe_elite``), so a fleet of many workers, whose asks cannot learn from the trials still
running, exploits its best trials harder and closes in on an optimum in fewer rounds.

What the sampler keeps is a cache of facts about finished trials (and the kept g
mixtures) that it rebuilds from the StudyView when it meets another view; what it asks is
a function of the view, whatever it kept. Randomness comes from ``stream(seed, trial
number, names)``, so a study asks the same points whatever process runs the sampler.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from tunefleet.core.distributions import CategoricalDistribution, Distribution, ParamValue
from tunefleet.core.history import StudyView
from tunefleet.core.trial import TrialRecord
from tunefleet.samplers.base import Sampler, random_value, stream, varying
from tunefleet.samplers.parzen import CAT, Axis, Parzen, take_rows
from tunefleet.samplers.parzen_sorted import SortedParzen, handles
from tunefleet.samplers.tpe_bad import BadTrials
from tunefleet.samplers.tpe_elite import elite_count, elite_kernel, with_elite
from tunefleet.samplers.tpe_history import TrialFacts, split_ranked, usable

WEIGHTS = ("default", "uniform")
_LIE_WIDTH = 0.25  # a RUNNING trial's kernel in g, as a fraction of l's median kernel width
_LEAN_SCALE = 1.3  # with k trials RUNNING, l's weights fall by e every 1.3 n_good / k ranks
# the liar of _sample_rows: log g at candidates ``at`` (m', rows) -> lied log g
_RowLiar = Callable[[np.ndarray, np.ndarray], np.ndarray]


def default_weights(n: int) -> np.ndarray:
    """Optuna's weights of n trials in trial-number order: the newest 25 weigh 1, older ones
    ramp down linearly to 1/n."""
    if n < 25:
        return np.ones(n)
    return np.concatenate([np.linspace(1.0 / n, 1.0, num=n - 25), np.ones(25)])


@dataclass(frozen=True)
class _Part:
    """One block of an ask: its axes, the trials' columns, the running rows, its stream."""

    block: dict[str, Distribution]
    axes: list[Axis]
    cols: list[np.ndarray]
    run_obs: np.ndarray
    run_numbers: np.ndarray
    rng: np.random.Generator


def _single_value(dist: Distribution) -> ParamValue:
    """The one value of a distribution that has one."""
    if isinstance(dist, CategoricalDistribution):
        return dist.choices[0]
    return dist.to_external(float(dist.low))


def _check_int(name: str, value: Any, least: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ValueError(f"{name} must be an int >= {least}, got {value!r}")


class TPESampler(Sampler):
    """Tree-structured Parzen Estimator (Bergstra, Bardenet, Bengio & Kégl, "Algorithms for
    Hyper-Parameter Optimization", NeurIPS 2011), multivariate as in Falkner, Klein & Hutter
    (BOHB, ICML 2018), with Optuna's components (Watanabe, "Tree-Structured Parzen Estimator:
    Understanding Its Algorithm Components", arXiv:2304.11127), multi-objective splitting as
    in MOTPE (Ozaki et al., GECCO 2020 / JAIR 2022), and constraints as Optuna handles them.

    Options, with Optuna 5's names and defaults:

    - ``n_startup_trials``: random sampling until this many trials are COMPLETE or PRUNED.
    - ``n_ei_candidates``: points drawn from l(x) per ask.
    - ``gamma``: the good fraction: None is Optuna's (min(ceil(0.1 n), 25), or ceil(0.1 n)
      with several objectives); a number f in (0, 1] is min(ceil(f n), 25) (ceil(f n) with
      several objectives); "hyperopt" is min(ceil(0.25 sqrt(n)), 25).
    - ``weights``: "default" (Optuna's: older bad trials weigh less) or "uniform".
    - ``prior_weight``, ``consider_endpoints``: the Parzen estimators' prior and bandwidths.
    - ``multivariate``: joint sampling of the params that every trial used; None means True
      for one objective and False for several, as Optuna. False samples each param alone,
      still at ask time (so a worker needs no round trip per param).
    - ``group``: with multivariate, sample jointly each group of params that always appear
      together (conditional spaces).
    - ``constant_liar``: RUNNING trials count as bad trials, and keep other asks off their
      points (Ginsbourger, Le Riche & Carraro, "Kriging is well-suited to parallelize
      optimization", 2010, for the liar; the narrow kernels are ours, see ``_lie``). With
      one objective, l(x) also leans on the best good trials while trials run and holds
      their elite kernel (ours, see ``_lean`` and ``tpe_elite``); with no trial running,
      the sampler is Optuna's.
    - ``seed``: the random streams' seed (None means 0; the coordinator gives a study with
      no seed a random one when it creates it).

    ``gamma`` and ``weights`` take names and numbers, not functions, so that a study's
    options stay JSON and TOML.
    """

    def __init__(
        self,
        *,
        n_startup_trials: int = 10,
        n_ei_candidates: int = 24,
        gamma: float | str | None = None,
        weights: str = "default",
        prior_weight: float = 1.0,
        consider_endpoints: bool = False,
        multivariate: bool | None = None,
        group: bool = False,
        constant_liar: bool = True,
        seed: int | None = None,
    ) -> None:
        _check_int("n_startup_trials", n_startup_trials, 0)
        _check_int("n_ei_candidates", n_ei_candidates, 1)
        if gamma is not None and gamma != "hyperopt" and (
            isinstance(gamma, bool) or not isinstance(gamma, (int, float)) or not 0 < gamma <= 1
        ):
            raise ValueError(f"gamma must be a fraction in (0, 1], 'hyperopt' or None, got {gamma!r}")
        if weights not in WEIGHTS:
            raise ValueError(f"weights must be one of {', '.join(WEIGHTS)}, got {weights!r}")
        if not (isinstance(prior_weight, (int, float)) and prior_weight >= 0 and math.isfinite(prior_weight)):
            raise ValueError(f"prior_weight must be a number >= 0, got {prior_weight!r}")
        if group and multivariate is False:
            raise ValueError("group=True needs multivariate=True (or multivariate left unset)")
        self.n_startup_trials = int(n_startup_trials)
        self.n_ei_candidates = int(n_ei_candidates)
        self.gamma = gamma
        self.weights = weights
        self.prior_weight = float(prior_weight)
        self.consider_endpoints = bool(consider_endpoints)
        self.multivariate = multivariate
        self.group = bool(group)
        self.constant_liar = bool(constant_liar)
        self.seed = seed
        self._seed = 0 if seed is None else int(seed)
        self._facts: TrialFacts | None = None
        self._last_split: tuple[TrialFacts, tuple[int, int, int | None],
                                tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None
        self._bad = BadTrials(self._weights, self.prior_weight, self.consider_endpoints)

    # ---- the Sampler interface ---------------------------------------------------------
    def infer_relative_search_space(
        self, view: StudyView, trial: TrialRecord
    ) -> dict[str, Distribution]:
        """The intersection space (or, with ``group``, every group's params), without the
        params that can take one value only."""
        facts = self._facts_of(view)
        if self.group:
            space = {k: d for g in facts.groups for k, d in g.items()}
        else:
            space = dict(facts.intersection or {})
        return varying(space)

    def sample_relative(
        self, view: StudyView, trial: TrialRecord, space: dict[str, Distribution]
    ) -> dict[str, ParamValue]:
        facts = self._facts_of(view)
        out: dict[str, ParamValue] = {k: _single_value(d) for k, d in space.items() if d.single()}
        out.update(self._sample_blocks(view, facts, trial, self._blocks(facts, varying(space))))
        return out

    def sample_independent(
        self, view: StudyView, trial: TrialRecord, name: str, dist: Distribution
    ) -> ParamValue:
        if dist.single():
            return _single_value(dist)
        return self._sample_blocks(view, self._facts_of(view), trial, [{name: dist}])[name]

    # ---- helpers -----------------------------------------------------------------------
    def _facts_of(self, view: StudyView) -> TrialFacts:
        if self._facts is None or self._facts.view is not view:
            self._facts = TrialFacts(view)
        self._facts.sync()
        return self._facts

    def _is_multivariate(self, view: StudyView) -> bool:
        if self.multivariate is not None:
            return self.multivariate
        return self.group or len(view.directions) == 1

    def _blocks(self, facts: TrialFacts, space: dict[str, Distribution]) -> list[dict[str, Distribution]]:
        """How ``space`` is sampled: blocks sampled jointly, and every other param alone."""
        if not self._is_multivariate(facts.view):
            return [{k: d} for k, d in space.items()]
        if self.group:
            joint = [{k: space[k] for k in sorted(g) if k in space} for g in facts.groups]
        else:
            inter = facts.intersection or {}
            joint = [{k: d for k, d in space.items() if k in inter}]
        joint = [b for b in joint if b]
        taken = {k for b in joint for k in b}
        return joint + [{k: d} for k, d in space.items() if k not in taken]

    def _n_below(self, n: int, n_objectives: int) -> int:
        """How many of ``n`` finished trials are good: Optuna's ``gamma``."""
        if self.gamma == "hyperopt":
            k = 0.25 * math.sqrt(n)
        else:
            k = (0.1 if self.gamma is None else float(self.gamma)) * n
        if n_objectives > 1:  # Optuna caps only hyperopt's rule there
            return min(math.ceil(k), 25) if self.gamma == "hyperopt" else math.ceil(k)
        return min(math.ceil(k), 25)

    @staticmethod
    def _lean(ranks: np.ndarray, n_running: int) -> np.ndarray | None:
        """Factors on the good trials' weights in l(x) while ``n_running`` other trials run
        (None: all 1, as when none does). ``ranks``: the good trials' ranks, 0 for the best.

        The r-th best weighs exp(-r k / (1.3 n_good)) with k trials running. The asks made
        while trials run learn nothing from them, and a fleet of k workers sees k - 1
        running at every ask; by the time those trials end, a sequential study would have
        narrowed onto its best trials. With 63 running, the best of 25 good trials holds
        86 % of the good trials' weight; with 15, the best three hold 74 %. The bandwidths
        stay those of the whole good group, so the kernel of the best trial is as narrow as
        its neighbours among the good trials make it. Measured with 16 and 64 pending over
        20 seeds (``benchmarks/README.md``, part 3), against the shrinking of the good
        group by 1 + k / 16 that this replaced: with 64 workers, Hartmann6 kept 0.84-0.86
        of its sequential result (was 0.64-0.76), Rosenbrock-10 0.92-0.94 (was 0.83-0.84)."""
        if n_running == 0 or len(ranks) == 0:
            return None
        return np.exp(-ranks * (n_running / (_LEAN_SCALE * len(ranks))))

    def _weights(self, n: int) -> np.ndarray:
        return default_weights(n) if self.weights == "default" else np.ones(n)

    def _sample_blocks(
        self, view: StudyView, facts: TrialFacts, trial: TrialRecord,
        blocks: list[dict[str, Distribution]],
    ) -> dict[str, ParamValue]:
        """One point per block, each block sampled on its own from one good/bad split.

        Blocks of one numeric param that every good and bad trial used, with the same
        running trials, are sampled together as the rows of ``SortedParzen`` estimators
        (with ``multivariate=False`` that is usually every param, in a few numpy calls);
        the other blocks one by one with ``Parzen``. Both give the same points."""
        # Under Hyperband, learn from the trials of this trial's bracket only (as Optuna).
        cohort = view.cohort_of(trial.number)
        keep = None if cohort is None else facts.cohort_mask(cohort)
        n_used = facts.n_used if keep is None else facts.n_used_in(keep)
        if n_used < self.n_startup_trials:
            return {k: random_value(self._seed, trial.number, k, d)
                    for block in blocks for k, d in block.items()}
        n_below = self._n_below(n_used, len(view.directions))
        good, bad, ranks = self._split(facts, n_below, cohort, keep)
        lean = None
        if self.constant_liar and len(view.directions) == 1:
            lean = self._lean(ranks, self._n_running(view, trial, cohort))
        parts = [self._part(view, facts, trial, block, cohort) for block in blocks]
        rows: dict[tuple[int, ...], list[_Part]] = {}
        out: dict[str, ParamValue] = {}
        for part in parts:
            if self._is_row(part, good, bad):
                rows.setdefault(tuple(part.run_numbers), []).append(part)
            else:
                out.update(self._sample_joint(facts, part, good, bad, ranks, lean))
        for members in rows.values():
            out.update(self._sample_rows(facts, members, good, bad, ranks, lean))
        return {k: out[k] for block in blocks for k in block}

    def _part(
        self, view: StudyView, facts: TrialFacts, trial: TrialRecord,
        block: dict[str, Distribution], cohort: int | None,
    ) -> _Part:
        names = list(block)
        axes = [Axis.of(block[k]) for k in names]
        # the trials' values on the axes' [0, 1] scales (choice indices on categorical ones)
        cols = [facts.values_of(k, block[k]) if a.kind == CAT else facts.unit_of(k, block[k])
                for k, a in zip(names, axes, strict=True)]
        run_obs, run_numbers = self._running(view, trial, block, axes, cohort)
        if not self.constant_liar:
            run_obs, run_numbers = run_obs[:0], run_numbers[:0]
        rng = stream(self._seed, trial.number, "tpe\x1f" + "\x1f".join(names))
        return _Part(block, axes, cols, run_obs, run_numbers, rng)

    @staticmethod
    def _is_row(part: _Part, good: np.ndarray, bad: np.ndarray) -> bool:
        """Whether a block can be a row of ``_sample_rows``."""
        if len(part.axes) != 1 or not handles(part.axes[0], len(good)):
            return False
        if not handles(part.axes[0], len(bad) + len(part.run_obs)):
            return False
        col = part.cols[0]
        return not (np.isnan(col[good]).any() or np.isnan(col[bad]).any())

    def _good_weights(self, n: int, n_objectives: int, lean: np.ndarray | None) -> np.ndarray:
        """l's weights of ``n`` good trials in trial-number order, times ``lean``'s factors."""
        w = self._weights(n) if n_objectives == 1 else np.ones(n)
        return w if lean is None else w * lean

    def _sample_joint(
        self, facts: TrialFacts, part: _Part, good: np.ndarray, bad: np.ndarray,
        ranks: np.ndarray, lean: np.ndarray | None,
    ) -> dict[str, ParamValue]:
        """A block sampled jointly: l(x) and g(x) are ``Parzen`` mixtures of product kernels
        (l with the elite kernel while trials run, ``tpe_elite``)."""
        options = self._options()
        good_obs, used = self._observations(part.cols, good)
        weights = self._good_weights(len(good_obs), len(facts.signs),
                                     None if lean is None else lean[used])
        below = Parzen(part.axes, good_obs, weights, **options)
        candidates = below.sample(part.rng, self.n_ei_candidates)
        elite = None if lean is None else elite_kernel(
            part.axes, good_obs, ranks[used], consider_endpoints=self.consider_endpoints)
        if elite is not None:  # the last of the candidates drawn from the mixture instead
            n_elite = elite_count(part.rng, len(candidates))
            candidates[len(candidates) - n_elite :] = elite.sample(part.rng, n_elite)
        log_g = self._bad.log_g(facts, part.block, part.axes, part.cols, bad, part.run_obs,
                                part.run_numbers, candidates)
        if len(part.run_obs):
            log_g = self._lie(below.kernel_widths(), len(good_obs), part.run_obs, part.axes,
                              candidates, log_g)
        log_l = below.log_pdf(candidates)
        if elite is not None:
            log_l = with_elite(log_l, elite.log_pdf(candidates))
        best = candidates[int(np.argmax(log_l - log_g))]
        return {k: d.to_external(float(best[i])) for i, (k, d) in enumerate(part.block.items())}

    def _sample_rows(
        self, facts: TrialFacts, parts: list[_Part], good: np.ndarray, bad: np.ndarray,
        ranks: np.ndarray, lean: np.ndarray | None,
    ) -> dict[str, ParamValue]:
        """Blocks of one numeric param each, every good and bad trial holding it and the same
        trials running: l(x) and g(x) of all of them as the rows of two ``SortedParzen`` (l
        with each row's elite kernel while trials run, ``tpe_elite``)."""
        options = self._options()
        axes = [p.axes[0] for p in parts]
        pos = np.array([p.cols[0][good] for p in parts]).reshape(len(parts), len(good))
        by_pos = np.argsort(pos, axis=1, kind="stable")
        below = SortedParzen(axes, take_rows(pos, by_pos), by_pos,
                             self._good_weights(len(good), len(facts.signs), lean), **options)
        candidates = below.sample([p.rng for p in parts], self.n_ei_candidates)  # (m, rows)
        log_l = self._rows_log_l(below, parts, pos, ranks, candidates, lean is not None)
        weights, in_g = self._bad.sorted_weights(facts, bad, parts[0].run_numbers)
        params = tuple(next(iter(p.block.items())) for p in parts)
        run_pos = np.stack([p.run_obs[:, 0] for p in parts])
        mu, order, log_z = self._bad.sorted_kernels(facts, params, in_g, run_pos)
        above = SortedParzen(axes, mu, order, weights, floor_log_z=log_z, **options)
        lie = self._row_liar(below, len(good), parts, candidates)
        best = self._best_rows(candidates, log_l, above, lie)
        return {k: d.to_external(float(candidates[best[j], j]))
                for j, p in enumerate(parts) for k, d in p.block.items()}

    def _rows_log_l(self, below: SortedParzen, parts: list[_Part], pos: np.ndarray,
                    ranks: np.ndarray, candidates: np.ndarray, elites: bool) -> np.ndarray:
        """log l at the candidates of ``_sample_rows``, (m, rows). With ``elites`` (trials
        running), each row's l holds its elite kernel, and the last of the row's candidates
        are drawn from that mixture instead (in place)."""
        kernels = [elite_kernel(p.axes, pos[j][:, None], ranks, consider_endpoints=self.consider_endpoints)
                   if elites else None for j, p in enumerate(parts)]
        for j, (part, elite) in enumerate(zip(parts, kernels, strict=True)):
            if elite is not None:
                n_elite = elite_count(part.rng, len(candidates))
                candidates[len(candidates) - n_elite :, j] = elite.sample(part.rng, n_elite)[:, 0]
        log_l = below.log_pdf(candidates)
        for j, elite in enumerate(kernels):
            if elite is not None:
                log_l[:, j] = with_elite(log_l[:, j], elite.log_pdf(candidates[:, j : j + 1]))
        return log_l

    @staticmethod
    def _best_rows(candidates: np.ndarray, log_l: np.ndarray, above: SortedParzen,
                   lie: _RowLiar | None) -> np.ndarray:
        """Per row, the candidate with the largest log l - log g, as the argmax over every
        candidate's exact score: g is bounded first from its nearest kernels
        (``SortedParzen.log_pdf_bounds``), and only the candidates whose score could reach
        the best lower bound get their exact g, in candidate order."""
        cols = np.arange(candidates.shape[1])
        idx = np.broadcast_to(np.arange(len(candidates))[:, None], candidates.shape)

        def score(at: np.ndarray, log_g: np.ndarray) -> np.ndarray:
            return log_l[at, cols] - (log_g if lie is None else lie(log_g, at))

        bounds = above.log_pdf_bounds(candidates)
        if bounds is None:
            return np.argmax(score(idx, above.log_pdf(candidates)), axis=0)
        high, low = score(idx, bounds[0]), score(idx, bounds[1])
        need = high >= low.max(axis=0) - 1e-9  # (with room for rounding)
        need[:, ~need.any(axis=0)] = True  # (NaN scores: every candidate, as argmax sees them)
        counts = need.sum(axis=0)
        # the needed candidates of each row, in order, padded with the row's first
        at = np.empty((int(counts.max()), len(cols)), dtype=np.int64)
        for j in cols:
            picked = np.flatnonzero(need[:, j])
            at[:, j] = picked[0]
            at[: len(picked), j] = picked
        sub = candidates[at, cols]
        return at[np.argmax(score(at, above.log_pdf(sub)), axis=0), cols]

    def _row_liar(self, below: SortedParzen, n_good: int, parts: list[_Part],
                  candidates: np.ndarray) -> _RowLiar | None:
        """``_lie`` for the rows of ``_sample_rows``: a function of log g at the candidates
        ``at`` (indices into ``candidates``, as (m', rows)); None with nothing running."""
        if not len(parts[0].run_obs):
            return None
        widths = below.kernel_widths()
        terms = [self._lie_terms(widths[d : d + 1], n_good, p.run_obs, p.axes, candidates[:, d : d + 1])
                 for d, p in enumerate(parts)]
        g_share, run_share = terms[0][0], terms[0][1]  # the same for every row: the same trials run
        pending = np.stack([t[2] for t in terms], axis=1)  # (m, rows)
        cols = np.arange(len(parts))
        return lambda log_g, at: np.logaddexp(g_share + log_g, run_share + pending[at, cols])

    def _options(self) -> dict[str, Any]:
        return {"prior_weight": self.prior_weight, "consider_endpoints": self.consider_endpoints}

    def _split(
        self, facts: TrialFacts, n_below: int, cohort: int | None, keep: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``split_ranked``, once per ask: the blocks of one ask share it (a cache of the
        last one)."""
        key = (facts.n, n_below, cohort)
        last = self._last_split
        if last is None or last[0] is not facts or last[1] != key:
            last = self._last_split = (facts, key, split_ranked(facts, n_below, keep))
        return last[2]

    @staticmethod
    def _observations(cols: list[np.ndarray], idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(rows of the trials at ``idx`` that used every param of the block, from ``cols``;
        which of ``idx`` those are, a mask)."""
        raw = np.stack([c[idx] for c in cols], axis=1) if len(idx) else np.empty((0, len(cols)))
        used = np.asarray(~np.isnan(raw).any(axis=1))
        return raw[used], used

    def _lie(self, widths: np.ndarray, n_good: int, run_obs: np.ndarray, axes: list[Axis],
             candidates: np.ndarray, log_g: np.ndarray) -> np.ndarray:
        """log g(x) with the RUNNING trials weighing as much as the good trials do in l(x).

        Counted as bad trials only (Optuna's liar), a RUNNING trial is one kernel among all
        the bad ones, so with hundreds of trials it hardly keeps another ask away. Here g is
        also mixed with narrow kernels at the RUNNING trials (a quarter of l's median kernel
        width; on a categorical axis, their very choice) that hold the share of g that they
        would hold of l: a candidate next to a RUNNING trial then scores about as a point as
        likely bad as good, and one further off keeps its score. Wider kernels spread
        batches further but cost Hartmann6 and Rosenbrock-10 dearly (benchmarks/README.md).
        ``widths``: l's median kernel width per numeric axis."""
        g_share, run_share, pending = self._lie_terms(widths, n_good, run_obs, axes, candidates)
        return np.logaddexp(g_share + log_g, run_share + pending)

    def _lie_terms(self, widths: np.ndarray, n_good: int, run_obs: np.ndarray, axes: list[Axis],
                   candidates: np.ndarray) -> tuple[float, float, np.ndarray]:
        """``_lie``'s parts: (log of g's share, log of the RUNNING kernels' share, their
        mixture's log density at the candidates)."""
        share = len(run_obs) / (len(run_obs) + max(n_good, 1))
        pending = Parzen(axes, run_obs, np.ones(len(run_obs)), prior_weight=0.0,
                         consider_endpoints=self.consider_endpoints,
                         sigmas=_LIE_WIDTH * widths)
        return math.log1p(-share), math.log(share), pending.log_pdf(candidates)

    @staticmethod
    def _n_running(view: StudyView, trial: TrialRecord, cohort: int | None) -> int:
        """The RUNNING trials other than ``trial`` (of its cohort, if it has one)."""
        if cohort is None:
            return sum(1 for number in view.running if number != trial.number)
        return sum(1 for number in view.running
                   if number != trial.number and view.cohort_of(number) == cohort)

    @staticmethod
    def _running(
        view: StudyView, trial: TrialRecord, block: dict[str, Distribution], axes: list[Axis],
        cohort: int | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The RUNNING trials other than ``trial`` (of its cohort, if it has one) that hold
        every param of the block: their rows on the axes' scales, and their numbers."""
        rows, numbers = [], []
        for record in view.running.values():
            if record.number == trial.number:
                continue
            if cohort is not None and view.cohort_of(record.number) != cohort:
                continue
            row = [usable(record, k, d) for k, d in block.items()]
            if any(math.isnan(v) for v in row):
                continue
            rows.append(row)
            numbers.append(record.number)
        obs = np.array(rows, dtype=float).reshape(len(rows), len(block))
        for i, axis in enumerate(axes):
            if axis.kind != CAT:
                obs[:, i] = axis.to_unit(obs[:, i])
        return obs, np.array(numbers, dtype=np.int64)
