"""The objective of Ray Tune's Optuna tutorial, reported step by step.

    score = (0.1 + width * step / 100) ** -1 + height * 0.1  (+10 with relu)

Lower is better: the best trials have a large width, a very negative height and tanh.
"""

from __future__ import annotations


def evaluate(step: int, width: float, height: float, activation: str) -> float:
    activation_boost = 10.0 if activation == "relu" else 0.0
    return (0.1 + width * step / 100) ** (-1) + height * 0.1 + activation_boost


def objective(trial, steps: int = 100) -> float:
    width = trial.suggest_float("width", 0, 20)
    height = trial.suggest_float("height", -100, 100)
    activation = trial.suggest_categorical("activation", ["relu", "tanh"])
    score = float("inf")
    for step in range(steps):
        score = evaluate(step, width, height, activation)
        trial.report(score, step)
    return score
