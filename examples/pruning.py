"""A real, small training loop tuned with TPE + ASHA, against the same study without pruning.

    python examples/pruning.py                 # 60 trials each way, ~1 minute
    python examples/pruning.py --trials 100 --workers 4

The model is a logistic regression trained by mini-batch SGD in numpy on a dataset
made here (two overlapping Gaussian classes in 30 dimensions, some label noise).
Each epoch reports the validation log-loss; ASHA stops the trials that fall behind.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import tunefleet

EPOCHS = 27


def make_data(seed: int = 0) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    n, d = 6000, 30
    w = rng.normal(size=d)
    x = rng.normal(size=(n, d)) * rng.uniform(0.2, 3.0, size=d)  # badly scaled features
    p = 1.0 / (1.0 + np.exp(-(x @ w) / 4.0))
    y = (rng.random(n) < p).astype(float)
    return x[:4000], y[:4000], x[4000:], y[4000:]


X_TRAIN, Y_TRAIN, X_VAL, Y_VAL = make_data()


def log_loss(w: np.ndarray, b: float, x: np.ndarray, y: np.ndarray) -> float:
    z = np.clip(x @ w + b, -30, 30)
    p = 1.0 / (1.0 + np.exp(-z))
    return float(-np.mean(y * np.log(p + 1e-12) + (1 - y) * np.log(1 - p + 1e-12)))


def objective(trial: tunefleet.Trial) -> float:
    lr = trial.suggest_float("lr", 1e-5, 1.0, log=True)
    l2 = trial.suggest_float("l2", 1e-6, 1e-1, log=True)
    batch = trial.suggest_categorical("batch", [16, 64, 256])
    momentum = trial.suggest_float("momentum", 0.0, 0.95)
    rng = np.random.default_rng(trial.number)
    w, b = np.zeros(X_TRAIN.shape[1]), 0.0
    vw, vb = np.zeros_like(w), 0.0
    loss = log_loss(w, b, X_VAL, Y_VAL)
    for epoch in range(EPOCHS):
        order = rng.permutation(len(X_TRAIN))
        for start in range(0, len(order), batch):
            idx = order[start : start + batch]
            xb, yb = X_TRAIN[idx], Y_TRAIN[idx]
            p = 1.0 / (1.0 + np.exp(-np.clip(xb @ w + b, -30, 30)))
            gw = xb.T @ (p - yb) / len(idx) + l2 * w
            gb = float(np.mean(p - yb))
            vw = momentum * vw - lr * gw
            vb = momentum * vb - lr * gb
            w, b = w + vw, b + vb
        loss = log_loss(w, b, X_VAL, Y_VAL)
        trial.report(loss, epoch)
        if trial.should_prune():
            raise tunefleet.TrialPruned()
    return loss


def run(pruner: object, trials: int, workers: int, seed: int, sampler: str) -> dict[str, float]:
    study = tunefleet.create_study(direction="minimize", sampler=(sampler, {"seed": seed}),
                                   pruner=pruner)
    t0 = time.perf_counter()
    study.optimize(objective, n_trials=trials, n_workers=workers)
    wall = time.perf_counter() - t0
    epochs = sum(len(t.intermediate_values) for t in study.trials)
    pruned = sum(t.state == tunefleet.TrialState.PRUNED for t in study.trials)
    return {"best": study.best_value, "wall": wall, "epochs": epochs, "pruned": pruned}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=int, default=60)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--sampler", default="tpe")
    args = ap.parse_args()
    asha = tunefleet.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
    rows = {
        "ASHA": run(asha, args.trials, args.workers, args.seed, args.sampler),
        "no pruning": run(None, args.trials, args.workers, args.seed, args.sampler),
    }
    print(f"\n{args.sampler} sampler, {args.trials} trials, {args.workers} worker(s), "
          f"{EPOCHS} epochs max per trial")
    print(f"{'':<12} {'best val loss':>14} {'pruned':>7} {'epochs run':>11} {'wall s':>8}")
    for name, r in rows.items():
        print(f"{name:<12} {r['best']:>14.4f} {int(r['pruned']):>7} {int(r['epochs']):>11} "
              f"{r['wall']:>8.1f}")
    saved = 1 - rows["ASHA"]["wall"] / rows["no pruning"]["wall"]
    print(f"time saved by pruning: {saved:.0%}")


if __name__ == "__main__":
    main()
