"""Environment plumbing: picklable factories, space checks, and groups of envs stepped together.

Nothing here knows about the algorithm. Episode statistics are of the raw reward, before the
learner's ``reward_scale`` and before Atari reward clipping, and count whole games (not lives).
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import functools
import importlib
import importlib.metadata
import importlib.util
import inspect
import json
import math
import re
import warnings
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

import gymnasium as gym
import numpy as np

import a3c.memory_envs  # noqa: F401  (registers the a3c/ environments in every process)
from a3c.frames import preprocess_frames
from a3c.masks import find_action_mask, observed_space
from a3c.spaces import (
    HashedWords,
    check_action_space,
    check_layouts,
    check_observation_space,
    flat_observations,
    left_out,
    observation_space_of,
)

if TYPE_CHECKING:
    from a3c.ale_vector import AleVectorGroup

ATARI_ENTRY_POINT = "ale_py.env:AtariEnv"

# The a3c extra that installs what an environment needs, by the package of its registry entry
# point: the one table behind every 'pip install "a3c[...]"' hint.
EXTRAS_BY_ENTRY_POINT = {
    "gymnasium.envs.box2d": "box2d",
    "gymnasium.envs.mujoco": "mujoco",
    "ale_py": "atari",
}


#: the fields that shape what a policy reads: its frames, its words, and its action mask
OBSERVATION_SETTINGS = (
    "preprocess_frames",
    "frame_skip",
    "frame_stack",
    "screen_size",
    "words",
    "action_mask",
)

#: The settings of an :class:`EnvFactory` that can change its environment's spaces: another
#: environment, or its observations read otherwise (frame_skip, a time limit, Atari's rules of
#: play cannot).
SPACE_SETTINGS = (
    "env_id",
    "env_kwargs",
    "env_maker",
    "env_module",
    "make_env",
    "preprocess_frames",
    "frame_stack",
    "screen_size",
    "words",
    "action_mask",
)


@dataclass(frozen=True)
class EnvFactory:
    """Builds one environment; picklable, so ``spawn``-started workers can rebuild it.

    ``env_module`` is imported first so that a user's module can register its environments;
    Gymnasium's own ``"module:Env-v0"`` form works as well.

    Atari games (any id that ale-py registers: ``ALE/Pong-v5``, ``PongNoFrameskip-v4``) get the
    standard preprocessing from Gymnasium's own wrappers: up to ``noop_max`` no-op starts, frame
    skip ``frame_skip`` with max-pooling of the last two frames, grayscale frames resized to
    ``screen_size`` (84) pixels square, ``frame_stack`` stacked frames; for learning, rewards
    clipped to [-1, 1] (``clip_rewards``) and, optionally, a lost life taken as terminal
    (``terminal_on_life_loss``). Scores reported for episodes are
    unclipped and of whole games. ``repeat_action_probability`` overrides the id's sticky actions
    (v5: 0.25); ``max_episode_steps`` counts agent steps (the ids' own limit of 108,000 frames
    still applies).

    A worker's games of one Atari id are stepped together by ale-py's ``AtariVectorEnv`` (see
    :mod:`a3c.ale_vector`) where ``atari_vector`` allows it (``None``: where the game can be,
    ``True``: required, ``False``: never); the environments this factory makes one at a time
    (evaluation, videos) are always Gymnasium's.

    An environment whose dependency is missing raises ``ValueError`` naming the extra that
    installs it (``pip install "a3c[box2d]"``), not Gymnasium's ``DependencyNotInstalled``.

    Image environments that are not Atari get Atari's preprocessing with ``preprocess_frames``
    ``"grayscale"`` or ``"color"`` (see :mod:`a3c.frames`): ``frame_skip`` plain repeats,
    ``screen_size`` square, ``frame_stack`` stacked (the ``frames`` families of
    :mod:`a3c.families` ask for it; the factory does what its fields say).

    ``action_mask`` ``"info"`` or ``"method"``: the environment's action mask joins its
    observations (:class:`a3c.masks.MaskInObservation`).

    ``env_kwargs`` go to ``gym.make``. With a callable (``make_env``, or ``env_maker``, the
    ``"module:name"`` it is imported from when the factory travels without it), the environment
    is ``make_env(**env_kwargs)`` as the user builds it, wrappers and all (no Atari
    preprocessing; ``preprocess_frames`` and ``max_episode_steps`` apply on top).
    """

    env_id: str
    env_module: str | None = None
    env_kwargs: dict[str, Any] = field(default_factory=dict, hash=False)
    env_maker: str | None = None
    make_env: Callable[..., gym.Env] | None = field(default=None, hash=False)
    max_episode_steps: int | None = None
    preprocess_frames: str = "none"
    words: str = "hashed"
    action_mask: str = "none"
    frame_skip: int = 4
    frame_stack: int = 4
    screen_size: int = 84
    noop_max: int = 30
    clip_rewards: bool = True
    terminal_on_life_loss: bool = False
    fire_reset: bool | None = None
    repeat_action_probability: float | None = None
    atari_vector: bool | None = None

    @classmethod
    def from_config(cls, config: Any, make_env: Callable[..., gym.Env] | None = None) -> EnvFactory:
        """The factory a :class:`~a3c.Config` describes (with the callable itself, if at hand)."""
        names = [f.name for f in dataclasses.fields(cls) if f.name != "make_env"]
        return cls(**{name: getattr(config, name) for name in names}, make_env=make_env)

    def for_evaluation(self) -> EnvFactory:
        """The same environment as scored: whole games, unclipped rewards."""
        return dataclasses.replace(self, clip_rewards=False, terminal_on_life_loss=False)

    @property
    def is_atari(self) -> bool:
        if self.env_maker is not None:  # the user's own environment, preprocessed as they wish
            return False
        self._register()
        spec = gym.registry.get(self.env_id)
        return spec is not None and spec.entry_point == ATARI_ENTRY_POINT

    def _register(self) -> None:
        if self.env_module:
            try:
                importlib.import_module(self.env_module)
            except ModuleNotFoundError as exc:
                # Only the module itself (or a package it lies in) missing is bad input; a module
                # missing inside the user's code is their bug and keeps its traceback.
                module = self.env_module
                if exc.name is None or not (
                    module == exc.name or module.startswith(exc.name + ".")
                ):
                    raise
                raise ValueError(
                    f"cannot import the env module {module!r}: no module named {exc.name!r} "
                    "(install it, or run from the folder that holds it)"
                ) from exc
        if self.env_id not in gym.registry:
            try:  # ale-py registers the Atari ids when imported (Gymnasium 1.x has no plugins)
                import ale_py

                gym.register_envs(ale_py)
            except ImportError:
                pass
        registrar = registering_package(self.env_id)
        if self.env_id not in gym.registry and registrar is not None:
            module = registrar[0]
            if importlib.util.find_spec(module) is not None:
                try:  # it registers its ids, as --env-module would
                    importlib.import_module(module)
                except ImportError as exc:  # its own dependency missing: one line, as for ours
                    raise ValueError(
                        f"{self.env_id}: importing {module}, which registers it, failed: "
                        f"{one_line(str(exc))}"
                    ) from exc

    def __call__(self, **kwargs: Any) -> gym.Env:
        """A new environment; structured observations (Dict, Tuple, Discrete, ...) come flat
        (see :mod:`a3c.spaces`)."""
        env = self._from_callable(**kwargs) if self.env_maker is not None else self._make(**kwargs)
        return flat_observations(env, self.words, self.action_mask)

    def _make(self, **kwargs: Any) -> gym.Env:
        kwargs = {**self.env_kwargs, **kwargs}
        atari = self.is_atari  # registers the id's module (and ale-py's games) first
        if self.max_episode_steps is not None and not atari:
            kwargs["max_episode_steps"] = self.max_episode_steps
        self.check_frames(atari)
        if atari:
            # 1 is what it gets; another would be overridden below, without a word
            if self.env_kwargs.get("frameskip", 1) != 1:
                raise ValueError(
                    f"{self.env_id}: a3c skips an Atari game's frames itself; instead of the "
                    "frameskip keyword argument use --frame-skip N (frame_skip in a preset or "
                    "Config)"
                )
            kwargs["frameskip"] = 1  # _atari_wrappers skip frames (frames max-pooled)
            if self.repeat_action_probability is not None:
                kwargs["repeat_action_probability"] = self.repeat_action_probability
        try:
            env = gym.make(self.env_id, **kwargs)
            return self._atari_wrappers(env) if atari else self._frames(env)  # they need OpenCV
        except (
            gym.error.NameNotFound,
            gym.error.NamespaceNotFound,
            gym.error.VersionNotFound,
        ) as exc:
            # 0.7: a typo (CartPle-v1, 0.95) or an old version, not any id of about the same
            # length (FlappyBird-v0 is 0.52 like Solaris-v0, and needs its package imported)
            close = difflib.get_close_matches(self.env_id, list(gym.registry), n=3, cutoff=0.7)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            extra = extra_for(self.env_id)
            registrar = registering_package(self.env_id)
            if extra is not None:  # an Atari id that ale-py, not installed, would register
                hint = f'; it needs the {extra} extra: pip install "a3c[{extra}]"'
            elif registrar is not None and importlib.util.find_spec(registrar[0]) is None:
                hint = f"; {registrar[0]} registers ids like it: pip install {registrar[1]}"
            elif not close and not (self.env_module or registrar or looks_atari(self.env_id)):
                hint = (
                    "; an id that a package registers needs the package imported: "
                    "--env-module PACKAGE"
                )
            raise ValueError(f"unknown environment {self.env_id!r}{hint}") from exc
        except gym.error.DeprecatedEnv as exc:  # an old version: Gymnasium names the new one
            raise ValueError(str(exc)) from exc
        except TypeError as exc:  # a keyword argument of the user's that the class does not take
            unknown = unknown_keyword(self.env_id, self.env_kwargs, exc)
            if unknown is None:
                raise
            raise ValueError(unknown) from exc
        except (gym.error.DependencyNotInstalled, ImportError) as exc:
            # Gymnasium guards some imports (Box2D, mujoco) and not others (MuJoCo's imageio, its
            # jax environments' jax); a failed import in an environment that is neither one an
            # extra of ours covers nor Gymnasium's own is the user's bug: its traceback.
            if refused_by_constructor(self.env_id, exc):  # installed, but not a version it takes
                raise ValueError(refusal(self.env_id, exc)) from exc
            if (
                isinstance(exc, ImportError)
                and extra_for(self.env_id) is None
                and not gymnasiums_own(self.env_id)
            ):
                raise
            raise ValueError(missing_dependency(self.env_id, exc)) from exc

    @property
    def users_own(self) -> bool:
        """Whether the environment is made by a callable of the user's, not from an id."""
        return self.env_maker is not None  # as __call__ decides

    def as_it_comes(self) -> EnvFactory:
        """This factory without a3c's frame preprocessing: the environment's own observations,
        from which its family is chosen (:func:`a3c.families.family_of`)."""
        return dataclasses.replace(self, preprocess_frames="none")

    def checked(self) -> gym.Env:
        """A new environment of the user's callable with its calls checked against Gymnasium's
        API (:class:`GymnasiumApi`, innermost under a3c's wrappers), for a probe."""
        return flat_observations(
            self._from_callable(_api_checked=True), self.words, self.action_mask
        )

    def _from_callable(self, _api_checked: bool = False, **kwargs: Any) -> gym.Env:
        make_env = self.make_env or import_env_maker(self.env_maker or "")
        env = make_env(**{**self.env_kwargs, **kwargs})
        if not isinstance(env, gym.Env):
            raise TypeError(
                f"the environment callable {self.env_maker} returned {type(env).__name__}, "
                "not a gym.Env"
            )
        if _api_checked:
            env = GymnasiumApi(env)
        if self.max_episode_steps is not None:
            env = gym.wrappers.TimeLimit(env, self.max_episode_steps)
        return self._frames(env)

    def with_observations_of(self, trained_on: EnvFactory) -> EnvFactory:
        """This environment with its observations shaped as ``trained_on``'s, frames and words
        (:data:`OBSERVATION_SETTINGS`): what a policy learned there takes."""
        return dataclasses.replace(
            self, **{name: getattr(trained_on, name) for name in OBSERVATION_SETTINGS}
        )

    def spaces_differ(self, other: EnvFactory) -> bool:
        """Whether this factory's environment may observe or act otherwise than ``other``'s
        (:data:`SPACE_SETTINGS`): where it cannot, checking it would only make one for nothing."""
        return any(getattr(self, name) != getattr(other, name) for name in SPACE_SETTINGS)

    def check_frames(self, atari: bool) -> None:
        """Raise ``ValueError`` where ``preprocess_frames`` is asked of an Atari game (``atari``:
        :attr:`is_atari`, as the caller has it already; it registers ids, so it is not free)."""
        if self.preprocess_frames != "none" and atari:
            raise ValueError(
                f"preprocess_frames={self.preprocess_frames!r} is for image environments that "
                f"are not Atari games; {self.env_id} gets Atari's preprocessing (frame_skip, "
                "frame_stack, screen_size) already"
            )

    def _frames(self, env: gym.Env) -> gym.Env:
        try:
            return preprocess_frames(
                env,
                self.preprocess_frames,
                frame_skip=self.frame_skip,
                screen_size=self.screen_size,
                frame_stack=self.frame_stack,
            )
        except ValueError as exc:
            env.close()
            raise ValueError(f"{self.env_id}: {exc}") from exc

    def _atari_wrappers(self, env: gym.Env) -> gym.Env:
        if getattr(env.unwrapped, "continuous", False):  # ale-py's continuous=True
            env = ContinuousJoystick(env)
        ram = getattr(env.unwrapped, "_obs_type", None) == "ram"  # ale-py's obs_type="ram"
        if ram:
            env = AtariRam(env, noop_max=self.noop_max, frame_skip=self.frame_skip)
        else:
            env = gym.wrappers.AtariPreprocessing(
                env,
                noop_max=self.noop_max,
                frame_skip=self.frame_skip,
                screen_size=self.screen_size,
                grayscale_obs=True,
                scale_obs=False,  # uint8 frames: 4x smaller rollouts; the network scales them
            )
        if self.max_episode_steps is not None:  # in agent steps, not emulator frames
            env = gym.wrappers.TimeLimit(env, self.max_episode_steps)
        fire = self.fire_reset
        if fire is None:
            fire = stands_still_without_fire(self.env_id)
        if fire:  # inside the statistics: its FIREs are part of the agent's steps, not extra
            env = FireReset(env)
        env = gym.wrappers.RecordEpisodeStatistics(env)  # whole games, unclipped: the score
        if self.terminal_on_life_loss:
            env = LifeLossTerminal(env)
        if self.clip_rewards:
            env = gym.wrappers.ClipReward(env, -1.0, 1.0)
        if self.frame_stack > 1 and not ram:
            env = gym.wrappers.FrameStackObservation(env, self.frame_stack)
        return env


_IMPORTABLE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


def env_maker_reference(make_env: Callable[..., Any]) -> str:
    """``"module:qualified.name"`` of a callable: how a saved agent records it. A lambda, a
    function defined inside another, a ``functools.partial`` or a callable of ``__main__`` get a
    description that :func:`import_env_maker` refuses, with advice."""
    module = getattr(make_env, "__module__", None) or "?"
    name = getattr(make_env, "__qualname__", None) or repr(make_env)
    return f"{module}:{name}"


def unwrap_partial(
    make_env: Callable[..., Any], env_kwargs: dict[str, Any]
) -> tuple[Callable[..., Any], dict[str, Any]]:
    """A ``functools.partial`` of keyword arguments only (plain data): its function, and the
    keywords merged under ``env_kwargs``, so that the run records a function it can import and
    arguments it can save. Anything else comes back as it is."""
    if not isinstance(make_env, functools.partial) or make_env.args:
        return make_env, env_kwargs
    keywords = {**make_env.keywords, **env_kwargs}
    try:
        json.dumps(keywords, allow_nan=False)
    except (TypeError, ValueError):
        return make_env, env_kwargs
    return make_env.func, keywords


def import_env_maker(reference: str) -> Callable[..., gym.Env]:
    """The callable a reference of :func:`env_maker_reference` names."""
    module, _, name = reference.partition(":")
    if _IMPORTABLE.match(reference) and module != "__main__":
        with contextlib.suppress(ImportError, AttributeError):
            target: Any = importlib.import_module(module)
            for part in name.split("."):
                target = getattr(target, part)
            if callable(target):
                return target
    raise ValueError(
        f"this environment is made by the callable {reference!r}, which cannot be imported by "
        "that name: give the callable again (A3C.load(path, env=make_env)), or an id "
        "(a3c eval --env ID)"
    )


def looks_atari(env_id: str) -> bool:
    """Whether ``env_id`` is spelled like an ALE game (``ALE/...`` or ``...NoFrameskip...``),
    registered or not: used to name the missing extra in an error."""
    return env_id.startswith("ALE/") or "NoFrameskip" in env_id


# Packages that register environment ids when imported, with the ids' beginnings: an id of theirs
# that is not registered yet imports its package (as --env-module would), or names it to install.
REGISTERING_PACKAGES: dict[tuple[str, ...], tuple[str, str]] = {  # beginnings: (module, pip)
    ("MiniGrid-", "BabyAI-"): ("minigrid", '"a3c[minigrid]"'),
    ("MiniWorld-",): ("miniworld", "miniworld"),
    (
        "highway-",
        "exit-",
        "intersection-",
        "lane-keeping-",
        "merge-",
        "parking-",
        "racetrack-",
        "roundabout-",
        "two-way-",
        "u-turn-",
    ): ("highway_env", "highway-env"),
    ("Panda",): ("panda_gym", "panda-gym"),
    (
        "Fetch",
        "HandReach",
        "HandManipulate",
        "PointMaze_",
        "AntMaze_",
        "AdroitHand",
        "FrankaKitchen",
    ): ("gymnasium_robotics", "gymnasium-robotics"),
    ("dm_control/",): ("shimmy", '"a3c[dmc]"'),  # DeepMind's control suite
    ("FlappyBird-",): ("flappy_bird_gymnasium", "flappy-bird-gymnasium"),
}


def registering_package(env_id: str) -> tuple[str, str] | None:
    """``(module, pip name)`` of the package that registers ``env_id``, by how the id begins
    (:data:`REGISTERING_PACKAGES`); ``None`` if no package listed there does."""
    for beginnings, package in REGISTERING_PACKAGES.items():
        if env_id.startswith(beginnings):
            return package
    return None


def ale_py_installed() -> bool:
    """Whether ale-py can be imported (without importing it)."""
    return importlib.util.find_spec("ale_py") is not None


def extra_for(env_id: str) -> str | None:
    """The a3c extra that installs what ``env_id`` needs (``"box2d"``, ``"mujoco"``,
    ``"atari"``), from the package its registered entry point lies in; ``None`` if no extra does.
    An id not registered is taken for an Atari game when spelled like one and ale-py, which
    registers them, is missing."""
    module = entry_point_module(env_id)
    if module is None:
        return "atari" if looks_atari(env_id) and not ale_py_installed() else None
    for package, extra in EXTRAS_BY_ENTRY_POINT.items():
        if in_package(module, package):
            return extra
    return None


def entry_point_module(env_id: str) -> str | None:
    """The module of ``env_id``'s registered entry point; ``None`` if the id is not registered."""
    spec = gym.registry.get(env_id)
    if spec is None:
        return None
    entry = spec.entry_point
    return entry.split(":")[0] if isinstance(entry, str) else getattr(entry, "__module__", "")


def in_package(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def gymnasiums_own(env_id: str) -> bool:
    """Whether ``env_id`` is one of Gymnasium's own environments (its jax ones, the shimmy
    stand-ins): a failed import there is a missing dependency, not a bug of the user's."""
    module = entry_point_module(env_id)
    return module is not None and in_package(module, "gymnasium")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def gymnasium_extra_for(module: str, env_module: str = "") -> str | None:
    """Gymnasium's extra that installs the top-level ``module`` (``jax``: ``"jax"``), read from
    Gymnasium's installed metadata; where several do, the one named after the environment's
    subpackage (``gymnasium.envs.classic_control``: ``"classic-control"``)."""
    try:
        requirements = importlib.metadata.requires("gymnasium") or []
    except importlib.metadata.PackageNotFoundError:
        return None
    wanted = _canonical(module)
    extras = []
    for requirement in requirements:
        found = re.match(
            r"([A-Za-z0-9][A-Za-z0-9._-]*).*\bextra\s*==\s*[\"']([^\"']+)[\"']", requirement
        )
        if found is None or found.group(2) in ("all", "testing"):
            continue
        distribution = _canonical(found.group(1))  # pygame-ce installs the module pygame
        if distribution == wanted or distribution.startswith(wanted + "-"):
            extras.append(found.group(2))
    parts = env_module.split(".")
    subpackage = (
        _canonical(parts[2]) if len(parts) > 2 and parts[:2] == ["gymnasium", "envs"] else ""
    )
    return subpackage if subpackage in extras else (extras[0] if extras else None)


def one_line(text: str) -> str:
    """A message's lines joined into one, for an error that must fit one line."""
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


def refused_by_constructor(env_id: str, exc: Exception) -> bool:
    """Whether ``exc`` is a plain ``ImportError`` that the environment's constructor raised
    itself, not a failed import: Gymnasium's MuJoCo v2-v4 ids refuse ``mujoco>=3`` that way,
    with the extra installed, so naming the extra would be wrong advice."""
    if type(exc) is not ImportError or exc.name is not None:
        return False
    frame = exc.__traceback__
    while frame is not None and frame.tb_next is not None:
        frame = frame.tb_next
    if frame is None:
        return False
    code = frame.tb_frame
    module = entry_point_module(env_id)
    return code.f_code.co_name != "<module>" and code.f_globals.get("__name__") == module


def refusal(env_id: str, exc: Exception) -> str:
    """One line for an environment that refuses what is installed: its message, and the newest
    version of the id where a newer one is registered (``Pusher-v4``: ``Pusher-v5``)."""
    reason = one_line(str(exc))
    namespace, name, version = gym.envs.registration.parse_env_id(env_id)
    newest = gym.envs.registration.find_highest_version(namespace, name)
    if version is not None and newest is not None and newest > version:
        reason += (
            f" (the newest version is {gym.envs.registration.get_env_id(namespace, name, newest)})"
        )
    return f"cannot make {env_id!r}: {reason}"


def missing_dependency(env_id: str, exc: Exception) -> str:
    """One line for an environment that cannot be made for want of a dependency
    (``DependencyNotInstalled`` or the ``ImportError`` itself): the import that failed and the
    a3c extra to install (Gymnasium's own advice names its extras, not ours); for an environment
    no extra covers, its own message."""
    extra = extra_for(env_id)
    cause = exc if isinstance(exc, ImportError) else exc.__cause__
    text = str(cause) if isinstance(cause, ImportError) and extra is not None else str(exc)
    # a broken install's message may span lines (mujoco's ends with the command that repairs it)
    reason = one_line(text) or type(exc).__name__
    if extra is not None:
        return f'{env_id} needs the {extra} extra ({reason}): pip install "a3c[{extra}]"'
    missing = exc.name if isinstance(exc, ModuleNotFoundError) else None
    if missing and gymnasiums_own(env_id):  # one of Gymnasium's extras, not ours (jax)
        gym_extra = gymnasium_extra_for(missing.split(".")[0], entry_point_module(env_id) or "")
        if gym_extra is not None:
            return (
                f"{env_id} needs Gymnasium's {gym_extra} extra ({reason}): "
                f'pip install "gymnasium[{gym_extra}]"'
            )
    return f"cannot make {env_id!r}: {reason}"


class LifeLossTerminal(gym.Wrapper):
    """A lost life is terminal for learning; the game itself goes on (DQN's "episodic life").

    Gymnasium's ``AtariPreprocessing(terminal_on_life_loss=True)`` restarts the whole game at each
    lost life, so an agent would never see its later lives. Here ``reset`` after a lost life does
    not touch the emulator: it returns the observation and info of the step on which the life was
    lost, and the game continues from there with the agent's next action, so every reward of the
    game reaches the learner. Every other reset (the game over, a reset asked for mid-game, or one
    with a ``seed``) really resets the game.

    The wrappers inside see whole games: ``RecordEpisodeStatistics`` reports a game's score once,
    on the step that ends it, and ``TimeLimit`` counts the game's steps. Outside,
    ``FrameStackObservation`` starts its stack afresh on every reset, so after a lost life the
    agent's first observation is the frame of that loss, repeated; ``ClipReward`` only clips.
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.lives = 0
        self.life_lost: tuple[Any, dict[str, Any]] | None = None  # (obs, info) of that step

    def step(self, action: Any) -> tuple[Any, Any, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        game_over = terminated or truncated
        lives = self.env.unwrapped.ale.lives()  # type: ignore[attr-defined]
        self.life_lost = None
        if 0 < lives < self.lives:
            terminated = True  # also when the time limit ends the game on this very step
            if not game_over:
                self.life_lost = (obs, dict(info))
        self.lives = lives
        return obs, reward, terminated, truncated, info

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        if self.life_lost is not None and kwargs.get("seed") is None:
            obs, info = self.life_lost  # the game goes on from the step that lost the life
        else:
            obs, info = self.env.reset(**kwargs)
            self.lives = self.env.unwrapped.ale.lives()  # type: ignore[attr-defined]
        self.life_lost = None
        return obs, info


class FireReset(gym.Wrapper):
    """FIRE at the start of a game and after a lost life, for games that stand still until the
    player fires (Breakout: without it an early policy that never fires waits out the 108,000-
    frame limit). The FIRE after a lost life is taken within the step that lost it (its reward is
    that step's too), so that with :class:`LifeLossTerminal` outside, the next life starts
    launched; the FIRE at a reset passes its reward on to the first step. Inside
    ``RecordEpisodeStatistics``: a game's length counts the agent's steps."""

    FIRE = 1

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        meanings = env.unwrapped.get_action_meanings()  # type: ignore[attr-defined]
        if len(meanings) < 2 or meanings[self.FIRE] != "FIRE":
            raise ValueError(f"{env.spec.id if env.spec else env}: action 1 is not FIRE")
        self.lives = 0
        self.pending: Any = 0.0  # the reward of the FIRE at reset, for the first step

    def _lives(self) -> int:
        return int(self.env.unwrapped.ale.lives())  # type: ignore[attr-defined]

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        obs, self.pending, terminated, truncated, info = self.env.step(self.FIRE)
        if terminated or truncated:  # (not seen in practice) start afresh, without a seed
            obs, info = self.env.reset()
            self.pending = 0.0
        self.lives = self._lives()
        return obs, info

    def step(self, action: Any) -> tuple[Any, Any, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        reward, self.pending = float(reward) + float(self.pending), 0.0
        lives = self._lives()
        if 0 < lives < self.lives and not (terminated or truncated):
            obs, more, terminated, truncated, info = self.env.step(self.FIRE)
            reward = float(reward) + float(more)
        self.lives = lives
        return obs, reward, terminated, truncated, info


class AtariRam(gym.Wrapper):
    """A game observed through the console's RAM (ale-py's ``obs_type="ram"``): the no-op starts
    and the frame skip of Gymnasium's ``AtariPreprocessing``, whose screen processing does not
    apply. The 128 bytes are the whole memory of the console, the game's state, so they are
    neither max-pooled nor stacked."""

    def __init__(self, env: gym.Env, noop_max: int, frame_skip: int) -> None:
        super().__init__(env)
        self.noop_max = noop_max
        self.frame_skip = frame_skip

    def step(self, action: Any) -> tuple[Any, Any, bool, bool, dict[str, Any]]:
        total = 0.0
        for _ in range(self.frame_skip):
            obs, reward, terminated, truncated, info = self.env.step(action)
            total += float(reward)
            if terminated or truncated:
                break
        return obs, total, terminated, truncated, info

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        random = self.env.unwrapped.np_random
        for _ in range(int(random.integers(1, self.noop_max + 1)) if self.noop_max > 0 else 0):
            obs, _, terminated, truncated, step_info = self.env.step(0)
            info.update(step_info)
            if terminated or truncated:
                obs, info = self.env.reset(**kwargs)
        return obs, info


class ContinuousJoystick(gym.Wrapper):
    """A game in ale-py's continuous mode (``continuous=True``: each action is a float32 array of
    the joystick's radius and angle and the fire button's pressure) under Atari's preprocessing,
    whose wrappers press buttons by index: Gymnasium's no-op starts NOOP (0), :class:`FireReset`
    FIRE (1). Those two become the joystick at rest, without and with fire; the agent's arrays
    go on as float32, which is all the game takes."""

    # NOOP and FIRE as (radius, angle, fire)
    BUTTONS: ClassVar[dict[int, tuple[float, float, float]]] = {
        0: (0.0, 0.0, 0.0),
        1: (0.0, 0.0, 1.0),
    }

    def step(self, action: Any) -> tuple[Any, Any, bool, bool, dict[str, Any]]:
        if isinstance(action, int | np.integer):
            action = self.BUTTONS[int(action)]
        return self.env.step(np.asarray(action, dtype=np.float32))


@functools.cache
def stands_still_without_fire(env_id: str, steps: int = 30) -> bool:
    """Whether an Atari game needs FIRE to start: its action 1 is FIRE and its screen does not
    change over ``steps`` NOOPs after a reset (Breakout: yes; Pong, Space Invaders: no). Tried
    once per process on the real ROM, without sticky actions."""
    env = gym.make(env_id, frameskip=4, repeat_action_probability=0.0)
    try:
        if env.unwrapped.get_action_meanings()[1:2] != ["FIRE"]:  # type: ignore[attr-defined]
            return False
        previous, _ = env.reset(seed=0)
        for _ in range(steps):
            obs, _, terminated, truncated, _ = env.step(0)
            if terminated or truncated or not np.array_equal(obs, previous):
                return False
            previous = obs
        return True
    finally:
        env.close()


def make_env_group(factory: EnvFactory, n: int, seed: int) -> EnvGroup | AleVectorGroup:
    """The ``n`` environments a worker steps together: an :class:`EnvGroup` of the factory's
    environments, or, for an Atari game where ``factory.atari_vector`` allows it, one
    ``AtariVectorEnv`` of ``n`` games (:class:`~a3c.ale_vector.AleVectorGroup`)."""
    if factory.atari_vector is not False and factory.is_atari:
        factory.check_frames(atari=True)  # the Gymnasium path checks as it makes each game
        from a3c.ale_vector import AleVectorGroup, use_ale_vector

        if use_ale_vector(factory):
            return AleVectorGroup(factory, n, seed)
    return EnvGroup(factory, n, seed)


def registered_twin(env_id: str, env_kwargs: dict[str, Any]) -> str | None:
    """The id registered as ``env_id``'s environment with ``env_kwargs`` set
    (``LunarLander-v3`` with ``continuous=True``: ``LunarLanderContinuous-v3``), if there is one:
    the same entry point and time limit, and the same keyword arguments once the entry point's
    own defaults fill in those that are not given."""
    spec = gym.registry.get(env_id)
    if spec is None or not env_kwargs:
        return None
    defaults = _defaults_of(spec.entry_point)
    wanted = {**defaults, **spec.kwargs, **env_kwargs}
    for other in gym.registry.values():
        if (
            other.id != env_id
            and other.entry_point == spec.entry_point
            and other.max_episode_steps == spec.max_episode_steps
            and {**defaults, **other.kwargs} == wanted
        ):
            return other.id
    return None


_UNEXPECTED_KEYWORD = re.compile(r"unexpected keyword argument '(\w+)'")


def unknown_keyword(env_id: str, env_kwargs: dict[str, Any], exc: TypeError) -> str | None:
    """One line for a keyword argument of ``env_kwargs`` that the environment does not take
    (``Ant-v5`` with ``use_contact_forces``, which only ``Ant-v4`` took), naming those its entry
    point takes; ``None`` where ``exc`` is not about one of ``env_kwargs``."""
    found = _UNEXPECTED_KEYWORD.search(str(exc))
    if found is None or found.group(1) not in env_kwargs:
        return None
    name = found.group(1)
    spec = gym.registry.get(env_id.rpartition(":")[2])  # "module:Env-v0" registers Env-v0
    takes = sorted(_defaults_of(spec.entry_point)) if spec is not None else []
    if name in takes:  # taken, and refused further in: the traceback says where
        return None
    close = difflib.get_close_matches(name, takes, n=1, cutoff=0.72)
    hint = f"; did you mean {close[0]}?" if close else ""
    listed = f" (it takes {', '.join(takes)})" if takes else ""
    return f"{env_id} takes no keyword argument {name!r}{hint}{listed}"


def _defaults_of(entry_point: Any) -> dict[str, Any]:
    """The keyword arguments an environment's entry point (``"module:Class"`` or a callable)
    takes by default."""
    creator = (
        gym.envs.registration.load_env_creator(entry_point)
        if isinstance(entry_point, str)
        else entry_point
    )
    try:
        parameters = inspect.signature(creator).parameters.values()
    except (TypeError, ValueError):  # no entry point, or one without a signature
        return {}
    return {p.name: p.default for p in parameters if p.default is not p.empty}


def has_wrapper(env: gym.Env, wrapper: type[gym.Wrapper]) -> bool:
    while isinstance(env, gym.Wrapper):
        if isinstance(env, wrapper):
            return True
        env = env.env
    return False


def has_time_limit(env: gym.Env) -> bool:
    """Whether something ends the episodes of ``env`` however it is played: a ``TimeLimit``
    (the id's registered limit, or ``max_episode_steps``) or the ALE's frame limit. An
    environment without one may still end its episodes itself."""
    if has_wrapper(env, gym.wrappers.TimeLimit):
        return True
    spec = env.unwrapped.spec
    return spec is not None and bool(spec.kwargs.get("max_num_frames_per_episode"))


class Probe(NamedTuple):
    """What :func:`probe_spaces` reads from one environment."""

    #: as the environment gives it: before flattening, and without an action mask joined to it
    observation_space: gym.Space
    action_space: gym.Space
    #: where it gives an action mask (:func:`a3c.masks.find_action_mask`), or ``"none"``
    action_mask: str
    #: an Atari game: an Atari id, or one that a callable or another id makes with wrappers of
    #: its own (Stable-Baselines3's ``AtariWrapper``), whose frames a3c leaves as they come
    atari_game: bool


def probe_spaces(factory: EnvFactory) -> Probe:
    """The observation space and the action space of the factory's environment, checked; where
    it gives an action mask (the factory's ``action_mask``: ``"auto"`` looks, a place named is
    checked; Atari games give none, and are not made to look); and whether it is an Atari game.
    One environment is made, without a3c's mask wrapper."""
    if factory.atari_vector:  # required: say why it cannot be before any worker starts
        from a3c.ale_vector import use_ale_vector

        use_ale_vector(factory)
    wanted = factory.action_mask
    factory = dataclasses.replace(factory, action_mask="none")
    # A user's own environment is also reset and stepped once: one written for gym's old API,
    # or whose observations or rewards do not fit, is said so here, in one line, not in every
    # worker.
    env = factory.checked() if factory.users_own else factory()
    try:
        observation_space = observation_space_of(env)
        check_spaces(observation_space, env.action_space)
        if factory.users_own:
            env.reset(seed=0)
            reward_number(env.step(first_action(env.action_space))[1])
        dropped = left_out(env)
        if dropped:
            parts = ", ".join(f"{key!r} ({type(part).__name__})" for key, part in dropped.items())
            warnings.warn(
                f"{factory.env_id}: left out of the observations, being words: {parts} "
                "(words='hashed', the default, reads them as numbers)",
                UserWarning,
                stacklevel=2,
            )
        if wanted == "auto" and factory.is_atari:
            mask = "none"
        else:
            mask = find_action_mask(env, observation_space, wanted, factory.env_id)
        atari_game = factory.is_atari or type(env.unwrapped).__module__.startswith("ale_py")
        return Probe(observation_space, env.action_space, mask, atari_game)
    finally:
        env.close()


def check_fits(factory: EnvFactory, observation_space: gym.Space, action_space: gym.Space) -> None:
    """Raise ``ValueError`` where the factory's environment observes or acts otherwise than the
    one a policy learned on (:func:`a3c.spaces.check_layouts`; its observations with an action
    mask joined as the agent reads them). One environment is made."""
    own, actions, mask, _ = probe_spaces(factory)
    check_layouts(
        factory.env_id,
        (observation_space, action_space),
        (observed_space(own, actions, mask), actions),
    )


def first_action(action_space: gym.Space) -> Any:
    """An action as the workers hand them to an environment (Python ints for ``Discrete``,
    float32 arrays clipped to the bounds for ``Box``, in the space's shape): the policy's
    most likely one before it has learned anything, its logits and means zero."""
    from a3c.distributions import make_distribution, neutral_params

    dist = make_distribution(action_space)
    return dist.to_env(dist.mode(neutral_params(dist)))[0]


def check_spaces(observation_space: gym.Space, action_space: gym.Space) -> None:
    """Raise ``ValueError`` naming the space if a3c cannot learn on it."""
    check_observation_space(observation_space)
    check_action_space(action_space)


def space_to_dict(space: gym.Space) -> dict[str, Any]:
    """A plain-data description of a space a3c takes (stored in checkpoints)."""
    if isinstance(space, gym.spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start)}
    if isinstance(space, gym.spaces.MultiDiscrete):
        return {"type": "MultiDiscrete", "nvec": space.nvec.tolist(), "start": space.start.tolist()}
    if isinstance(space, gym.spaces.MultiBinary):
        n = np.asarray(space.n)  # an int, or a shape
        return {"type": "MultiBinary", "n": n.tolist()}
    if isinstance(space, gym.spaces.Dict):
        return {"type": "Dict", "spaces": [[k, space_to_dict(v)] for k, v in space.spaces.items()]}
    if isinstance(space, gym.spaces.Tuple):
        return {"type": "Tuple", "spaces": [space_to_dict(v) for v in space.spaces]}
    if isinstance(space, HashedWords):  # a Box that reads words: before Box
        return {"type": "HashedWords", "size": int(space.shape[0])}
    if isinstance(space, gym.spaces.Box):
        return {
            "type": "Box",
            "low": space.low.astype(np.float64).reshape(-1).tolist(),
            "high": space.high.astype(np.float64).reshape(-1).tolist(),
            "shape": list(space.shape),
            "dtype": str(space.dtype),
        }
    raise ValueError(f"cannot describe space {space}")


def space_from_dict(data: dict[str, Any]) -> gym.Space:
    if data["type"] == "Discrete":
        return gym.spaces.Discrete(int(data["n"]), start=int(data.get("start", 0)))
    if data["type"] == "MultiDiscrete":
        return gym.spaces.MultiDiscrete(data["nvec"], start=data["start"])
    if data["type"] == "MultiBinary":
        return gym.spaces.MultiBinary(data["n"])
    if data["type"] == "Dict":  # a list of pairs: the order is the flattening's
        return gym.spaces.Dict(OrderedDict((k, space_from_dict(v)) for k, v in data["spaces"]))
    if data["type"] == "Tuple":
        return gym.spaces.Tuple([space_from_dict(v) for v in data["spaces"]])
    if data["type"] == "HashedWords":
        return HashedWords(int(data["size"]))
    if data["type"] == "Box":
        shape = tuple(data["shape"])
        dtype = np.dtype(data["dtype"])
        low = np.asarray(data["low"], dtype=dtype).reshape(shape)
        high = np.asarray(data["high"], dtype=dtype).reshape(shape)
        return gym.spaces.Box(low, high, shape=shape, dtype=dtype)
    raise ValueError(f"unknown space type {data.get('type')!r}")


@dataclass
class GroupStep:
    """What one step of an :class:`EnvGroup` returns."""

    obs: np.ndarray  # next observations, already reset where an episode ended
    rewards: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    final_obs: dict[int, np.ndarray]  # env index -> last observation of an episode that ended
    finished: list[tuple[float, int]]  # (return, length) of each episode that ended


class EnvGroup:
    """``n`` environments stepped in lock-step, each reset as soon as its episode ends.

    Unlike Gymnasium 1.x vector envs (which reset on the *next* step), the observation returned
    for an env whose episode ended is already the first of the next episode, and the old episode's
    last observation is in ``final_obs`` for bootstrapping on truncation.

    Observations keep the space's dtype when it is ``uint8`` (Atari frames: a quarter of the
    memory of float32), and are float32 otherwise. Where the env records its own episode
    statistics (Atari: whole games, unclipped scores), those are the episodes reported.
    """

    def __init__(self, factory: EnvFactory, n: int, seed: int) -> None:
        self.envs = [factory() for _ in range(n)]
        self.seeds = [seed + i for i in range(n)]
        self.episode_returns = np.zeros(n, dtype=np.float64)
        self.episode_lengths = np.zeros(n, dtype=np.int64)
        self.observation_space = self.envs[0].observation_space
        self.action_space = self.envs[0].action_space
        self.obs_dtype = observation_dtype(self.observation_space)
        self.recorded = has_wrapper(self.envs[0], gym.wrappers.RecordEpisodeStatistics)

    def reset(self) -> np.ndarray:
        first = [env.reset(seed=s)[0] for env, s in zip(self.envs, self.seeds, strict=True)]
        self.episode_returns[:] = 0
        self.episode_lengths[:] = 0
        return np.stack(first).astype(self.obs_dtype, copy=False)

    def step(self, actions: Sequence[Any], out: np.ndarray | None = None) -> GroupStep:
        """Step every env; the next observations are written into ``out`` when given."""
        n = len(self.envs)
        if out is None:
            out = np.empty((n, *tuple(self.observation_space.shape or ())), self.obs_dtype)
        rewards = np.empty(n, dtype=np.float32)
        terminated = np.zeros(n, dtype=bool)
        truncated = np.zeros(n, dtype=bool)
        final_obs: dict[int, np.ndarray] = {}
        finished: list[tuple[float, int]] = []
        for i, env in enumerate(self.envs):
            o, r, term, trunc, info = env.step(actions[i])
            try:
                rewards[i] = r
            except (TypeError, ValueError):
                r = reward_number(r)
                rewards[i] = r
            self.episode_returns[i] += float(r)
            self.episode_lengths[i] += 1
            if term or trunc:
                terminated[i], truncated[i] = term, trunc and not term
                final_obs[i] = np.array(o, dtype=self.obs_dtype)
                if not self.recorded:
                    finished.append((float(self.episode_returns[i]), int(self.episode_lengths[i])))
                elif "episode" in info:  # a game over, not just a lost life
                    record = info["episode"]  # (its return summed as the rewards came)
                    finished.append((reward_number(record["r"]), int(record["l"])))
                self.episode_returns[i] = 0
                self.episode_lengths[i] = 0
                o, _ = env.reset()
            out[i] = o
        return GroupStep(out, rewards, terminated, truncated, final_obs, finished)

    def close(self) -> None:
        for env in self.envs:
            env.close()


class GymnasiumApi(gym.Wrapper):
    """a3c's own, innermost around a user's environment (a callable's, probed once when an agent
    is made; one given to :func:`~a3c.evaluate_policy`): its ``reset`` and ``step`` checked
    against Gymnasium's API and its observations against their space's layout, so that one
    written for gym's old API, or whose observations do not fit, fails in a line that says so,
    not in the unpacking of a wrapper above it."""

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        try:
            result = self.env.reset(**kwargs)
        except TypeError as exc:
            try:  # refused by the call itself, not raised inside reset
                inspect.signature(self.env.reset).bind(**kwargs)
            except TypeError:
                raise ValueError(old_api(self.env, "reset()", exc)) from exc
            raise
        if not (isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], dict)):
            raise ValueError(old_api(self.env, "reset()", result))
        self._check_observation("reset()", result[0])
        return result

    def step(self, action: Any) -> tuple[Any, Any, Any, Any, dict[str, Any]]:
        result = self.env.step(action)
        if not (isinstance(result, tuple) and len(result) == 5):
            raise ValueError(old_api(self.env, "step()", result))
        self._check_observation("step()", result[0])
        return result

    def _check_observation(self, call: str, observation: Any) -> None:
        wrong = misfit(self.observation_space, observation)
        if wrong is not None:
            raise ValueError(
                f"{type(self.env.unwrapped).__name__}.{call} returned an observation {wrong}; its "
                f"observation_space is {self.observation_space}"
            )


def misfit(space: gym.Space, observation: Any, where: str = "") -> str | None:
    """How an observation's layout differs from its space's (its number of values, a missing
    key), or ``None``: a check cheap enough for every step, not ``space.contains`` (bounds,
    dtypes); a shape of as many values (a number for a ``Box`` of shape ``(1,)``) passes, as it
    is stored alike."""
    if isinstance(space, gym.spaces.Box) and np.size(observation) != math.prod(space.shape):
        return f"{where}of shape {np.shape(observation)}"
    if isinstance(space, gym.spaces.Dict):
        if not isinstance(observation, Mapping):
            return f"{where}of type {type(observation).__name__}, not a dict"
        missing = [key for key in space.spaces if key not in observation]
        if missing:
            return f"{where}without {', '.join(map(repr, missing))}"
        for key, part in space.spaces.items():
            wrong = misfit(part, observation[key], f"{where}[{key!r}] ")
            if wrong is not None:
                return wrong
    if isinstance(space, gym.spaces.Tuple):
        if not isinstance(observation, tuple | list) or len(observation) != len(space.spaces):
            return f"{where}that is not a tuple of {len(space.spaces)}"
        for i, part in enumerate(space.spaces):
            wrong = misfit(part, observation[i], f"{where}[{i}] ")
            if wrong is not None:
                return wrong
    return None


def old_api(env: gym.Env, call: str, result: Any) -> str:
    """What to say of an environment written for gym's API before 0.26 (``step`` returning
    ``(obs, reward, done, info)``, ``reset`` the observation alone and no seed), whose errors
    would otherwise be a failed unpacking or a shape mismatch far from the cause."""
    if isinstance(result, TypeError):
        came = "takes no seed"
    else:
        came = "returned " + (
            f"{len(result)} values" if isinstance(result, tuple) else type(result).__name__
        )
    return (
        f"{type(env.unwrapped).__name__}.{call} {came}: it is written for gym's API before "
        "0.26. Gymnasium's reset(seed=None, options=None) returns (observation, info); its "
        "step() returns (observation, reward, terminated, truncated, info)"
    )


def reward_number(reward: Any) -> float:
    """A reward as one number: an array of one element (``np.array([r])``, easily returned by a
    reward computed with array operations) is read as that element; anything else is refused
    in a line that says what came."""
    array = np.asarray(reward)
    if array.size == 1 and array.dtype.kind in "biuf":  # bool, integers, floats
        return float(array.reshape(()))
    # (from None: called where assigning it failed, whose traceback would only repeat this)
    raise ValueError(
        f"step() returned a reward of {type(reward).__name__} "
        f"{array.shape if array.ndim else repr(reward)}: a reward must be one number"
    ) from None


def observation_dtype(space: gym.Space) -> np.dtype:
    """uint8 stays uint8 (pixels); everything else is learned from as float32."""
    return np.dtype(np.uint8) if space.dtype == np.uint8 else np.dtype(np.float32)
