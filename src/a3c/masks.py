"""Action masks: which discrete actions an environment allows in the state it returns.

Environments say it in one of three places, each one that the field uses:

- ``"observation"``: the ``"action_mask"`` part of a ``Dict`` observation (PettingZoo's
  environments, many users' own);
- ``"info"``: ``info["action_mask"]`` from ``reset`` and ``step`` (Gymnasium's Taxi);
- ``"method"``: an ``action_masks()`` method (sb3-contrib's ``MaskablePPO`` and its
  ``ActionMasker`` wrapper).

With ``action_mask="auto"`` (the default) an agent looks in these places, in that order, when it
is made (:func:`find_action_mask`), and its config records where it found one (``"none"``:
nowhere, or not looked for). The mask travels with the observation: for ``"info"`` and
``"method"``, :class:`MaskInObservation` makes it a ``Dict`` observation's ``"action_mask"``
part, so rollouts, backends and evaluation carry it as they carry observations. The network
reads that part as a mask, not as an input (:func:`mask_logits`): an action not allowed gets the
lowest float as its logit (or Q-value), so it is never sampled, never greedy, and adds nothing
to the entropy. The mask is one 0/1 value per action, for ``MultiDiscrete`` the components'
side by side (``sum(nvec)`` values), as sb3-contrib has it, and for a hybrid ``Tuple`` or
``Dict`` its ``Discrete`` and ``MultiDiscrete`` parts' side by side (:func:`mask_size`).
"""

from __future__ import annotations

import warnings
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from a3c.spaces import leaves

#: the ``Dict`` key (and ``info`` key) of an action mask
MASK_KEY = "action_mask"
#: where an action mask is read from; ``"auto"`` is resolved to one of the others
ACTION_MASK_SOURCES = ("auto", "observation", "info", "method", "none")
#: the sources whose mask :class:`MaskInObservation` moves into the observation
MOVED_INTO_OBSERVATION = ("info", "method")


def mask_size(action_space: gym.Space) -> int | None:
    """How many values a mask of ``action_space`` has, or ``None`` where actions cannot be
    masked (``Box``, ``MultiBinary``, a ``Tuple`` or ``Dict`` with no part that can be).

    A ``Discrete``'s mask has a value per action, a ``MultiDiscrete``'s its components' side by
    side; a hybrid ``Tuple`` or ``Dict``'s mask is its ``Discrete`` and ``MultiDiscrete`` parts'
    side by side, in the order of :func:`a3c.spaces.leaves` (its ``MultiBinary`` and ``Box``
    parts are not masked)."""
    if isinstance(action_space, gym.spaces.Discrete):
        return int(action_space.n)
    if isinstance(action_space, gym.spaces.MultiDiscrete):
        return int(action_space.nvec.sum())
    if isinstance(action_space, gym.spaces.Dict | gym.spaces.Tuple):
        sizes = [size for size in map(mask_size, leaves(action_space)) if size is not None]
        return sum(sizes) if sizes else None
    return None


def find_action_mask(
    env: gym.Env, observation_space: gym.Space, wanted: str = "auto", name: str = ""
) -> str:
    """Where ``env`` gives an action mask (:data:`ACTION_MASK_SOURCES`): with ``wanted="auto"``,
    the first of the observation's ``"action_mask"`` part, ``reset``'s info and an
    ``action_masks()`` method, else ``"none"``; with a place named, that place, checked.
    ``observation_space`` is the environment's own (structured) one; ``name`` names the
    environment in errors. Resets ``env`` where its observation holds no mask.

    Raises ``ValueError`` where the place named has no mask, or the actions cannot have one."""
    if wanted == "none":
        return "none"
    if mask_size(env.action_space) is None:
        check_action_mask(wanted, env.action_space)
        return "none"
    if wanted in ("auto", "observation") and (
        isinstance(observation_space, gym.spaces.Dict) and MASK_KEY in observation_space.spaces
    ):
        return "observation"
    if wanted in ("auto", "info"):
        _, info = env.reset(seed=0)
        if isinstance(info, dict) and MASK_KEY in info:
            return "info"
    if wanted in ("auto", "method"):
        try:
            method = env.get_wrapper_attr("action_masks")
        except AttributeError:
            method = None
        if callable(method):
            return "method"
    if wanted == "auto":
        return "none"
    missing = {
        "observation": f"no {MASK_KEY!r} part in its observations ({observation_space})",
        "info": f"no info[{MASK_KEY!r}] from reset()",
        "method": "no action_masks() method",
    }[wanted]
    raise ValueError(f"action_mask={wanted!r}: {name or 'the environment'} gives {missing}")


def check_action_mask(source: str, action_space: gym.Space) -> None:
    """Raise ``ValueError`` where a mask is asked of actions that cannot have one."""
    if source != "none" and source != "auto" and mask_size(action_space) is None:
        raise ValueError(
            f"action_mask={source!r}: actions can be masked where they are Discrete or "
            f"MultiDiscrete, or a Tuple or Dict with such parts, not {action_space}"
        )


def masked_space(observation_space: gym.Space, size: int) -> gym.spaces.Dict:
    """The observation space of :class:`MaskInObservation`: the environment's own observation
    beside its mask, ``Dict(observation=..., action_mask=Box(0, 1, (size,), uint8))`` (uint8, so
    that frames and their mask flatten to uint8 still)."""
    mask = gym.spaces.Box(0, 1, (size,), np.uint8)
    return gym.spaces.Dict(OrderedDict([("observation", observation_space), (MASK_KEY, mask)]))


def observed_space(observation_space: gym.Space, action_space: gym.Space, source: str) -> gym.Space:
    """The observations an agent reads of an environment whose own are ``observation_space``:
    those, with the mask joined where :class:`MaskInObservation` moves it in (``source``)."""
    size = mask_size(action_space)
    if source not in MOVED_INTO_OBSERVATION or size is None:
        return observation_space
    return masked_space(observation_space, size)


class MaskInObservation(gym.Wrapper):
    """a3c's own: the action mask that an environment gives in ``info`` (``source="info"``) or
    by its ``action_masks()`` method (``"method"``) as part of the observation (see
    :func:`masked_space`).

    A mask missing from ``reset``'s info is an error; one missing from a step's info allows
    every action (some environments give none with a final observation), with a warning, once,
    where the episode goes on."""

    def __init__(self, env: gym.Env, source: str) -> None:
        super().__init__(env)
        if source not in MOVED_INTO_OBSERVATION:
            raise ValueError(f"MaskInObservation reads info or a method, not {source!r}")
        size = mask_size(env.action_space)
        if size is None:
            check_action_mask(source, env.action_space)
        assert size is not None
        self.source = source
        self.size = size
        self.unmasked_space = env.observation_space
        self.observation_space = masked_space(env.observation_space, size)
        self.warned = False

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        observation, info = self.env.reset(**kwargs)
        return self._with_mask(observation, info, "reset()", False), info

    def step(self, action: Any) -> tuple[Any, Any, bool, bool, dict[str, Any]]:
        observation, reward, terminated, truncated, info = self.env.step(action)
        observation = self._with_mask(observation, info, "step()", terminated or truncated)
        return observation, reward, terminated, truncated, info

    def _with_mask(
        self, observation: Any, info: dict[str, Any], call: str, ended: bool
    ) -> dict[str, Any]:
        name = self.env.unwrapped.__class__.__name__
        if self.source == "method":
            mask = self.env.get_wrapper_attr("action_masks")()
        elif MASK_KEY in info:
            mask = info[MASK_KEY]
        elif call == "reset()":
            raise ValueError(
                f"action_mask='info': {name}.reset() gave no info[{MASK_KEY!r}] (info has "
                f"{sorted(info)})"
            )
        else:
            mask = None
            if not ended and not self.warned:  # a state that is acted in, with no mask
                self.warned = True
                warnings.warn(
                    f"{name}.step() gave no info[{MASK_KEY!r}] before its episode ended: every "
                    "action is allowed where it gives none",
                    RuntimeWarning,
                    stacklevel=2,
                )
        return {"observation": observation, MASK_KEY: self.mask_values(mask)}

    def mask_values(self, mask: Any) -> np.ndarray:
        """``mask`` as the observation's part holds it (``None``: every action allowed)."""
        if mask is None:
            return np.ones(self.size, dtype=np.uint8)
        values = np.asarray(mask).reshape(-1)
        if values.size != self.size:
            raise ValueError(
                f"an action mask of {values.size} values for {self.env.action_space}, which "
                f"takes {self.size} (one per action; MultiDiscrete: the components' side by "
                "side; a Tuple or Dict: its Discrete and MultiDiscrete parts' side by side)"
            )
        return (values != 0).astype(np.uint8)


def mask_logits(logits: Tensor, mask: Tensor, sizes: Sequence[int]) -> Tensor:
    """``logits`` (``[batch, sum(sizes)]``, the components' side by side) with those of the
    actions that ``mask`` (0 or 1 each, as floats) disallows set to the dtype's lowest value:
    probability 0 under a softmax, never the argmax. A component where no action is allowed is
    left as it is, since a softmax over nothing has no value (a terminal state's mask may allow
    nothing)."""
    # Allowed: at least min(0.5, the component's largest value), so 1s where the component has
    # one, and every action where it has none.
    if len(sizes) == 1:
        allowed = mask >= mask.amax(-1, keepdim=True).clamp(max=0.5)
    else:
        parts = mask.split(list(sizes), -1)
        allowed = torch.cat([p >= p.amax(-1, keepdim=True).clamp(max=0.5) for p in parts], -1)
    return torch.where(allowed, logits, torch.finfo(logits.dtype).min)


def allowed_actions(params: Tensor) -> Tensor:
    """Which entries of masked logits or Q-values (:func:`mask_logits`) are allowed."""
    return params > torch.finfo(params.dtype).min
