"""Actor-critic networks: a shared trunk (seed 003) or separate actor and critic (seed 000).

The observation normaliser lives inside the model as buffers, so it is shared with the global model,
pulled by workers with the weights, and saved and loaded with them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from a3c.distributions import ActionDistribution, Categorical, DiagGaussian, DistParams

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "relu6": nn.ReLU6,
    "elu": nn.ELU,
    "silu": nn.SiLU,
}
INITS = ("orthogonal", "normal", "torch")


class RunningMeanStd(nn.Module):
    """Running mean and variance of observations (Chan et al.'s parallel update).

    ``count`` starts at zero: until the first update the normaliser is the identity.
    """

    mean: Tensor
    var: Tensor
    count: Tensor

    def __init__(self, shape: tuple[int, ...], clip: float = 10.0, eps: float = 1e-8) -> None:
        super().__init__()
        self.clip = clip
        self.eps = eps
        self.register_buffer("mean", torch.zeros(shape, dtype=torch.float64))
        self.register_buffer("var", torch.ones(shape, dtype=torch.float64))
        self.register_buffer("count", torch.zeros((), dtype=torch.float64))

    def forward(self, x: Tensor) -> Tensor:
        mean = self.mean.to(x.dtype)
        std = (self.var + self.eps).sqrt().to(x.dtype)
        return ((x - mean) / std).clamp(-self.clip, self.clip)

    @torch.no_grad()
    def update(self, batch: Tensor) -> None:
        """Merge a batch of observations (first dimension = samples) into the statistics."""
        batch = batch.to(torch.float64).reshape(-1, *tuple(self.mean.shape))
        n = batch.shape[0]
        if n == 0:
            return
        batch_mean = batch.mean(dim=0)
        batch_var = batch.var(dim=0, unbiased=False)
        total = self.count + n
        delta = batch_mean - self.mean
        m2 = self.var * self.count + batch_var * n + delta.pow(2) * self.count * n / total
        self.mean.add_(delta * n / total)
        self.var.copy_(m2 / total)
        self.count.copy_(total)


def mlp(in_dim: int, sizes: Sequence[int], activation: str) -> tuple[nn.Sequential, int]:
    """A stack of Linear + activation; returns the module and its output width."""
    layers: list[nn.Module] = []
    for size in sizes:
        layers += [nn.Linear(in_dim, size), ACTIVATIONS[activation]()]
        in_dim = size
    return nn.Sequential(*layers), in_dim


class ActorCritic(nn.Module):
    """``obs -> (distribution parameters, V(obs))``.

    Discrete actions get logits. Box actions get a mean, ``tanh``-squashed and scaled to the bounds
    (seed 000: ``mu = tanh * bound``) or linear, and a standard deviation from ``softplus`` of a
    head (seed 000) or from a learned state-independent log-std, floored at ``min_std``.
    """

    action_center: Tensor
    action_half_range: Tensor

    def __init__(
        self,
        obs_shape: tuple[int, ...],
        distribution: ActionDistribution,
        hidden_sizes: Sequence[int] = (64, 64),
        activation: str = "tanh",
        shared_trunk: bool = True,
        value_hidden_sizes: Sequence[int] | None = None,
        gaussian_mean: str = "tanh",
        std_mode: str = "state_independent",
        min_std: float = 1e-3,
        init_log_std: float = 0.0,
        init: str = "orthogonal",
        normalize_obs: bool = False,
    ) -> None:
        super().__init__()
        obs_dim = int(np.prod(obs_shape))
        self.distribution = distribution
        self.shared_trunk = shared_trunk
        self.gaussian_mean = gaussian_mean
        self.std_mode = std_mode
        self.min_std = min_std
        self.obs_rms = RunningMeanStd(tuple(obs_shape)) if normalize_obs else None

        self.actor_body, actor_out = mlp(obs_dim, hidden_sizes, activation)
        if shared_trunk:
            self.critic_body = None
            critic_out = actor_out
        else:
            sizes = hidden_sizes if value_hidden_sizes is None else value_hidden_sizes
            self.critic_body, critic_out = mlp(obs_dim, sizes, activation)
        self.value_head = nn.Linear(critic_out, 1)

        self.log_std: nn.Parameter | None = None
        self.std_head: nn.Linear | None = None
        if isinstance(distribution, Categorical):
            self.policy_head = nn.Linear(actor_out, distribution.n)
        elif isinstance(distribution, DiagGaussian):
            action_dim = int(np.prod(distribution.action_shape))
            self.policy_head = nn.Linear(actor_out, action_dim)
            low = torch.as_tensor(distribution.low).reshape(-1)
            high = torch.as_tensor(distribution.high).reshape(-1)
            self.register_buffer("action_center", (high + low) / 2)
            self.register_buffer("action_half_range", (high - low) / 2)
            if std_mode == "softplus":
                self.std_head = nn.Linear(actor_out, action_dim)
            elif std_mode == "state_independent":
                self.log_std = nn.Parameter(torch.full((action_dim,), float(init_log_std)))
            else:
                raise ValueError(f"unknown std_mode {std_mode!r}")
        else:
            raise TypeError(f"unsupported distribution {distribution!r}")
        self._initialise(init, activation)
        self._state_tensors: list[Tensor] | None = None

    def _initialise(self, init: str, activation: str) -> None:
        if init == "torch":
            return
        gain = 5.0 / 3 if activation == "tanh" else math.sqrt(2.0)  # calculate_gain's values
        heads = {self.policy_head: 0.01, self.value_head: 1.0}
        if self.std_head is not None:
            heads[self.std_head] = 0.01
        for module in self.modules():
            if not isinstance(module, nn.Linear):
                continue
            if init == "orthogonal":
                # Small policy head: near-uniform initial policy (Andrychowicz et al., 2021).
                nn.init.orthogonal_(module.weight, heads.get(module, gain))
                nn.init.zeros_(module.bias)
            elif init == "normal":  # seed 000: tf.random_normal_initializer(0., .1)
                nn.init.normal_(module.weight, 0.0, 0.1)
                nn.init.zeros_(module.bias)
            else:
                raise ValueError(f"unknown init {init!r}: expected one of {INITS}")

    def state_tensors(self) -> list[Tensor]:
        """Parameters then buffers, in a fixed order (listed once: the structure never changes
        after construction, and walking the module tree on every pull is measurable)."""
        if self._state_tensors is None:
            self._state_tensors = [*self.parameters(), *self.buffers()]
        return self._state_tensors

    def value_parameters(self) -> list[nn.Parameter]:
        """Parameters that only the critic uses (they may get their own learning rate)."""
        params = list(self.value_head.parameters())
        if self.critic_body is not None:
            params = list(self.critic_body.parameters()) + params
        return params

    def _features(self, obs: Tensor) -> Tensor:
        obs = obs.reshape(obs.shape[0], -1)
        if self.obs_rms is not None:
            obs = self.obs_rms(obs.reshape(obs.shape[0], *tuple(self.obs_rms.mean.shape))).reshape(
                obs.shape[0], -1
            )
        return obs

    def forward(self, obs: Tensor) -> tuple[DistParams, Tensor]:
        x = self._features(obs)
        actor = self.actor_body(x)
        critic = actor if self.critic_body is None else self.critic_body(x)
        value = self.value_head(critic).squeeze(-1)
        return self._dist_params(actor), value

    def value(self, obs: Tensor) -> Tensor:
        x = self._features(obs)
        critic = self.actor_body(x) if self.critic_body is None else self.critic_body(x)
        return self.value_head(critic).squeeze(-1)

    def _dist_params(self, actor: Tensor) -> DistParams:
        out = self.policy_head(actor)
        if isinstance(self.distribution, Categorical):
            return (out,)
        if self.gaussian_mean == "tanh":
            mean = self.action_center + self.action_half_range * torch.tanh(out)
        else:
            mean = out
        if self.std_head is not None:
            std = F.softplus(self.std_head(actor)) + self.min_std
        else:
            assert self.log_std is not None
            std = self.log_std.exp().clamp_min(self.min_std).expand_as(mean)
        return (mean, std)
