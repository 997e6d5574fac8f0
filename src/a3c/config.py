"""Training configuration: one dataclass, validated, resolvable from presets, saved with each run.

Every field carries its help text in ``metadata["help"]``; the CLI turns each field into an option.
Precedence when resolving: dataclass defaults < preset file < explicit overrides.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import warnings
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import tomllib

from a3c.distributions import BOX_DISTRIBUTIONS
from a3c.frames import FRAME_MODES
from a3c.masks import ACTION_MASK_SOURCES
from a3c.spaces import WORD_CONDITIONINGS, WORD_MODES

BACKENDS = ("processes", "threads", "sync", "ray")
ALGOS = ("a3c", "q", "sarsa", "nstep_q")
VALUE_BASED = ("q", "sarsa", "nstep_q")
START_METHODS = ("fork", "spawn", "forkserver")


def _f(default: Any, help: str, **kwargs: Any) -> Any:
    return field(default=default, metadata={"help": help, **kwargs})


#: Config fields added after runs were first saved, and what a run saved without one was
#: trained with: words left out (before they were read), words as inputs (before FiLM), no
#: action masks (before they were read).
FIELDS_BEFORE: dict[str, Any] = {
    "words": "left-out",
    "word_conditioning": "input",
    "action_mask": "none",
}


@dataclass
class Config:
    """Everything that defines a training run. Field names follow the paper and the field."""

    # --- environment -------------------------------------------------------------------------
    env_id: str = _f("CartPole-v1", "Gymnasium environment id (also 'module:Env-v0').")
    env_module: str | None = _f(None, "Module to import first, so it can register custom envs.")
    env_kwargs: dict[str, Any] = field(
        default_factory=dict,
        metadata={
            "help": "Keyword arguments for gym.make (or for the callable that makes the env), "
            "e.g. {'continuous': True}; plain data, saved with the run."
        },
    )
    env_maker: str | None = _f(
        None,
        "'module:name' of the callable that makes the environment (recorded when an agent is "
        "built from one; the agent rebuilds its environment from it when it can be imported).",
    )
    max_episode_steps: int | None = _f(
        None,
        "The environment's time limit: overrides its own, or sets one where it has none. It "
        "counts the environment's steps (with preprocess_frames, frames), an Atari game's the "
        "agent's (frame_skip frames each).",
    )
    seed: int = _f(0, "Random seed: workers, environments and network initialisation.")
    reward_scale: float = _f(1.0, "Multiply rewards by this for learning (seed 003: 0.01).")
    normalize_obs: bool = _f(False, "Normalise observations with running mean/std (saved).")
    normalize_reward: bool = _f(
        False,
        "Divide rewards, for learning, by the running std of the discounted return (as "
        "Stable-Baselines3's VecNormalize), clipped to [-10, 10]; statistics shared and saved.",
    )
    preprocess_frames: str = _f(
        "none",
        "Image environments that are not Atari games: 'grayscale' or 'color' gives their frames "
        "Atari's preprocessing (frame_skip repeats of each action, frames resized to "
        "screen_size square, frame_stack stacked; see a3c.frames); 'none' reads them as they come. "
        "The frames families' defaults (single frames, no preset) ask for 'grayscale'.",
        choices=FRAME_MODES,
    )
    words: str = _f(
        "hashed",
        "Observations in words (MiniGrid's mission, a Text space), whole or parts: 'hashed' reads "
        "them as a bag of their words and word pairs hashed into 256 numbers (see a3c.spaces); "
        "'left-out' leaves a Dict's parts in words out.",
        choices=WORD_MODES,
    )
    word_conditioning: str = _f(
        "film",
        "How words read as numbers enter the network of a structured observation: 'input', "
        "beside its other parts; 'film', scaling and shifting the first hidden layer's units "
        "(FiLM, Perez et al. 2018), so that an instruction selects what the rest is looked at for.",
        choices=WORD_CONDITIONINGS,
    )
    action_mask: str = _f(
        "auto",
        "Discrete actions that the environment disallows in a state, read where it says so: "
        "'observation' (a Dict observation's 'action_mask' part), 'info' (info['action_mask'], "
        "as Gymnasium's Taxi gives), 'method' (an action_masks() method, as sb3-contrib's "
        "MaskablePPO reads); 'auto' looks in these places in that order when the agent is made, "
        "and config.json records where it found one; 'none' reads no mask. A masked action is "
        "never taken (see a3c.masks).",
        choices=ACTION_MASK_SOURCES,
    )
    # --- Atari (applied to ale-py games only) ------------------------------------------------
    frame_skip: int = _f(
        4, "Atari: frames per action, max-pooled over the last two (preprocess_frames: repeats)."
    )
    frame_stack: int = _f(4, "Atari (and preprocess_frames): frames stacked into one observation.")
    screen_size: int = _f(
        84, "Atari (and preprocess_frames): frames resized to this many pixels square."
    )
    noop_max: int = _f(30, "Atari: at most this many no-op actions at the start of a game.")
    clip_rewards: bool = _f(
        True, "Atari: learn from rewards clipped to [-1, 1] (scores unclipped)."
    )
    terminal_on_life_loss: bool = _f(
        False, "Atari: a lost life is terminal for learning (the game goes on)."
    )
    fire_reset: bool | None = _f(
        None,
        "Atari: press FIRE at the start of a game and after a lost life (default: for the games "
        "that stand still without it, as Breakout: found by trying NOOPs on the real ROM).",
    )
    repeat_action_probability: float | None = _f(
        None, "Atari: sticky-action probability (default: the id's own; v5 0.25, v4 0)."
    )
    atari_vector: bool | None = _f(
        None,
        "Atari: step each worker's games in ale-py's C++ AtariVectorEnv (the same frames; a "
        "worker on Pong trains 1.17x faster) instead of Gymnasium's wrappers (default: where "
        "the game allows it: no FIRE after a lost life, no env_kwargs).",
    )
    # --- the algorithm -----------------------------------------------------------------------
    algo: str = _f(
        "a3c",
        "The paper's algorithm: 'a3c' (actor-critic), or the value-based 'q' (one-step "
        "Q-learning), 'sarsa' (one-step Sarsa), 'nstep_q' (n-step Q-learning).",
        choices=ALGOS,
    )
    total_steps: int = _f(1_000_000, "Environment steps over all workers before training stops.")
    n_steps: int = _f(
        5, "Rollout length t_max between updates (value-based: the paper's I_AsyncUpdate)."
    )
    gamma: float = _f(0.99, "Discount factor.")
    gae_lambda: float = _f(1.0, "GAE lambda; 1.0 gives the paper's n-step return.")
    normalize_advantage: bool = _f(
        False,
        "Standardise each update's advantages to mean 0 and std 1 over its n_steps x "
        "envs_per_worker samples (SB3's normalize_advantage; PPO's habit); a one-sample update "
        "is left as it is.",
    )
    ent_coef: float = _f(0.01, "Entropy bonus coefficient beta.")
    ent_schedule: str = _f(
        "constant",
        "'linear' anneals the entropy bonus to 0 at lr_anneal_steps, as a linear lr_schedule "
        "anneals the learning rate: exploration early, a precise policy late.",
        choices=("constant", "linear"),
    )
    vf_coef: float = _f(0.5, "Value loss coefficient.")
    value_loss: str = _f(
        "mse", "Critic (value-based: Q) loss: 'mse' or 'huber'.", choices=("mse", "huber")
    )
    max_grad_norm: float | None = _f(0.5, "Clip each update's gradient norm (none: no clipping).")
    max_bad_updates: int = _f(
        100, "Stop when a worker has this many consecutive non-finite (NaN/Inf) updates."
    )
    stop_at_return: float | None = _f(
        None, "Stop once the mean return of the last `stop_window` training episodes reaches this."
    )
    stop_window: int = _f(100, "Episodes averaged for --stop-at-return.")
    stop_at_eval_return: float | None = _f(
        None,
        "Stop once an evaluation's mean return (greedy by default) reaches this "
        "(the StopOnRewardThreshold callback; needs eval_interval).",
    )
    stop_patience: int | None = _f(
        None,
        "Stop when this many evaluations in a row have not beaten the best so far "
        "(the StopOnNoImprovement callback; needs eval_interval).",
    )
    # --- value-based algorithms (q, sarsa, nstep_q) ------------------------------------------
    target_interval: int = _f(
        10_000,
        "Copy the Q-network into the shared target network every this many global steps (the "
        "paper: 40,000 frames, 10,000 steps at frame skip 4).",
    )
    epsilon_anneal_steps: int = _f(
        100_000,
        "Global steps over which each worker's epsilon falls from 1 to its final value (the "
        "paper: 4M frames, 1M steps at frame skip 4).",
    )
    final_epsilons: tuple[float, ...] = _f(
        (0.1, 0.01, 0.5), "Final epsilons a worker draws its own from (the paper's)."
    )
    final_epsilon_probs: tuple[float, ...] = _f(
        (0.4, 0.3, 0.3), "Probabilities of the final epsilons (the paper's)."
    )
    eval_epsilon: float = _f(
        0.05, "Value-based: epsilon of a non-deterministic evaluation or predict."
    )
    # --- optimizer ---------------------------------------------------------------------------
    optimizer: str = _f(
        "rmsprop",
        "Shared optimizer: 'rmsprop' (PyTorch's form: eps outside the root, statistics from 0), "
        "'rmsprop_tf' (the paper's equation: eps inside the root; statistics from 1 as in "
        "TensorFlow 1; steadier on Atari) or 'adam'.",
        choices=("rmsprop", "rmsprop_tf", "adam"),
    )
    lr: float = _f(7e-4, "Learning rate.")
    value_lr: float | None = _f(None, "Learning rate of critic-only parameters (default: lr).")
    lr_schedule: str = _f(
        "constant",
        "'linear' anneals to 0 at lr_anneal_steps.",
        choices=("constant", "linear"),
    )
    lr_anneal_steps: int | None = _f(
        None,
        "Global step at which a linear schedule reaches 0 (default: the total_steps of the run's "
        "first training; kept when a run is resumed or trained on, so the schedule continues "
        "exactly).",
    )
    rms_alpha: float = _f(0.99, "RMSprop decay of the squared-gradient average.")
    adam_beta1: float = _f(0.9, "Adam beta1.")
    adam_beta2: float = _f(0.999, "Adam beta2.")
    optim_eps: float = _f(1e-5, "Optimizer epsilon.")
    shared_optimizer: bool = _f(
        True,
        "Share optimizer statistics across workers (the paper); "
        "--no-shared-optimizer gives each worker its own.",
    )
    lock: bool = _f(False, "Serialise updates of the global model with a lock (default: Hogwild).")
    # --- network -----------------------------------------------------------------------------
    network: str = _f(
        "auto",
        "Body: 'cnn' (the paper's: 16 8x8/4, 32 4x4/2, 256), 'nature_cnn' (DQN's: 32, 64, 64, "
        "512), 'elu_cnn' (four 32 3x3/2 with ELU, no dense layer: public A3C-LSTM code's) or "
        "'mlp' (hidden_sizes); 'auto' takes cnn for image observations, else mlp.",
        choices=("auto", "mlp", "cnn", "nature_cnn", "elu_cnn"),
    )
    cnn_precision: str = _f(
        "float32",
        "The CNN's arithmetic: 'bfloat16' runs its convolutions and dense layer under "
        "torch.autocast, forward and backward (for CPUs with AVX-512 BF16 or AMX); the weights, "
        "their gradients, the optimizer, the LSTM and the heads stay float32.",
        choices=("float32", "bfloat16"),
    )
    lstm: bool = _f(False, "Add an LSTM after the body (the paper's A3C-LSTM).")
    lstm_size: int = _f(256, "LSTM cells.")
    lstm_input_norm: bool = _f(
        False,
        "Layer-normalise the LSTM's input (the body's features): an unbounded CNN output can "
        "grow into a constant that saturates the gates.",
    )
    hidden_sizes: tuple[int, ...] = _f(
        (64, 64),
        "MLP hidden layer sizes, e.g. 64,64; none ('' or []) makes the policy linear in the "
        "observations (Swimmer's preset), and the critic too unless value_hidden_sizes.",
    )
    activation: str = _f(
        "tanh", "Hidden activation.", choices=("tanh", "relu", "relu6", "elu", "silu")
    )
    shared_trunk: bool = _f(
        True, "Actor and critic share hidden layers (--no-shared-trunk: separate networks)."
    )
    value_hidden_sizes: tuple[int, ...] | None = _f(
        None, "Critic hidden sizes when the trunk is not shared (default: hidden_sizes)."
    )
    init: str = _f(
        "orthogonal", "Weight initialisation.", choices=("orthogonal", "normal", "torch")
    )
    box_distribution: str = _f(
        "gaussian",
        "Box actions: a Gaussian (its samples clipped to the bounds), or a Beta spanning the "
        "bounds (finite ones only; Chou et al., 2017). The Gaussian's options below are its own.",
        choices=BOX_DISTRIBUTIONS,
    )
    gaussian_mean: str = _f(
        "tanh",
        "Box actions: mean = tanh scaled to the bounds (finite ones only), or linear.",
        choices=("tanh", "linear"),
    )
    std_mode: str = _f(
        "state_independent",
        "Box actions: std from a learned log-std, from softplus of a head, or 'sde': generalized "
        "state-dependent exploration (gSDE; noise = the actor's last features times a matrix of "
        "learned std, drawn anew for each rollout).",
        choices=("state_independent", "softplus", "sde"),
    )
    init_log_std: float = _f(0.0, "Initial log-std (state_independent, and each weight of sde's).")
    min_std: float = _f(1e-3, "Floor on the standard deviation.")
    # --- execution ---------------------------------------------------------------------------
    workers: int = _f(2, "Number of asynchronous actor-learners.")
    envs_per_worker: int = _f(1, "Environments each worker steps together (batched inference).")
    backend: str = _f("processes", "How workers run.", choices=BACKENDS)
    start_method: str | None = _f(
        None, "multiprocessing start method (default: the platform's).", choices=START_METHODS
    )
    ray_address: str | None = _f(
        None,
        "Ray backend: the cluster to join, 'auto' or host:port of a `ray start --head` node "
        "(default: start a local Ray sized to this machine).",
    )
    ray_cpus_per_worker: float = _f(1.0, "Ray backend: CPUs each worker actor reserves.")
    ray_server_cpus: float = _f(
        0.0,
        "Ray backend: CPUs the parameter server reserves (1 keeps Ray from placing a worker on "
        "the core it needs; it applies every worker's pushes).",
    )
    ray_max_in_flight: int = _f(
        4,
        "Ray backend: pushes a worker may have awaiting the parameter server's answer (1: each "
        "rollout waits for weights that include the worker's own last update; more overlap the "
        "round trip with the next rollouts, and pushes made while a call is in flight travel "
        "together in the next call).",
    )
    max_restarts: int = _f(
        3,
        "Failed workers or evaluator (an exception, a killed process) restarted from the global "
        "weights, in all, before the run stops (0: stop at the first failure).",
    )
    stall_timeout: float = _f(
        300.0, "Stop the run when the global step has not moved for this many seconds (0: never)."
    )
    # --- evaluation, logging, checkpoints ----------------------------------------------------
    eval_interval: int = _f(25_000, "Evaluate the global policy every this many steps (0: never).")
    eval_episodes: int = _f(10, "Episodes per evaluation.")
    eval_deterministic: bool = _f(True, "Evaluate with the most likely action.")
    video_interval: int = _f(
        0,
        "Record the first episode of every this-many-th evaluation as a video, "
        "videos/step-<step>.mp4 in the run directory (0: never; needs the video extra).",
    )
    checkpoint_interval: int = _f(
        100_000, "Save a checkpoint every this many steps (0: final only)."
    )
    run_dir: str = _f("runs", "Folder in which each run gets its own directory.")
    run_name: str | None = _f(None, "Name of the run directory (default: env-seed-time).")
    tensorboard: bool = _f(True, "Write TensorBoard event files.")
    wandb: bool = _f(
        False,
        "Log to Weights & Biases as to TensorBoard, with the config and the learning curve "
        "(needs the wandb extra; WANDB_MODE=offline keeps it local).",
    )
    wandb_project: str = _f("a3c", "W&B project.")
    wandb_entity: str | None = _f(None, "W&B entity (default: your default entity).")
    wandb_name: str | None = _f(None, "W&B run name (default: the run directory's name).")
    progress: bool = _f(True, "Show a progress bar.")
    log_interval: float = _f(0.5, "Seconds between a worker's batches of log records.")
    preset: str | None = _f(None, "Preset the run was resolved from (informational).")
    family: str | None = _f(
        None, "Family whose defaults the run got, having no preset (informational)."
    )

    # ------------------------------------------------------------------------------------------
    def validate(self) -> Config:
        """Raise ``ValueError`` naming the field and value of the first invalid setting."""

        def bad(name: str, why: str) -> ValueError:
            return ValueError(f"invalid config: {name}={getattr(self, name)!r}: {why}")

        for name in (
            "total_steps",
            "n_steps",
            "workers",
            "envs_per_worker",
            "eval_episodes",
            "stop_window",
            "max_bad_updates",
            "ray_max_in_flight",
            "frame_skip",
            "frame_stack",
            "screen_size",
            "lstm_size",
            "target_interval",
            "epsilon_anneal_steps",
        ):
            if int(getattr(self, name)) < 1:
                raise bad(name, "must be >= 1")
        for name in (
            "eval_interval",
            "checkpoint_interval",
            "max_restarts",
            "stall_timeout",
            "noop_max",
            "video_interval",
        ):
            if float(getattr(self, name)) < 0:
                raise bad(name, "must be >= 0")
        for name in ("stop_at_eval_return", "stop_patience"):
            if getattr(self, name) is not None and not self.eval_interval:
                raise bad(name, "watches evaluations: set eval_interval > 0 too")
        if self.stop_patience is not None and self.stop_patience < 1:
            raise bad("stop_patience", "must be >= 1")
        if self.video_interval and not self.eval_interval:
            raise bad("video_interval", "films evaluations: set eval_interval > 0 too")
        if not 0.0 < self.gamma <= 1.0:
            raise bad("gamma", "must be in (0, 1]")
        if not 0.0 <= self.gae_lambda <= 1.0:
            raise bad("gae_lambda", "must be in [0, 1]")
        for name in ("lr", "optim_eps", "reward_scale", "min_std"):
            if not float(getattr(self, name)) > 0.0:
                raise bad(name, "must be > 0")
        if self.value_lr is not None and not self.value_lr > 0:
            raise bad("value_lr", "must be > 0")
        for name in (
            "ent_coef",
            "vf_coef",
            "log_interval",
            "ray_cpus_per_worker",
            "ray_server_cpus",
        ):
            if float(getattr(self, name)) < 0:
                raise bad(name, "must be >= 0")
        if self.max_grad_norm is not None and not self.max_grad_norm > 0:
            raise bad("max_grad_norm", "must be > 0 (or none)")
        for name in ("rms_alpha", "adam_beta1", "adam_beta2"):
            if not 0.0 <= float(getattr(self, name)) < 1.0:
                raise bad(name, "must be in [0, 1)")
        # No hidden layer is a model linear in the (normalised) observations or CNN features.
        if min(self.hidden_sizes, default=1) < 1:
            raise bad("hidden_sizes", "each layer needs >= 1 unit")
        if min(self.value_hidden_sizes or (), default=1) < 1:
            raise bad("value_hidden_sizes", "each layer needs >= 1 unit")
        if self.repeat_action_probability is not None and not (
            0.0 <= self.repeat_action_probability <= 1.0
        ):
            raise bad("repeat_action_probability", "must be in [0, 1]")
        if self.lstm and not self.shared_trunk:
            raise bad(
                "lstm",
                "an LSTM needs the shared trunk: add --shared-trunk (shared_trunk=True); the "
                "presets and family defaults of vector tasks have separate networks",
            )
        if self.box_distribution == "beta" and self.std_mode == "sde":
            raise bad(
                "box_distribution",
                "gSDE draws a Gaussian's noise, and a Beta has none: set std_mode "
                "'state_independent' (--std-mode state_independent) as well",
            )
        if self.lstm_input_norm and not self.lstm:
            raise bad("lstm_input_norm", "normalises an LSTM's input: add --lstm")
        if len(self.final_epsilons) != len(self.final_epsilon_probs) or not self.final_epsilons:
            raise bad("final_epsilons", "needs one probability each in final_epsilon_probs")
        if not all(0.0 <= e <= 1.0 for e in (*self.final_epsilons, self.eval_epsilon)):
            raise bad("final_epsilons", "epsilons (and eval_epsilon) must be in [0, 1]")
        if min(self.final_epsilon_probs) < 0 or abs(sum(self.final_epsilon_probs) - 1.0) > 1e-6:
            raise bad("final_epsilon_probs", "must be >= 0 and sum to 1")
        if self.value_based and self.lstm:
            raise bad("lstm", f"the paper's LSTM is A3C's; {self.algo} takes feed-forward bodies")
        if self.value_based and self.normalize_reward:
            raise bad("normalize_reward", f"not offered for {self.algo} (scale with reward_scale)")
        if self.value_based and self.normalize_advantage:
            raise bad("normalize_advantage", f"an actor-critic's: {self.algo} has no advantages")
        if self.lr_anneal_steps is not None and self.lr_anneal_steps < 1:
            raise bad("lr_anneal_steps", "must be >= 1")
        if self.max_episode_steps is not None and self.max_episode_steps < 1:
            raise bad("max_episode_steps", "must be >= 1")
        if not isinstance(self.env_kwargs, dict) or not all(
            isinstance(k, str) for k in self.env_kwargs
        ):
            raise bad("env_kwargs", "must be a dict with string keys")
        try:
            json.dumps(self.env_kwargs, allow_nan=False)
        except (TypeError, ValueError):
            raise bad(
                "env_kwargs",
                "must be plain data (numbers, strings, lists, dicts), as it is saved with the "
                "run; pass other objects through a callable that makes the environment",
            ) from None
        for f in dataclasses.fields(self):
            choices = f.metadata.get("choices")
            value = getattr(self, f.name)
            if choices and value is not None and value not in choices:
                raise bad(f.name, f"expected one of {', '.join(choices)}")
        return self

    def replace(self, **changes: Any) -> Config:
        return dataclasses.replace(self, **changes)

    @property
    def value_based(self) -> bool:
        """Whether the algorithm learns Q-values (q, sarsa, nstep_q) rather than a policy."""
        return self.algo in VALUE_BASED

    @property
    def lr_horizon(self) -> int:
        """The step at which a linear learning-rate (or entropy) schedule reaches 0."""
        return self.total_steps if self.lr_anneal_steps is None else self.lr_anneal_steps

    def to_dict(self) -> dict[str, Any]:
        return {
            k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Config:
        """Build from plain data (JSON, TOML, a checkpoint); unknown keys are an error that
        suggests the closest field."""
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            described = []
            for name in unknown:
                if name in NO_COUNTERPART:
                    described.append(f"{name!r} (none here: {NO_COUNTERPART[name]})")
                else:
                    closest = closest_field(name)
                    hint = f" (did you mean {closest!r}?)" if closest else ""
                    described.append(f"{name!r}{hint}")
            plural = "s" if len(unknown) > 1 else ""
            raise ValueError(f"unknown config field{plural} {', '.join(described)}")
        values = {}
        for name, value in data.items():
            if (
                isinstance(value, str)
                and value.lower() == "none"
                and "None" in str(known[name].type)
            ):
                value = None  # TOML has no null
            if name in ("hidden_sizes", "value_hidden_sizes") and value is not None:
                value = tuple(int(v) for v in value)
            if name in ("final_epsilons", "final_epsilon_probs"):
                value = tuple(float(v) for v in value)
            values[name] = value
        return cls(**values)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> Config:
        return cls.from_dict(json.loads(Path(path).read_text()))


# What users of Stable-Baselines3, the RL Zoo and pytorch-a3c write for our fields.
FIELD_ALIASES: dict[str, str] = {
    "learning_rate": "lr",
    "n_envs": "envs_per_worker",
    "num_envs": "envs_per_worker",
    "n_timesteps": "total_steps",
    "total_timesteps": "total_steps",
    "normalize": "normalize_obs",
    "net_arch": "hidden_sizes",
    "activation_fn": "activation",
    "rms_prop_eps": "optim_eps",
    "use_rms_prop": "optimizer",
    "eval_freq": "eval_interval",
    "n_eval_episodes": "eval_episodes",
    "save_freq": "checkpoint_interval",
    "num_processes": "workers",
    "num_workers": "workers",
    "n_workers": "workers",
    "num_steps": "n_steps",
    "entropy_coef": "ent_coef",
    "value_loss_coef": "vf_coef",
    "max_episode_length": "max_episode_steps",
    "env": "env_id",
    "env_name": "env_id",
    # Stable-Baselines3's constructor: policy_kwargs' parts are fields here
    "policy_kwargs": "hidden_sizes",
    "share_features_extractor": "shared_trunk",
    "log_std_init": "init_log_std",
    "ortho_init": "init",
    "use_sde": "std_mode",
    "tensorboard_log": "run_dir",
    "verbose": "progress",
    "target_update_interval": "target_interval",
}

#: Other libraries' arguments that have no field here, and why (said for an unknown field).
NO_COUNTERPART: dict[str, str] = {
    "policy": "a3c builds its network from the environment's spaces: hidden_sizes, activation, "
    "shared_trunk, lstm",
    "device": "a3c trains on the CPU, in worker processes",
    "batch_size": "an update takes one rollout, n_steps x envs_per_worker samples",
    "n_epochs": "each rollout is learned from once, as A3C does; epochs are PPO's",
    "clip_range": "A3C's policy gradient is not clipped, as PPO's is; max_grad_norm clips the "
    "gradient's norm",
    "buffer_size": "A3C learns on-policy, without a replay buffer",
    "exploration_fraction": "epsilon_anneal_steps is the value-based algorithms' epsilon "
    "schedule, in steps, not a fraction of the run",
    "exploration_final_eps": "final_epsilons: each value-based worker draws its own final "
    "epsilon from these (the paper's)",
}

#: Stable-Baselines3's policy names, which its constructors take before the environment.
SB3_POLICY_NAMES = (
    "MlpPolicy",
    "CnnPolicy",
    "MultiInputPolicy",
    "MlpLstmPolicy",
    "CnnLstmPolicy",
    "MultiInputLstmPolicy",
)


def closest_field(name: str) -> str | None:
    """The config field meant by ``name``: its name in other libraries, or the closest spelling."""
    key = name.lower().replace("-", "_")
    if key in FIELD_ALIASES:
        return FIELD_ALIASES[key]
    fields = [f.name for f in dataclasses.fields(Config)]
    close = difflib.get_close_matches(key, fields, n=1, cutoff=0.6)
    return close[0] if close else None


# ----------------------------------------------------------------------------------------------
# Presets: src/a3c/presets/<name>.toml. A preset named after an environment id (CartPole-v1) is
# the default for that environment; a '/' in the id is a '-' in the name (ALE-Pong-v5).


def available_presets() -> list[str]:
    folder = resources.files("a3c") / "presets"
    return sorted(p.name[: -len(".toml")] for p in folder.iterdir() if p.name.endswith(".toml"))


def env_preset_name(env_id: str) -> str:
    """The name of the preset that is an environment's default (file names have no '/')."""
    return env_id.replace("/", "-")


def variant_presets(env_id: str) -> list[str]:
    """The bundled presets for ``env_id`` that are not its own, which a run takes by name
    (``CarRacing-v3.discrete``; ``CartPole-v1.nstep_q`` for another algorithm)."""
    prefix = env_preset_name(env_id) + "."
    return [name for name in available_presets() if name.startswith(prefix)]


def own_preset(env_id: str, algo: str = "a3c") -> str | None:
    """The bundled preset that is ``env_id``'s own for ``algo`` (``CartPole-v1`` for A3C,
    ``CartPole-v1.nstep_q`` for n-step Q), or ``None`` where it has none."""
    name = env_preset_name(env_id) + ("" if algo == "a3c" else f".{algo}")
    return name if name in available_presets() else None


def load_preset(name_or_path: str, _seen: tuple[str, ...] = ()) -> dict[str, Any]:
    """Read a preset by name (bundled) or by path to a TOML file; returns its fields.

    ``extends = "NAME"`` in a preset starts it from that preset's fields (a bundled name, or a
    TOML file, relative to the extending file's folder), which its own fields then override: the
    Atari games' presets are Pong's with another ``env_id``."""
    path = Path(name_or_path)
    if path.suffix == ".toml" and path.exists():
        text, where = path.read_text(), str(path)
    else:
        resource = resources.files("a3c") / "presets" / f"{name_or_path}.toml"
        if not resource.is_file():
            raise ValueError(
                f"unknown preset {name_or_path!r}: available: {', '.join(available_presets())}"
            )
        text, where = resource.read_text(), str(resource)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"malformed preset {name_or_path!r} ({where}): {exc}") from exc
    data.pop("description", None)
    base = data.pop("extends", None)
    if isinstance(base, str) and base.endswith(".toml") and not Path(base).is_absolute():
        base = str(Path(where).parent / base)  # a file beside the one that extends it
    if base is not None:
        if not isinstance(base, str) or base in _seen or base == name_or_path:
            raise ValueError(f"preset file {where}: cannot extend {base!r} (a loop, or not a name)")
        data = {**load_preset(base, (*_seen, name_or_path)), **data}
    try:
        Config.from_dict(data)  # unknown fields are reported against the preset file
    except (ValueError, TypeError) as exc:
        raise ValueError(f"preset file {where}: {exc}") from exc
    return data


def preset_description(name: str) -> str:
    resource = resources.files("a3c") / "presets" / f"{name}.toml"
    return str(tomllib.loads(resource.read_text()).get("description", ""))


#: the preset name that asks for the family defaults even where the env id has a preset
FAMILY_DEFAULTS = "defaults"


def resolve_config(
    env_id: str | None = None,
    preset: str | None = None,
    family: str | None = None,
    **overrides: Any,
) -> Config:
    """Defaults, then the preset (the named one, else the env id's own for the algorithm if there
    is one: ``CartPole-v1`` for A3C, ``CartPole-v1.nstep_q`` for n-step Q) or, with no preset and
    the A3C algorithm, ``family``'s defaults (:mod:`a3c.families`), then ``overrides``. The result
    is validated. ``preset="defaults"`` skips the env id's own preset.

    A preset made for another environment applies with a warning (a starting point). The env
    id's own preset is returned whatever ``env_kwargs`` make of the environment: :class:`a3c.A3C`
    probes the environment and sets a preset aside that ``env_kwargs`` leave unfit."""
    from a3c.families import FAMILIES

    values: dict[str, Any] = {}
    algo = overrides.get("algo", "a3c")
    if preset is None and env_id is not None:
        preset = own_preset(env_id, algo)
    if preset == FAMILY_DEFAULTS:
        preset = None
    if preset is not None:
        values.update(load_preset(preset))
        values["preset"] = preset
        if env_id is not None and values.get("env_id", env_id) != env_id:
            warnings.warn(
                f"preset {preset!r} was tuned for {values['env_id']}; using it for {env_id} "
                "as a starting point",
                UserWarning,
                stacklevel=2,
            )
    elif family is not None and algo == "a3c":  # the families' defaults are A3C's
        if family not in FAMILIES:
            raise ValueError(f"unknown family {family!r}: expected one of {', '.join(FAMILIES)}")
        values.update(FAMILIES[family].settings)
        values["family"] = family
    if env_id is not None:
        values["env_id"] = env_id
    values.update(overrides)
    return Config.from_dict(values).validate()
