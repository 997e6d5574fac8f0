"""Hyper-parameter tuning with Optuna: ``a3c tune ENV --trials N --budget STEPS --seeds K``.

A trial trains ``seeds`` runs of ``budget`` steps with the settings Optuna's TPE sampler
suggests (:func:`suggest`); its score is the mean, over seeds, of the mean return of the run's
last ``LAST_EVALUATIONS`` evaluations (greedy, separate environments): a measure of where the
learning curve ends that one lucky evaluation does not decide. Every evaluation is also reported
to Optuna, so its median pruner stops a trial whose curve lies below the median of the earlier
trials' at the same step (through a :class:`~a3c.callbacks.Callback`).

The study lives in ``DIR/study.db`` (SQLite): stop a tune at any time and run the same command
again to add trials. The first trial of a new study is the starting point (the env's preset, or
its family's defaults), so the report says how far the tune got beyond it. Written into ``DIR``:
``best.toml`` (a preset: ``a3c train ENV --preset DIR/best.toml``), ``report.md`` (the best
trials), ``history.png`` and ``importance.png`` (Optuna's plots).
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym

from a3c.callbacks import Callback, Evaluation
from a3c.config import Config
from a3c.spaces import leaves

LAST_EVALUATIONS = 3
EVALUATIONS_PER_RUN = 10

#: the search space: field -> choices (categorical), or (low, high, "log"|"linear") for floats
SPACE: dict[str, Any] = {
    "lr": (1e-4, 3e-3, "log"),
    "n_steps": [5, 8, 16, 32],
    "gamma": [0.9, 0.95, 0.98, 0.99, 0.995, 0.999],
    "gae_lambda": [0.8, 0.9, 0.95, 0.98, 1.0],
    "ent_coef": [0.0, 1e-4, 1e-3, 0.01, 0.05],
    "vf_coef": [0.25, 0.5, 1.0],
    "max_grad_norm": [0.3, 0.5, 1.0, 5.0],
    "envs_per_worker": [1, 2, 4, 8, 16],
    "hidden_sizes": ["64,64", "128,128", "256,256"],
    "shared_trunk": [True, False],
    "normalize_obs": [True, False],
    "normalize_advantage": [True, False],
    "optimizer": ["rmsprop", "adam"],
}
#: asked only where they apply: the Gaussian policy's settings, for Box actions
CONTINUOUS_SPACE: dict[str, Any] = {
    "init_log_std": [-1.0, -0.5, 0.0],
    "gaussian_mean": ["tanh", "linear"],
}


def gaussian_policy(config: Config, action_space: gym.Space) -> bool:
    """Whether the policy has a Gaussian, whose settings (:data:`CONTINUOUS_SPACE`) a tune
    searches: a ``Box`` of actions, or a hybrid's ``Box`` part, with ``box_distribution``
    ``"gaussian"`` (a Beta has none of them)."""
    box = any(isinstance(part, gym.spaces.Box) for part in leaves(action_space))
    return box and config.box_distribution == "gaussian"


#: fields ``tune`` sets for every run itself: not options of a tune
CONTROLLED = ("total_steps", "eval_interval", "run_dir", "run_name", "stop_at_return")


def search_space(start: Config | None, continuous: bool, fixed: Sequence[str] = ()) -> dict:
    """The fields searched: :data:`SPACE` (and :data:`CONTINUOUS_SPACE` for Box actions) less
    the ``fixed`` ones, widened to hold the starting point's own values (``rmsprop_tf``, a
    one-layer network...) so that the first trial is exactly the starting point."""
    space = {**SPACE, **(CONTINUOUS_SPACE if continuous else {})}
    if start is not None and start.value_based:  # no policy gradient, so no advantages
        fixed = [*fixed, "normalize_advantage"]
    space = {name: choices for name, choices in space.items() if name not in fixed}
    if start is None:
        return space
    for name, choices in space.items():
        value = _param_value(name, getattr(start, name))
        if isinstance(choices, tuple):
            low, high, scale = choices
            space[name] = (min(low, value), max(high, value), scale)
        elif value not in choices:
            space[name] = [*choices, value]
    return space


def _param_value(name: str, value: Any) -> Any:
    """A config value as Optuna stores it (network sizes as text)."""
    return ",".join(str(n) for n in value) if name == "hidden_sizes" else value


def suggest(trial: Any, space: dict[str, Any]) -> dict[str, Any]:
    """Config fields for one trial, from Optuna's ``trial``."""
    params: dict[str, Any] = {}
    for name, choices in space.items():
        if isinstance(choices, tuple):
            low, high, scale = choices
            params[name] = trial.suggest_float(name, low, high, log=scale == "log")
        else:
            params[name] = trial.suggest_categorical(name, choices)
    return to_config(params)


def to_config(params: dict[str, Any]) -> dict[str, Any]:
    """Optuna's parameters (network sizes as text: categorical choices must be plain) as config
    fields."""
    fields = dict(params)
    if isinstance(fields.get("hidden_sizes"), str):
        fields["hidden_sizes"] = tuple(int(n) for n in fields["hidden_sizes"].split(","))
    return fields


def starting_point(config: Config, space: dict[str, Any]) -> dict[str, Any]:
    """The config's own values of the searched fields: enqueued as the first trial, so that the
    tune is compared with where it started."""
    return {name: _param_value(name, getattr(config, name)) for name in space}


class _ReportToOptuna(Callback):
    """Each evaluation to the trial (at the step it was taken, offset by the seed's place), and
    a stop when the pruner says so."""

    def __init__(self, trial: Any, offset: int, interval: int) -> None:
        self.trial = trial
        self.offset = offset
        self.interval = interval
        self.pruned = False
        self.returns: list[float] = []

    def on_evaluation(self, evaluation: Evaluation) -> bool | None:
        if evaluation.final:
            return None
        self.returns.append(evaluation.mean_return)
        # At the nominal step (the multiple of the interval it was due at): the median pruner
        # compares trials at equal steps, and the step an evaluator reads varies with the batch.
        nominal = evaluation.global_step // self.interval * self.interval
        self.trial.report(evaluation.mean_return, self.offset + nominal)
        if self.trial.should_prune():
            self.pruned = True
            self.stop_reason = f"pruned by Optuna at step {evaluation.global_step:,}"
            return False
        return None


@dataclass
class TuneResult:
    directory: Path
    trials: int  # finished (complete or pruned) in the study, all sessions
    best_value: float
    best_params: dict[str, Any]
    baseline_value: float | None  # the first trial's: the starting point
    files: list[Path] = field(default_factory=list)


def tune(
    env_id: str,
    trials: int,
    budget: int,
    seeds: int = 1,
    directory: str | Path | None = None,
    preset: str | None = None,
    sampler_seed: int = 0,
    timeout: float | None = None,
    **overrides: Any,
) -> TuneResult:
    """Run ``trials`` more trials of the study in ``directory`` (default ``tunes/<env>``), then
    write its preset, report and plots. ``overrides`` fix config fields for every trial (a fixed
    field is not searched: ``workers=2``, ``lr=1e-3``, ``backend="threads"``...; ``seed`` is the
    first run's seed, the others follow it). A study runs again only with the settings it was
    made with (env, starting point, budget, seeds, fixed fields)."""
    import optuna

    from a3c.agent import A3C
    from a3c.config import FAMILY_DEFAULTS
    from a3c.trainer import TrainingError

    controlled = sorted(set(overrides) & set(CONTROLLED))
    if controlled:
        raise ValueError(
            f"a3c tune sets {', '.join(controlled)} itself (--budget is the steps per run)"
        )
    directory = Path(directory or Path("tunes") / env_id.replace("/", "-"))
    directory.mkdir(parents=True, exist_ok=True)
    first_seed = int(overrides.pop("seed", 0))
    fixed = dict(overrides)
    probe = A3C(env_id, preset, **fixed)
    continuous = gaussian_policy(probe.config, probe.action_space)
    space = search_space(probe.config, continuous, fixed=list(fixed))
    preset_used = probe.config.preset or FAMILY_DEFAULTS
    interval = max(budget // EVALUATIONS_PER_RUN, 1)
    settings_of_study = {
        "env_id": env_id,
        "preset": preset_used,
        "budget": budget,
        "seeds": seeds,
        "first_seed": first_seed,
        "fixed": json.dumps(fixed, sort_keys=True, default=str),
    }

    study = optuna.create_study(
        study_name=env_id,
        storage=f"sqlite:///{directory / 'study.db'}",
        load_if_exists=True,
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=sampler_seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=budget // 3),
    )
    if not study.trials:
        start = starting_point(probe.config, space)
        study.enqueue_trial(start, user_attrs={"starting_point": preset_used})
        for key, value in settings_of_study.items():
            study.set_user_attr(key, value)
    else:
        made_with = {key: study.user_attrs.get(key) for key in settings_of_study}
        if made_with != settings_of_study:
            differ = [k for k in settings_of_study if made_with[k] != settings_of_study[k]]
            raise ValueError(
                f"the study in {directory} was made with other settings ("
                + ", ".join(f"{k}: {made_with[k]!r}, now {settings_of_study[k]!r}" for k in differ)
                + "): run it with those, or tune into another --dir"
            )

    def objective(trial: Any) -> float:
        settings = {
            "progress": False,
            "tensorboard": False,
            "checkpoint_interval": 0,
            "eval_episodes": 5,
            **fixed,
            **suggest(trial, space),
        }
        scores = []
        for index in range(seeds):
            report = _ReportToOptuna(trial, offset=index * budget, interval=interval)
            agent = A3C(
                env_id,
                preset,
                **{
                    **settings,
                    "seed": first_seed + index,
                    "stop_at_return": None,  # every run trains its whole budget
                    "total_steps": budget,
                    "eval_interval": interval,
                    "run_dir": str(directory / "runs"),
                    "run_name": f"trial-{trial.number:04d}-s{index}",
                },
            )
            agent.learn(callback=report)
            if report.pruned:
                raise optuna.TrialPruned()
            last = report.returns[-LAST_EVALUATIONS:]
            scores.append(sum(last) / len(last) if last else -math.inf)
        return sum(scores) / len(scores)

    def progress(study: Any, trial: Any) -> None:
        if trial.state == optuna.trial.TrialState.PRUNED:
            outcome = f"pruned at step {trial.last_step:,}"
        else:
            outcome = f"{trial.value:.6g}" if trial.value is not None else trial.state.name.lower()
        done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
        best = f" (best {study.best_value:.6g})" if done else ""
        print(f"trial {trial.number}: {outcome}{best}", flush=True)

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        # A trial whose training fails (diverged to NaN...) is marked failed; the tune goes on.
        study.optimize(
            objective,
            n_trials=trials,
            timeout=timeout,
            callbacks=[progress],
            catch=(TrainingError,),
        )
    return write_results(study, directory, probe.config, budget)


def write_results(study: Any, directory: Path, base: Config, budget: int) -> TuneResult:
    """``best.toml``, ``report.md``, ``history.png``, ``importance.png`` from the study;
    ``base`` is the config the trials started from (the preset the best settings go into)."""
    import optuna

    finished = [t for t in study.trials if t.state.is_finished()]
    complete = [t for t in finished if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        raise ValueError(f"no trial of {directory / 'study.db'} completed: nothing to report")
    best = study.best_trial
    baseline = next((t for t in complete if "starting_point" in t.user_attrs), None)
    best_config = base.replace(**to_config(best.params), total_steps=budget)
    files = [
        _write_preset(directory / "best.toml", best_config, best, budget),
        _write_report(directory / "report.md", study, complete, baseline, budget),
    ]
    files += _write_plots(study, directory, len(complete))
    return TuneResult(
        directory,
        len(finished),
        float(best.value),
        to_config(best.params),
        None if baseline is None else float(baseline.value),
        files,
    )


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"
    if value is None:
        return '"none"'  # TOML has no null; presets spell it so
    return repr(value)


#: Fields a preset leaves out: those of a run, not of the settings a preset carries, and what a
#: run finds for itself (its family; where its environment gives an action mask: another
#: environment gives its own, or none).
RUN_FIELDS = {
    "seed",
    "run_dir",
    "run_name",
    "progress",
    "tensorboard",
    "preset",
    "family",
    "action_mask",
}


def _write_preset(path: Path, config: Config, best: Any, budget: int) -> Path:
    """Every field that differs from the Config defaults: a preset is complete on its own."""
    from a3c.config import Config

    description = (
        f"a3c tune: trial {best.number}, score {best.value:.6g} (mean of the last "
        f"{LAST_EVALUATIONS} evaluations after {budget:,} steps), from "
        f"{config.preset or config.family or 'the defaults'}"
    )
    defaults = Config().to_dict()
    lines = [f"description = {_toml_value(description)}"]
    for name, value in config.to_dict().items():
        if name not in RUN_FIELDS and (value != defaults[name] or name == "env_id"):
            lines.append(f"{name} = {_toml_value(value)}")
    path.write_text("\n".join(lines) + "\n")
    return path


def _write_report(path: Path, study: Any, complete: list[Any], baseline: Any, budget: int) -> Path:
    pruned = sum(1 for t in study.trials if t.state.name == "PRUNED")
    ranked = sorted(complete, key=lambda t: t.value, reverse=True)
    lines = [
        f"# a3c tune: {study.study_name}",
        "",
        f"{len(complete)} trials completed, {pruned} pruned; budget {budget:,} steps per run, "
        f"{study.user_attrs.get('seeds', 1)} seed(s) per trial. Score: the mean return of the "
        f"last {LAST_EVALUATIONS} evaluations, averaged over seeds.",
        "",
    ]
    if baseline is not None:
        gain = study.best_value - baseline.value
        lines += [
            f"Starting point ({baseline.user_attrs['starting_point']}, trial "
            f"{baseline.number}): {baseline.value:.6g}; best (trial {study.best_trial.number}): "
            f"{study.best_value:.6g} ({gain:+.6g}).",
            "",
        ]
    names = sorted({name for t in ranked for name in t.params})
    lines += ["| trial | score | " + " | ".join(names) + " |"]
    lines += ["|---" * (len(names) + 2) + "|"]
    for trial in ranked[:10]:
        values = [_short(trial.params.get(name)) for name in names]
        lines.append(f"| {trial.number} | {trial.value:.6g} | " + " | ".join(values) + " |")
    lines += ["", "Plots: `history.png` (Optuna's optimisation history), `importance.png`."]
    path.write_text("\n".join(lines) + "\n")
    return path


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _write_plots(study: Any, directory: Path, complete: int) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as optuna_plots

    written = []
    plots: list[tuple[str, Any]] = [("history.png", optuna_plots.plot_optimization_history)]
    if complete >= 2:  # importances need trials to compare
        plots.append(("importance.png", optuna_plots.plot_param_importances))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Optuna marks its matplotlib plots experimental
        for name, plot in plots:
            axes = plot(study)
            figure: Any = axes.figure
            figure.set_size_inches(8, 5)
            figure.tight_layout()
            figure.savefig(directory / name, dpi=100)
            plt.close(figure)
            written.append(directory / name)
    return written
