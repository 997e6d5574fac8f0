"""The library face: ``A3C(env).learn(...)``, ``predict``, ``save``, ``load``."""

from __future__ import annotations

import re
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from a3c.callbacks import Callback
from a3c.checkpoint import (
    CheckpointError,
    checkpoint_at,
    latest_checkpoint,
    load_checkpoint,
    make_payload,
    save_checkpoint,
)
from a3c.config import (
    FAMILY_DEFAULTS,
    FIELDS_BEFORE,
    SB3_POLICY_NAMES,
    Config,
    load_preset,
    own_preset,
    resolve_config,
)
from a3c.distributions import Product
from a3c.envs import (
    EnvFactory,
    check_fits,
    env_maker_reference,
    looks_atari,
    probe_spaces,
    registered_twin,
    space_from_dict,
    unwrap_partial,
)
from a3c.families import family_of
from a3c.masks import MOVED_INTO_OBSERVATION, observed_space
from a3c.networks import Model
from a3c.spaces import flatten_batch, is_structured, own_observations
from a3c.trainer import Trainer, TrainingSummary, build_model

#: Fields that a loaded agent keeps, since its weights were learned with them.
_FIXED_BY_THE_WEIGHTS = {
    "words": "the network reads observations as it learned to",
    "word_conditioning": "the network takes the words in as it learned to",
    "action_mask": "the network reads its observations, and their action mask, as it learned to",
    "box_distribution": "the policy's head gives the parameters of the distribution it learned",
}


class A3C:
    """An A3C agent: a global actor-critic, its optimizer statistics, and its configuration.

    >>> agent = A3C("CartPole-v1", workers=2, seed=0)      # doctest: +SKIP
    >>> agent.learn(total_steps=200_000)                    # doctest: +SKIP
    >>> obs, info = agent.env.reset(seed=0)                 # doctest: +SKIP
    >>> action, state = agent.predict(obs, deterministic=True)  # doctest: +SKIP

    ``env`` is a Gymnasium id (its keyword arguments in ``env_kwargs``), or a callable that makes
    the environment, wrappers and all (``make_env(**env_kwargs)``; every worker calls it, so with
    the ``spawn``/``forkserver`` start methods it must be picklable: a module-level function or a
    ``functools.partial`` of one). ``preset`` names a bundled preset (the env id's own preset is
    used when there is one, unless ``env_kwargs`` change the environment's family, as
    ``continuous=True`` does LunarLander-v3's: then the preset of the id registered as that
    environment, else the family's defaults, with a warning; an environment from a callable gets
    its family's defaults unless a preset is named); keyword arguments override any
    :class:`~a3c.Config` field. With
    ``config``, the overrides apply on top of it and ``env``, if given, sets its env id (a preset
    and a config exclude each other).
    """

    def __init__(
        self,
        env: str | Callable[..., gym.Env] | None = None,
        preset: str | None = None,
        *,
        config: Config | None = None,
        **overrides: Any,
    ) -> None:
        if isinstance(env, str) and env in SB3_POLICY_NAMES:
            raise ValueError(_sb3_policy_message(env, preset))
        make_env = None
        if env is not None and not isinstance(env, str):
            if isinstance(env, gym.Env) or not callable(env):
                raise TypeError(_wrong_env_message(env))
            kwargs = overrides.get("env_kwargs", config.env_kwargs if config else {})
            make_env, kwargs = unwrap_partial(env, kwargs)  # partial(f, k=v): f, and k=v saved
            overrides["env_maker"] = env_maker_reference(make_env)
            overrides["env_kwargs"] = kwargs
            env = _name_of(make_env, kwargs)
            if preset is None and config is None:
                preset = FAMILY_DEFAULTS  # presets go by id; this environment is the user's
        # the env's spaces and action mask, once an instance has been made to read them
        probed = None
        if config is None:
            config = resolve_config(env, preset, **overrides)
            if preset is None and config.preset is not None:
                preset = _instead_of_own_preset(config)
                if preset is not None:
                    with warnings.catch_warnings():  # said already: tuned for another id
                        warnings.filterwarnings("ignore", "preset .* was tuned for", UserWarning)
                        config = resolve_config(env, preset, **overrides)
            if config.preset is None:  # no preset: the defaults of the env's family
                factory = EnvFactory.from_config(config, make_env).as_it_comes()
                probed = probe_spaces(factory)
                family = family_of(*probed[:2])
                if family.startswith("frames") and probed.atari_game:
                    family = family.replace("frames", "image")  # an Atari game: its maker's frames
                config = resolve_config(env, preset, family, **overrides)
                if EnvFactory.from_config(config, make_env).spaces_differ(factory):
                    probed = None  # frames preprocessed: read the spaces the workers will get
        else:
            if preset is not None:
                raise ValueError(
                    "give a preset or a config, not both (a config is already resolved)"
                )
            if isinstance(env, str):  # an id: not the config's callable (nor its arguments)
                overrides["env_id"] = env
                if config.env_maker is not None and "env_maker" not in overrides:
                    overrides["env_maker"] = None
                    overrides.setdefault("env_kwargs", {})
            elif env is not None:
                overrides["env_id"] = env
            if env is not None:  # another environment: its own mask is looked for
                overrides.setdefault("action_mask", "auto")
            # through from_dict: an unknown field is a ValueError naming it, as without config
            config = Config.from_dict({**config.to_dict(), **overrides})
        config.validate()
        own_space, self.action_space, mask, _ = probed or probe_spaces(
            EnvFactory.from_config(config, make_env)
        )
        # The action mask: where it was found ("auto"), or checked where it was said to be.
        self.config = config = config.replace(action_mask=mask)
        self.env_factory = EnvFactory.from_config(config, make_env)
        self.observation_space = observed_space(own_space, self.action_space, mask)
        self.model: Model = _seeded_model(config, self.observation_space, self.action_space)
        self.optimizer_states: list[dict[str, Any]] | None = None
        self.global_step = 0
        self.updates = 0
        self.wall_time = 0.0
        self.run_dir: Path | None = None
        self.summary: TrainingSummary | None = None

    # -- training ----------------------------------------------------------------------------
    def learn(
        self,
        total_steps: int | None = None,
        run_dir: str | Path | None = None,
        callback: Callback | Sequence[Callback] | None = None,
        *,
        total_timesteps: int | None = None,
    ) -> A3C:
        """Train for ``total_steps`` more environment steps (default: up to the config's total;
        ``total_timesteps``, Stable-Baselines3's name, is taken for it).

        Logs, checkpoints and plots go to ``run_dir`` (default: a new directory under the
        config's ``run_dir``; an agent that already trained keeps its directory). ``callback``:
        one :class:`~a3c.callbacks.Callback` or several, which see each episode, update batch,
        evaluation and checkpoint, and may stop the run (see :mod:`a3c.callbacks`).
        """
        if total_timesteps is not None:
            if total_steps is not None:
                raise TypeError("give total_steps or total_timesteps (its other name), not both")
            total_steps = total_timesteps
        if total_steps is not None:
            self.config = self.config.replace(total_steps=self.global_step + total_steps)
        if self.config.lr_anneal_steps is None:
            # The schedule's horizon is fixed by the first training: training on (learn again,
            # resume with more steps) continues it instead of stretching it anew.
            if self.global_step > 0 and "linear" in (
                self.config.lr_schedule,
                self.config.ent_schedule,
            ):
                warnings.warn(
                    "this agent's checkpoint predates lr_anneal_steps: its linear schedule is "
                    f"stretched to total_steps {self.config.total_steps:,} from here on",
                    RuntimeWarning,
                    stacklevel=2,
                )
            self.config = self.config.replace(lr_anneal_steps=self.config.total_steps)
        if run_dir is not None:
            self.run_dir = Path(run_dir)
        elif self.run_dir is None:
            self.run_dir = Path(self.config.run_dir) / self._default_run_name()
        trainer = Trainer(
            self.config,
            self.model,
            self.observation_space,
            self.action_space,
            self.run_dir,
            self.optimizer_states,
            self.global_step,
            self.updates,
            self.wall_time,
            callback,
            self.env_factory,
        )
        try:
            self.summary = trainer.run()
        finally:
            if trainer.final_state is not None:  # the model itself was trained in place
                self._restore(trainer.final_state, model=False)
        return self

    def _default_run_name(self) -> str:
        if self.config.run_name:
            return self.config.run_name
        env = re.sub(r"[^A-Za-z0-9_.-]+", "_", self.config.env_id)
        name = f"{env}-s{self.config.seed}-{time.strftime('%Y%m%d-%H%M%S')}"
        candidate, i = name, 1
        while (Path(self.config.run_dir) / candidate).exists():
            i += 1
            candidate = f"{name}-{i}"
        return candidate

    # -- acting ------------------------------------------------------------------------------
    @torch.no_grad()
    def predict(
        self,
        observation: np.ndarray,
        state: Any = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
        action_masks: np.ndarray | None = None,
    ) -> tuple[Any, Any]:
        """Stable-Baselines3's signature: ``(action, state)``. Takes one observation or a batch
        (first dimension; for Dict, Tuple or Discrete observations, a sequence of them). The
        action is an array (a row per observation for a batch), or for a ``Tuple`` or ``Dict``
        action space the space's own tuple or dict (a list of them for a batch).

        Feed-forward policies return ``state`` unchanged (``None``). Recurrent (LSTM) policies
        take and return ``state`` as SB3's recurrent policies do, a tuple ``(h, c)`` of arrays
        shaped ``(1, batch, lstm_size)``; ``None`` is a fresh start, and ``episode_start`` (one
        bool per row) resets the rows whose episode starts with this observation.

        ``action_masks`` (sb3-contrib's ``MaskablePPO`` argument; one 0/1 value per action,
        :func:`a3c.masks.mask_size` values, a row per observation) allows only some actions,
        for an agent that reads masks (:mod:`a3c.masks`). Where its environment gives them in
        ``info`` or by a method, the observation is the environment's own, and without
        ``action_masks`` every action is allowed; where the observation holds one,
        ``action_masks`` replaces it.
        """
        source = self.config.action_mask
        if source in MOVED_INTO_OBSERVATION:  # the environment's own, without its mask
            assert isinstance(self.observation_space, gym.spaces.Dict)
            batch, single = _flat_rows(self.observation_space["observation"], observation)
            batch = batch.reshape(batch.shape[0], -1)  # an image's too: the mask follows it
            allowed = torch.ones(batch.shape[0], sum(self.model.mask_sizes), dtype=batch.dtype)
            batch = torch.cat([batch, allowed], dim=1)
        else:
            batch, single = _flat_rows(self.observation_space, observation)
        if action_masks is not None:
            if not self.model.has_action_mask:
                raise ValueError(
                    f"action_masks: this agent reads no action mask (action_mask={source!r})"
                )
            columns = self.model.mask_slice
            assert columns is not None
            size = sum(self.model.mask_sizes)
            masks = torch.as_tensor(np.asarray(action_masks), dtype=batch.dtype)
            if masks.numel() != batch.shape[0] * size:
                raise ValueError(
                    f"action_masks of shape {tuple(masks.shape)}: {size} values (one per action) "
                    f"for each of the {batch.shape[0]} observations"
                )
            batch = batch.clone()
            batch[:, columns] = masks.reshape(batch.shape[0], -1)
        n = batch.shape[0]
        recurrent_state = self.model.initial_state(n)
        if state is not None and self.model.is_recurrent:
            recurrent_state = tuple(torch.as_tensor(np.asarray(s)).reshape(n, -1) for s in state)
        starts = None
        if episode_start is not None:
            starts = torch.as_tensor(np.asarray(episode_start, dtype=bool).reshape(n))
        params, _, recurrent_state = self.model.step(batch, recurrent_state, starts)
        dist = self.model.distribution
        chosen = dist.to_env(dist.mode(params) if deterministic else dist.sample(params))
        # A hybrid action is its space's tuple or dict: a list of them for a batch.
        actions = chosen if isinstance(dist, Product) else np.asarray(chosen)
        if self.model.is_recurrent:
            state = tuple(s.numpy()[None] for s in recurrent_state)
        return (actions[0] if single else actions), state

    # -- persistence -------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Save weights, optimizer statistics, counters and config (atomic, code-free)."""
        payload = make_payload(
            self.config,
            self.observation_space,
            self.action_space,
            self.model,
            self.optimizer_states or [],
            self.global_step,
            self.updates,
            self.wall_time,
        )
        return save_checkpoint(payload, path)

    @classmethod
    def load(
        cls, path: str | Path, env: Callable[..., gym.Env] | None = None, **overrides: Any
    ) -> A3C:
        """Load a checkpoint written by :meth:`save` or by training (``checkpoints/*.pt``), or
        the newest checkpoint of a run directory (as ``a3c eval`` takes it; :meth:`resume`
        trains on in that directory).

        ``overrides`` change config fields for further training (``workers``, ``backend``, ...).
        The environment is rebuilt from the saved id, or from the callable that made it when that
        can be imported by name; ``env`` gives the callable again where it cannot (a lambda).
        """
        data = load_checkpoint(checkpoint_at(path))
        # A checkpoint saved before a field existed was trained as its value then was.
        saved = {**FIELDS_BEFORE, **data["config"]}
        kwargs = saved.get("env_kwargs") or {}
        if (
            "frameskip" in kwargs
            and saved.get("env_maker") is None
            and looks_atari(saved["env_id"])
        ):
            # Until 2026-12-07 an Atari game's frameskip keyword was replaced by 1 without a
            # word (it is refused now): the run was trained without it.
            saved["env_kwargs"] = {k: v for k, v in kwargs.items() if k != "frameskip"}
        if overrides.get("action_mask") == "auto":  # looked for when it was made: kept
            del overrides["action_mask"]
        for name, why in _FIXED_BY_THE_WEIGHTS.items():
            if overrides.get(name, saved[name]) != saved[name]:
                raise ValueError(f"{name}={overrides[name]!r}: {why}, with {name}={saved[name]!r}")
        config = Config.from_dict({**saved, **overrides})
        if env is not None:
            if isinstance(env, gym.Env) or not callable(env):
                raise TypeError(_wrong_env_message(env))
            config = config.replace(env_maker=env_maker_reference(env))
        agent = cls.__new__(cls)
        agent.config = config.validate()
        agent.env_factory = EnvFactory.from_config(config, env)
        learned_on = EnvFactory.from_config(Config.from_dict(saved))
        agent.observation_space = space_from_dict(data["observation_space"])
        agent.action_space = space_from_dict(data["action_space"])
        # built like a new agent's (the caller's RNG untouched), then overwritten by the weights
        agent.model = _seeded_model(config, agent.observation_space, agent.action_space)
        agent.run_dir = None
        agent.summary = None
        agent._restore(data, model=True)
        if agent.env_factory.spaces_differ(learned_on):
            # Another environment: said now, not as a shape error in a worker's forward pass.
            check_fits(agent.env_factory, agent.observation_space, agent.action_space)
        return agent

    @classmethod
    def resume(cls, run_dir: str | Path, **overrides: Any) -> A3C:
        """The agent of a run directory at its newest checkpoint, ready to ``learn()`` on into
        the same directory up to its config's ``total_steps`` (or an overridden one)."""
        path = latest_checkpoint(run_dir)
        if path is None:
            raise CheckpointError(f"no checkpoint to resume from in {run_dir}/checkpoints")
        agent = cls.load(path, **overrides)
        agent.run_dir = Path(run_dir)
        return agent

    def _restore(self, data: dict[str, Any], model: bool) -> None:
        if model:
            try:
                self.model.load_state_dict(data["model"])
            except RuntimeError as exc:
                raise CheckpointError(f"checkpoint does not fit the network: {exc}") from exc
        self.optimizer_states = data["optimizers"] or None
        self.global_step = int(data["global_step"])
        self.updates = int(data["updates"])
        self.wall_time = float(data.get("wall_time", 0.0))
        # Older checkpoints carry a global RNG state: it is left alone, since training draws from
        # its own seeded generators and setting it would reset the caller's random stream.

    @property
    def env(self) -> gym.Env:
        """A fresh instance of the agent's environment, whose observations (and ``info``) are
        what :meth:`predict` takes (not flattened as the workers see them)."""
        return own_observations(self.env_factory())


def _flat_rows(space: gym.Space, observation: Any) -> tuple[torch.Tensor, bool]:
    """One observation of ``space`` or a batch, as the network's rows: ``(rows, single)``."""
    if is_structured(space):  # a dict, tuple, int...: flattened
        rows, single = flatten_batch(space, observation)
        return torch.as_tensor(rows), single
    obs = np.asarray(observation)
    single = obs.shape == tuple(space.shape or ())
    return torch.as_tensor(obs[None] if single else obs), single


def _seeded_model(config: Config, observation_space: gym.Space, action_space: gym.Space) -> Model:
    """The network initialised from ``config.seed``, reproducibly, without moving the caller's
    global torch RNG (forked and restored around the initialisation)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        return build_model(config, observation_space, action_space)


def _sb3_policy_message(policy: str, env: Any) -> str:
    """What to write instead of Stable-Baselines3's ``A2C("MlpPolicy", env)``."""
    instead = f"A3C({env!r})" if isinstance(env, str) else "A3C('ENV-ID') or A3C(make_env)"
    lstm = " (an LSTM: lstm=True)" if "Lstm" in policy else ""
    return (
        f"{policy!r} is Stable-Baselines3's policy argument; a3c takes the environment first "
        f"and builds its network from the environment's spaces: {instead}{lstm}"
    )


def _name_of(make_env: Callable[..., gym.Env], env_kwargs: dict[str, Any]) -> str:
    """The id of the environment a callable makes (its registry id, else the callable's name),
    for run names and plots; made once, and closed."""
    env = make_env(**env_kwargs)
    if not isinstance(env, gym.Env):
        raise TypeError(
            f"the environment callable {env_maker_reference(make_env)} returned "
            f"{type(env).__name__}, not a gym.Env"
        )
    spec_id = getattr(env.spec, "id", None)
    env.close()
    if isinstance(spec_id, str):
        return spec_id
    return getattr(make_env, "__name__", None) or type(make_env).__name__


def _instead_of_own_preset(config: Config) -> str | None:
    """The preset to start from instead of the env id's own (``config.preset``, chosen by the id),
    or ``None`` where that one fits the environment that ``config.env_kwargs`` make.

    A preset is tuned on the id as registered (with its own ``env_kwargs``): keyword arguments
    that change the family of its spaces leave it unfit (``LunarLander-v3`` with
    ``continuous=True`` has Box actions; its preset is for discrete ones), and those that keep
    it (a MuJoCo task's ``ctrl_cost_weight``) keep the preset; a family is of one kind of
    actions. Instead: the preset of the id registered as the same environment with those keyword
    arguments (``LunarLanderContinuous-v3``'s) where there is one, else the family's defaults
    (``"defaults"``); a warning says which."""
    assert config.preset is not None
    tuned = config.replace(env_kwargs=load_preset(config.preset).get("env_kwargs", {}))
    if config.env_kwargs == tuned.env_kwargs:
        return None
    family = family_of(*probe_spaces(EnvFactory.from_config(config))[:2])
    tuned_family = family_of(*probe_spaces(EnvFactory.from_config(tuned))[:2])
    if family == tuned_family:  # a family is of one kind of actions
        return None
    twin = registered_twin(config.env_id, config.env_kwargs)
    twins_preset = own_preset(twin, config.algo) if twin is not None else None
    instead = FAMILY_DEFAULTS
    said = (
        "its family's defaults instead"
        if config.algo == "a3c"
        else "the config's defaults instead (the family defaults are A3C's)"
    ) + " (name the preset to start from it all the same)"
    if twins_preset is not None:
        instead = twins_preset
        said = f"the preset of {twin}, registered as that environment, instead"
    kwargs = ", ".join(f"{k}={v!r}" for k, v in config.env_kwargs.items())
    warnings.warn(
        f"preset {config.preset!r} was tuned for {config.env_id} as registered, of the "
        f"{tuned_family} family; with {kwargs} it is of the {family} family: {said}",
        UserWarning,
        stacklevel=3,
    )
    return instead


def _wrong_env_message(env: object) -> str:
    """What to pass instead of ``env`` (e.g. a ``gym.make`` result, Stable-Baselines3's habit)."""
    spec = getattr(env, "spec", None)
    env_id = getattr(spec, "id", None)
    example = f"A3C({env_id!r})" if isinstance(env_id, str) else "A3C('CartPole-v1')"
    return (
        f"env must be a Gymnasium id, e.g. {example}, or a callable that makes the environment, "
        f"e.g. A3C(make_env) with def make_env(): return MyWrapper(gym.make(...)); not an "
        f"instance of {type(env).__name__}: every worker builds its own environments"
    )
