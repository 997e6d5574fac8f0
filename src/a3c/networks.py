"""Actor-critic networks: a shared trunk (seed 003) or separate actor and critic (seed 000), with
an MLP or a CNN body, and optionally an LSTM after it (the paper's A3C-LSTM).

The observation normaliser lives inside the model as buffers, so it is shared with the global model,
pulled by workers with the weights, and saved and loaded with them.

Every model has a recurrent interface: :meth:`ActorCritic.step` takes and returns a state (the
empty tuple for feed-forward models, ``(h, c)`` for an LSTM), so the worker loop is one loop for
both; :meth:`ActorCritic.sequence` replays a rollout for the loss (truncated backpropagation
through time over the rollout).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal, NamedTuple

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from a3c.distributions import (
    ActionDistribution,
    Beta,
    Categorical,
    DiagGaussian,
    DistParams,
    EpsilonGreedy,
    LogitsDistribution,
    MultiCategorical,
    Product,
)
from a3c.masks import MASK_KEY, mask_logits
from a3c.spaces import WORD_CONDITIONINGS, Part, flat_parts

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "relu6": nn.ReLU6,
    "elu": nn.ELU,
    "silu": nn.SiLU,
}
INITS = ("orthogonal", "normal", "torch")
PRECISIONS = ("float32", "bfloat16")

RecurrentState = tuple[Tensor, ...]  # () for feed-forward models, (h, c) for an LSTM

#: How a CNN reads an image observation: (C, H, W) as PyTorch's convolutions and Atari frame
#: stacks; (H, W, C) as most Gymnasium image environments; (H, W), one channel, as a single
#: Atari frame.
ImageLayout = Literal["channels_first", "channels_last", "single_channel"]


def image_layout(shape: Sequence[int], dtype: Any = None) -> ImageLayout | None:
    """The layout of image observations of ``shape``; ``None``: not an image (not 2-D or 3-D,
    or, where ``dtype`` is given, not ``uint8``: what ``network='auto'`` gives an MLP).

    A 3-D observation is channel-last when its last dimension is smaller than both others
    ((84, 84, 3), (210, 160, 3)), channel-first otherwise ((4, 84, 84), (3, 64, 64)).
    """
    shape = tuple(shape)
    if dtype is not None and np.dtype(dtype) != np.uint8:
        return None
    if len(shape) == 2:
        return "single_channel"
    if len(shape) == 3:
        return "channels_last" if shape[2] < min(shape[0], shape[1]) else "channels_first"
    return None


def channels_first(shape: Sequence[int], layout: ImageLayout) -> tuple[int, ...]:
    """The (C, H, W) shape a CNN sees of observations of ``shape`` in ``layout``."""
    if layout == "channels_last":
        return (shape[2], shape[0], shape[1])
    if layout == "single_channel":
        return (1, *shape)
    return tuple(shape)


def takes_frames(shape: Sequence[int], dtype: Any) -> bool:
    """Whether observations of ``shape`` and ``dtype`` are frames for the paper's CNN: uint8
    images in a layout it reads, at least :func:`smallest_frame` pixels high and wide (smaller
    uint8 grids, such as boards, are read by an MLP)."""
    layout = image_layout(shape, dtype)
    if layout is None:
        return False
    return min(channels_first(shape, layout)[1:]) >= smallest_frame("cnn")


class RunningMeanStd(nn.Module):
    """Running mean and variance of observations (Chan et al.'s parallel update).

    ``count`` starts at zero: until the first update the normaliser divides by ``scale`` (mean 0,
    std ``scale``; 1: the identity), and the first update replaces those initial statistics.
    ``scale`` is a number or one per element (the image parts of a structured observation).
    """

    mean: Tensor
    var: Tensor
    count: Tensor

    def __init__(
        self,
        shape: tuple[int, ...],
        clip: float = 10.0,
        eps: float = 1e-8,
        scale: float | Tensor = 1.0,
    ) -> None:
        super().__init__()
        self.clip = clip
        self.eps = eps
        self.register_buffer("mean", torch.zeros(shape, dtype=torch.float64))
        var = torch.as_tensor(scale, dtype=torch.float64).square().expand(shape).clone()
        self.register_buffer("var", var)
        self.register_buffer("count", torch.zeros((), dtype=torch.float64))

    def forward(self, x: Tensor) -> Tensor:
        mean = self.mean.to(x.dtype)
        std = (self.var + self.eps).sqrt().to(x.dtype)
        return ((x - mean) / std).clamp(-self.clip, self.clip)

    @torch.no_grad()
    def update(self, batch: Tensor) -> None:
        """Merge a batch of observations (first dimension = samples) into the statistics.

        Only the finite rows are merged: one ``inf`` or ``NaN`` would make the statistics, and
        every later forward pass, non-finite for good."""
        batch = batch.to(torch.float64).reshape(-1, *tuple(self.mean.shape))
        finite = torch.isfinite(batch)
        if finite.dim() > 1:
            finite = finite.flatten(1).all(dim=1)
        batch = batch[finite]
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


class CNNSpec(NamedTuple):
    """A CNN body: its convolutions ``(out channels, kernel, stride, padding)``, their
    activation, and the width of the fully connected layer after them (``None``: none, the
    flattened convolutions are the features)."""

    convs: tuple[tuple[int, int, int, int], ...]
    activation: type[nn.Module]
    width: int | None


CNNS: dict[str, CNNSpec] = {
    # the paper's (Mnih et al., 2016, after Mnih et al., 2013)
    "cnn": CNNSpec(((16, 8, 4, 0), (32, 4, 2, 0)), nn.ReLU, 256),
    # DQN's (Mnih et al., 2015)
    "nature_cnn": CNNSpec(((32, 8, 4, 0), (64, 4, 2, 0), (64, 3, 1, 0)), nn.ReLU, 512),
    # the A3C-LSTM of openai/universe-starter-agent and ikostrikov/pytorch-a3c: ELU features
    # straight into the LSTM, no dense layer (84x84 frames give 32 x 6 x 6 = 1,152 of them)
    "elu_cnn": CNNSpec(((32, 3, 2, 1),) * 4, nn.ELU, None),
}
BODIES = ("mlp", *CNNS)


def smallest_frame(kind: str) -> int:
    """The smallest height and width a CNN's convolutions take (``cnn``: 20, ``nature_cnn``: 36,
    ``elu_cnn``: 1)."""
    side = 1
    for _, kernel, stride, padding in reversed(CNNS[kind].convs):
        side = max(1, (side - 1) * stride + kernel - 2 * padding)
    return side


class CNN(nn.Sequential):
    """A convolutional body. With ``precision="bfloat16"`` its layers run under
    :func:`torch.autocast` (their backward too, as autograd follows the forward's dtypes) and it
    hands float32 features on: the weights and their gradients stay float32, so the optimizer,
    the shared model and checkpoints do not change, and a checkpoint loads at either precision.
    """

    def __init__(self, *layers: nn.Module, precision: str = "float32") -> None:
        super().__init__(*layers)
        if precision not in PRECISIONS:
            raise ValueError(f"unknown precision {precision!r}: expected one of {PRECISIONS}")
        self.precision = precision

    def forward(self, x: Tensor) -> Tensor:
        if self.precision == "float32":
            return super().forward(x)
        with torch.autocast(x.device.type, dtype=torch.bfloat16):
            return super().forward(x).float()


def cnn(
    kind: str, obs_shape: tuple[int, ...], precision: str = "float32"
) -> tuple[nn.Sequential, int]:
    """The CNN ``kind`` of :data:`CNNS` over channel-first frames, at ``precision``
    (:class:`CNN`): the paper's (``cnn``: 16 8x8/4, 32 4x4/2, 256 units), DQN's (``nature_cnn``:
    32 8x8/4, 64 4x4/2, 64 3x3/1, 512 units) or the ELU one of public A3C-LSTM code (``elu_cnn``:
    four 32 3x3/2). Returns it and its output width."""
    if len(obs_shape) != 3:
        raise ValueError(f"a CNN needs (channels, height, width) frames, not {obs_shape}")
    if kind not in CNNS:
        raise ValueError(f"unknown CNN {kind!r}")
    spec = CNNS[kind]
    if min(obs_shape[1:]) < smallest_frame(kind):
        side = smallest_frame(kind)
        raise ValueError(
            f"the {kind} network needs frames of at least {side}x{side} pixels, not "
            f"{obs_shape[1]}x{obs_shape[2]}: use --network mlp for small images"
        )
    layers: list[nn.Module] = []
    channels = obs_shape[0]
    for out_channels, kernel, stride, padding in spec.convs:
        layers += [nn.Conv2d(channels, out_channels, kernel, stride, padding), spec.activation()]
        channels = out_channels
    layers.append(nn.Flatten())
    with torch.no_grad():
        width = nn.Sequential(*layers)(torch.zeros(1, *obs_shape)).shape[1]
    if spec.width is not None:
        layers += [nn.Linear(width, spec.width), spec.activation()]
        width = spec.width
    return CNN(*layers, precision=precision), width


class FiLM(nn.Module):
    """Feature-wise linear modulation (Perez et al., 2018): units ``h`` scaled and shifted by a
    condition ``c``, ``(1 + gamma(c)) * h + beta(c)`` with ``gamma`` and ``beta`` linear in
    ``c``. Its weights start at zero, so it starts as the identity; they are parameters of its
    own, not a ``Linear``, which :func:`initialise_layers` would draw afresh."""

    def __init__(self, condition_dim: int, units: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(2 * units, condition_dim))
        self.bias = nn.Parameter(torch.zeros(2 * units))

    def forward(self, h: Tensor, condition: Tensor) -> Tensor:
        gamma, beta = F.linear(condition, self.weight, self.bias).chunk(2, dim=-1)
        return (1 + gamma) * h + beta


class StructuredEncoder(nn.Module):
    """The body for a structured observation (:mod:`a3c.spaces`), read from its flat vector:
    each image part through its own CNN; the CNNs' features and every other part (vectors,
    one-hots) side by side through one MLP (``hidden_sizes``), as Stable-Baselines3's
    ``MultiInputPolicy``: the MLP after the concatenation lets the policy combine the parts (an
    action that depends on an image *and* a cue), which heads on concatenated features alone
    cannot.

    With ``word_conditioning="film"``, words read as numbers (:class:`~a3c.spaces.HashedWords`)
    beside other parts are no input: they scale and shift the first hidden layer's units
    (:class:`FiLM`), so that an instruction selects what the other parts are read for."""

    vector_columns: Tensor
    word_columns: Tensor

    def __init__(
        self,
        parts: Sequence[Part],
        hidden_sizes: Sequence[int],
        activation: str,
        cnn_kind: str,
        scale_images: bool,
        cnn_precision: str = "float32",
        word_conditioning: str = "input",
    ) -> None:
        super().__init__()
        self.scale_images = scale_images
        self.images: list[tuple[int, int, tuple[int, ...], ImageLayout]] = []
        self.cnns = nn.ModuleList()
        width = 0
        for part in parts:
            if not part.image:
                continue
            layout = image_layout(part.shape)
            assert layout is not None
            net, out = cnn(cnn_kind, channels_first(part.shape, layout), cnn_precision)
            self.images.append((part.start, part.size, part.shape, layout))
            self.cnns.append(net)
            width += out
        if word_conditioning not in WORD_CONDITIONINGS:
            raise ValueError(
                f"unknown word_conditioning {word_conditioning!r}: expected one of "
                f"{WORD_CONDITIONINGS}"
            )
        # With FiLM, the words scale and shift the first hidden layer's units instead of being
        # inputs beside the rest: an instruction can then select what the rest is looked at for.
        # (Words alone, or no hidden layer: they stay inputs, there being nothing to condition.)
        film = word_conditioning == "film" and bool(hidden_sizes)
        film = film and any(p.words for p in parts)
        film = film and not all(p.words for p in parts if not p.mask)
        words = [i for p in parts if p.words and film for i in range(p.start, p.start + p.size)]
        columns = [
            i
            for p in parts
            if not p.image and not p.mask and not (p.words and film)
            for i in range(p.start, p.start + p.size)
        ]
        self.register_buffer("vector_columns", torch.tensor(columns, dtype=torch.long))
        # Not saved: built from the parts, as checkpoints from before FiLM do not have it.
        self.register_buffer("word_columns", torch.tensor(words, dtype=torch.long), False)
        self.first: nn.Linear | None = None
        self.film: FiLM | None = None
        if film:
            self.first = nn.Linear(width + len(columns), hidden_sizes[0])
            self.film = FiLM(len(words), hidden_sizes[0])
            rest, self.width = mlp(hidden_sizes[0], hidden_sizes[1:], activation)
            self.mlp = nn.Sequential(ACTIVATIONS[activation](), *rest)
        else:
            self.mlp, self.width = mlp(width + len(columns), hidden_sizes, activation)

    def forward(self, x: Tensor) -> Tensor:
        features = []
        for (start, size, shape, layout), net in zip(self.images, self.cnns, strict=True):
            image = x[:, start : start + size].reshape(x.shape[0], *shape)
            if self.scale_images:
                image = image / 255.0
            if layout == "channels_last":
                image = image.permute(0, 3, 1, 2)
            elif layout == "single_channel":
                image = image.unsqueeze(1)
            features.append(net(image.contiguous()))
        features.append(x.index_select(1, self.vector_columns))
        inputs = torch.cat(features, dim=-1)
        if self.first is None or self.film is None:
            return self.mlp(inputs)
        return self.mlp(self.film(self.first(inputs), x.index_select(1, self.word_columns)))


def initialise_layers(
    module: nn.Module, init: str, gain: float, head_gains: dict[nn.Module, float]
) -> None:
    """Every ``Linear`` and ``Conv2d`` of ``module``: ``"orthogonal"`` weights with ``gain`` (a
    head's own gain from ``head_gains``) or ``"normal"`` N(0, 0.1) weights (seed 000's
    ``tf.random_normal_initializer(0., .1)``); zero biases."""
    for layer in module.modules():
        if not isinstance(layer, nn.Linear | nn.Conv2d):
            continue
        if init == "orthogonal":
            nn.init.orthogonal_(layer.weight, head_gains.get(layer, gain))
        elif init == "normal":
            nn.init.normal_(layer.weight, 0.0, 0.1)
        else:
            raise ValueError(f"unknown init {init!r}: expected one of {INITS}")
        if layer.bias is not None:
            nn.init.zeros_(layer.bias)


def select_state(state: RecurrentState, index: Tensor | np.ndarray | list[int]) -> RecurrentState:
    """The rows ``index`` of every tensor of a recurrent state."""
    return tuple(s[index] for s in state)


class Network(nn.Module):
    """What every model shares: how observations enter (normalised, scaled, laid out for the
    body), the running statistics it keeps as buffers, and the recurrent interface's defaults."""

    lstm: nn.LSTMCell | None

    def __init__(
        self,
        obs_shape: tuple[int, ...],
        body: str,
        normalize_obs: bool,
        normalize_reward: bool,
        pixels: bool,
        structure: gym.Space | None = None,
        cnn_precision: str = "float32",
        word_conditioning: str = "input",
        action_mask: bool = False,
    ) -> None:
        super().__init__()
        self.cnn_precision = cnn_precision
        self.word_conditioning = word_conditioning
        if body not in BODIES:
            raise ValueError(f"unknown body {body!r}: expected one of {BODIES}")
        # A structured observation (Dict, Tuple, one-hots) arrives flat: an MLP-style input
        # whose parts a StructuredEncoder takes apart; its images get the CNN named by ``body``.
        mask_key = MASK_KEY if action_mask else None
        self.parts = flat_parts(structure, mask_key) if structure is not None else None
        # The action mask's columns of the flat observation (a3c.masks): read by the policy, not
        # an input.
        masks = [p for p in self.parts or () if p.mask]
        if action_mask and not masks:
            raise ValueError(
                f"action_mask: the observations have no {MASK_KEY!r} part ({structure})"
            )
        self.mask_slice = slice(masks[0].start, masks[0].start + masks[0].size) if masks else None
        self.mask_sizes: list[int] = []  # its components' (MultiDiscrete: one per component)
        # A hybrid's mask covers some of the logits' components (not its MultiBinary bits): the
        # columns of the logits it covers (an index, not a buffer: it is no weight to share or
        # save), and the sizes of all their components
        self.mask_columns: Tensor | None = None
        self.logit_sizes: list[int] = []
        self.image_body = body if body != "mlp" else "cnn"
        if self.parts is not None:
            obs_shape, body, pixels = (self.parts[-1].start + self.parts[-1].size,), "mlp", False
        self.obs_shape = tuple(obs_shape)
        self.body = body
        # uint8 observations, scaled to [0, 1] inside the network (or normalised: see _features)
        self.pixels = pixels
        # The normaliser works in the observation's own layout, the CNN on channels first.
        self.obs_rms = (
            RunningMeanStd(tuple(obs_shape), scale=self._pixel_scale(obs_shape, pixels))
            if normalize_obs
            else None
        )
        # The running statistics of the discounted return, for reward normalisation: buffers, so
        # they are shared, pulled and saved with the weights (the model's forward ignores them).
        self.return_rms = RunningMeanStd(()) if normalize_reward else None
        self.image_layout: ImageLayout | None = None
        if body != "mlp":
            self.image_layout = image_layout(obs_shape)
            if self.image_layout is None:
                raise ValueError(
                    "a CNN needs image observations: (channels, height, width), (height, width, "
                    f"channels) or (height, width), not {tuple(obs_shape)}"
                )
        self.lstm = None
        self._state_tensors: list[Tensor] | None = None

    def _pixel_scale(self, obs_shape: tuple[int, ...], pixels: bool) -> float | Tensor:
        """What the normaliser divides by before its first update: 255 for frames (the scaling
        it replaces, also for the images of a structured observation), 1 elsewhere."""
        if self.parts is None:
            return 255.0 if pixels else 1.0
        scale = torch.ones(obs_shape, dtype=torch.float64)
        for part in self.parts:
            if part.image:
                scale[part.start : part.start + part.size] = 255.0
        return scale

    def make_body(self, hidden_sizes: Sequence[int], activation: str) -> tuple[nn.Sequential, int]:
        """A fresh body for these observations (an MLP, or the CNN named by ``body``) and its
        output width."""
        if self.parts is not None:
            encoder = StructuredEncoder(
                self.parts,
                hidden_sizes,
                activation,
                self.image_body,
                scale_images=self.obs_rms is None,  # the normaliser replaces the scaling
                cnn_precision=self.cnn_precision,
                word_conditioning=self.word_conditioning,
            )
            return nn.Sequential(encoder), encoder.width
        if self.body == "mlp":
            return mlp(int(np.prod(self.obs_shape)), hidden_sizes, activation)
        assert self.image_layout is not None
        return cnn(self.body, channels_first(self.obs_shape, self.image_layout), self.cnn_precision)

    def scale_rewards(self, rewards: Tensor, clip: float = 10.0) -> Tensor:
        """Rewards divided by the running std of the discounted return, clipped (the identity
        without reward normalisation)."""
        if self.return_rms is None:
            return rewards
        std = (self.return_rms.var + self.return_rms.eps).sqrt().to(rewards.dtype)
        return (rewards / std).clamp(-clip, clip)

    def _check_mask(self, distribution: ActionDistribution) -> None:
        """Where the observations hold an action mask: check that it fits ``distribution``'s
        logits, and keep the sizes of its components."""
        if self.mask_slice is None:
            return
        if isinstance(distribution, Categorical | EpsilonGreedy):
            self.mask_sizes = [distribution.n]
            if isinstance(distribution, EpsilonGreedy):
                distribution.masked = True  # its exploration draws among the allowed
        elif isinstance(distribution, MultiCategorical):
            self.mask_sizes = list(distribution.nvec)
        elif isinstance(distribution, Product) and distribution.maskable:
            assert distribution.discrete is not None  # its logits come first in its params
            self.logit_sizes = sizes = distribution.discrete.nvec
            starts = np.cumsum([0, *sizes])
            self.mask_sizes = [sizes[i] for i in distribution.maskable]
            self.mask_columns = torch.cat(
                [torch.arange(starts[i], starts[i + 1]) for i in distribution.maskable]
            )
        else:
            raise ValueError(
                "action masks are for Discrete and MultiDiscrete actions (and the Tuple or Dict "
                f"that has such parts), not {type(distribution).__name__}'s"
            )
        size = self.mask_slice.stop - self.mask_slice.start
        if sum(self.mask_sizes) != size:
            raise ValueError(
                f"the action mask has {size} values, and the actions "
                f"{sum(self.mask_sizes)} (one per action; MultiDiscrete: the components' side by "
                "side; a Tuple or Dict: its Discrete and MultiDiscrete parts' side by side)"
            )

    def masked(self, logits: Tensor, obs: Tensor) -> Tensor:
        """``logits`` (or Q-values) with the actions that ``obs``'s mask disallows at the
        lowest float (:func:`a3c.masks.mask_logits`); as they are without a mask."""
        if self.mask_slice is None:
            return logits
        mask = obs.reshape(obs.shape[0], -1)[:, self.mask_slice].to(logits.dtype)
        if self.mask_columns is not None:  # a hybrid's: the components it leaves out allow all
            if self.mask_columns.device != logits.device:
                self.mask_columns = self.mask_columns.to(logits.device)
            covered = logits.new_ones(logits.shape)
            covered[:, self.mask_columns] = mask
            return mask_logits(logits, covered, self.logit_sizes)
        return mask_logits(logits, mask, self.mask_sizes)

    @property
    def has_action_mask(self) -> bool:
        return self.mask_slice is not None

    def state_tensors(self) -> list[Tensor]:
        """Parameters then buffers, in a fixed order (listed once: the structure never changes
        after construction, and walking the module tree on every pull is measurable)."""
        if self._state_tensors is None:
            self._state_tensors = [*self.parameters(), *self.buffers()]
        return self._state_tensors

    @property
    def is_recurrent(self) -> bool:
        return self.lstm is not None

    @property
    def is_convolutional(self) -> bool:
        """Whether a CNN reads the observation (or an image part of a structured one)."""
        return self.body != "mlp" or any(part.image for part in self.parts or ())

    def initial_state(self, batch_size: int) -> RecurrentState:
        """The state at the start of an episode: zeros, or ``()`` for a feed-forward model."""
        if self.lstm is None:
            return ()
        zeros = torch.zeros(batch_size, self.lstm.hidden_size)
        return (zeros, zeros.clone())

    def _features(self, obs: Tensor) -> Tensor:
        """What the body sees of a batch of observations.

        The normaliser works in the observations' own units, in which the workers gather its
        statistics: for uint8 observations it replaces the scaling to [0, 1] (until its first
        update it is that scaling)."""
        x = obs
        if x.dim() == 4 and self.image_layout == "channels_first" and self.body != "mlp":
            # Laid out channels-last (see below) while still uint8: a quarter of the bytes to move.
            x = x.contiguous(memory_format=torch.channels_last)
        x = x.to(torch.float32)  # (keeping the layout)
        if self.obs_rms is not None:
            x = self.obs_rms(x.reshape(x.shape[0], *tuple(self.obs_rms.mean.shape)))
        elif self.pixels:
            x = x / 255.0
        if self.image_layout == "channels_last":
            x = x.permute(0, 3, 1, 2)  # channels first, its memory already laid out channels-last
        elif self.image_layout == "single_channel":
            x = x.unsqueeze(1)
        elif self.body == "mlp":
            x = x.reshape(x.shape[0], -1)
        if x.dim() == 4:
            # Frames laid out channels-last: oneDNN's convolutions on CPU run the paper's CNN
            # (forward and, above all, backward) in about 60% of the time of NCHW.
            x = x.contiguous(memory_format=torch.channels_last)
        return x


class ActorCritic(Network):
    """``obs -> (distribution parameters, V(obs))``.

    Discrete actions get logits. Box actions get a mean, ``tanh``-squashed and scaled to the bounds
    (seed 000: ``mu = tanh * bound``) or linear, and a standard deviation from ``softplus`` of a
    head (seed 000), from a learned state-independent log-std, or from generalized
    state-dependent exploration (``"sde"``, Raffin et al., 2022: the noise is the actor's last
    features times a random matrix drawn for each rollout), floored at ``min_std``.
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
        normalize_reward: bool = False,
        body: str = "mlp",
        lstm_size: int | None = None,
        pixels: bool = False,
        structure: gym.Space | None = None,
        cnn_precision: str = "float32",
        lstm_input_norm: bool = False,
        word_conditioning: str = "input",
        action_mask: bool = False,
    ) -> None:
        super().__init__(
            obs_shape,
            body,
            normalize_obs,
            normalize_reward,
            pixels,
            structure,
            cnn_precision,
            word_conditioning,
            action_mask,
        )
        if lstm_size is not None and not shared_trunk:
            raise ValueError("an LSTM needs the shared trunk")
        self._check_mask(distribution)
        self.distribution = distribution
        self.shared_trunk = shared_trunk
        self.gaussian_mean = gaussian_mean
        self.std_mode = std_mode
        self.min_std = min_std
        self.actor_body, actor_out = self.make_body(hidden_sizes, activation)
        self.lstm_norm: nn.LayerNorm | None = None
        if lstm_size is not None:
            if lstm_input_norm:
                self.lstm_norm = nn.LayerNorm(actor_out)
            self.lstm = nn.LSTMCell(actor_out, lstm_size)
            actor_out = lstm_size
        if shared_trunk:
            self.critic_body = None
            critic_out = actor_out
        else:
            sizes = hidden_sizes if value_hidden_sizes is None else value_hidden_sizes
            self.critic_body, critic_out = self.make_body(sizes, activation)
        self.value_head = nn.Linear(critic_out, 1)

        self.log_std: nn.Parameter | None = None
        self.std_head: nn.Linear | None = None
        # gSDE's noise matrices, one per row (environment), drawn for a rollout by reset_noise:
        # exploration state, not weights, so neither saved nor pulled from the global model.
        self.exploration: Tensor | None = None
        # A hybrid action (Product) has logits for its discrete parts, a Gaussian for its Box
        # parts, or both: then the logits get a head of their own beside the Gaussian's.
        gaussian = distribution.continuous if isinstance(distribution, Product) else distribution
        self.logits_head: nn.Linear | None = None
        self.logits_only = isinstance(distribution, LogitsDistribution) or gaussian is None
        self.beta = isinstance(distribution, Beta)
        if self.logits_only:
            assert isinstance(distribution, LogitsDistribution | Product)
            self.policy_head = nn.Linear(actor_out, distribution.logits_dim)
        elif self.beta:  # alpha and beta for each action
            self.policy_head = nn.Linear(actor_out, 2 * int(np.prod(distribution.action_shape)))
        elif isinstance(gaussian, DiagGaussian):
            if isinstance(distribution, Product) and distribution.discrete is not None:
                self.logits_head = nn.Linear(actor_out, distribution.logits_dim)
            action_dim = int(np.prod(gaussian.action_shape))
            self.policy_head = nn.Linear(actor_out, action_dim)
            low = torch.as_tensor(gaussian.low).reshape(-1)
            high = torch.as_tensor(gaussian.high).reshape(-1)
            bounded = torch.isfinite(low) & torch.isfinite(high)
            if gaussian_mean == "tanh" and not bool(bounded.all()):
                raise ValueError(
                    "gaussian_mean='tanh' scales the mean to the action bounds, and some are "
                    f"infinite (low {gaussian.low.tolist()}, high "
                    f"{gaussian.high.tolist()}): use gaussian_mean='linear'"
                )
            # unused with an infinite bound (the mean is linear then), but kept finite
            self.register_buffer("action_center", torch.where(bounded, (high + low) / 2, 0.0))
            self.register_buffer("action_half_range", torch.where(bounded, (high - low) / 2, 1.0))
            if std_mode == "softplus":
                self.std_head = nn.Linear(actor_out, action_dim)
            elif std_mode == "state_independent":
                self.log_std = nn.Parameter(torch.full((action_dim,), float(init_log_std)))
            elif std_mode == "sde":
                # the std of each noise weight, from each feature to each action
                self.log_std = nn.Parameter(
                    torch.full((actor_out, action_dim), float(init_log_std))
                )
            else:
                raise ValueError(f"unknown std_mode {std_mode!r}")
        else:
            raise TypeError(f"unsupported distribution {distribution!r}")
        self._initialise(init, activation)

    def _initialise(self, init: str, activation: str) -> None:
        if init == "torch":
            return
        # calculate_gain's values; CNN bodies are ReLU whatever ``activation`` says
        gain = 5.0 / 3 if activation == "tanh" and self.body == "mlp" else math.sqrt(2.0)
        heads: dict[nn.Module, float] = {self.policy_head: 0.01, self.value_head: 1.0}
        for head in (self.std_head, self.logits_head):
            if head is not None:
                heads[head] = 0.01
        if self.lstm is not None:
            bias_ih, bias_hh = self.lstm.bias_ih, self.lstm.bias_hh
            assert bias_ih is not None and bias_hh is not None
            nn.init.zeros_(bias_ih)
            nn.init.zeros_(bias_hh)
            # A forget-gate bias of 1 keeps memories by default (Jozefowicz et al., 2015).
            bias_ih.data[self.lstm.hidden_size : 2 * self.lstm.hidden_size] = 1.0
        # Small policy head: near-uniform initial policy (Andrychowicz et al., 2021).
        initialise_layers(self, init, gain, heads)

    def value_parameters(self) -> list[nn.Parameter]:
        """Parameters that only the critic uses (they may get their own learning rate)."""
        params = list(self.value_head.parameters())
        if self.critic_body is not None:
            params = list(self.critic_body.parameters()) + params
        return params

    def _recur(
        self, features: Tensor, state: RecurrentState, episode_start: Tensor | None
    ) -> tuple[Tensor, RecurrentState]:
        """One LSTM step; the state of rows where an episode starts is zeroed first."""
        if self.lstm is None:
            return features, ()
        h, c = state
        if episode_start is not None:
            keep = (~episode_start).to(h.dtype).unsqueeze(-1)
            h, c = h * keep, c * keep
        if self.lstm_norm is not None:
            features = self.lstm_norm(features)
        h, c = self.lstm(features, (h, c))
        return h, (h, c)

    def step(
        self,
        obs: Tensor,
        state: RecurrentState = (),
        episode_start: Tensor | None = None,
    ) -> tuple[DistParams, Tensor, RecurrentState]:
        """One time step for a batch: ``(distribution parameters, V(obs), next state)``.

        ``episode_start`` (bool, one per row) resets those rows' state before ``obs``."""
        if self.lstm is not None and not state:
            state = self.initial_state(obs.shape[0])
        x = self._features(obs)
        actor, state = self._recur(self.actor_body(x), state, episode_start)
        critic = actor if self.critic_body is None else self.critic_body(x)
        value = self.value_head(critic).squeeze(-1)
        return self._masked_params(self._dist_params(actor), obs), value, state

    def forward(self, obs: Tensor) -> tuple[DistParams, Tensor]:
        """Feed-forward use; a recurrent model starts every row from a fresh state."""
        dist_params, value, _ = self.step(obs)
        return dist_params, value

    def sequence(
        self, obs: Tensor, state: RecurrentState, episode_starts: Tensor
    ) -> tuple[DistParams, Tensor]:
        """Replay a rollout ``obs[T, N, ...]`` from ``state``, for the loss: distribution
        parameters and values for the ``T * N`` rows in time-major order. Gradients flow back
        through the whole rollout and stop at ``state`` (truncated BPTT)."""
        T, N = obs.shape[:2]
        if self.lstm is None:
            return self.forward(obs.flatten(0, 1))
        x = self._features(obs.flatten(0, 1))
        features = self.actor_body(x).reshape(T, N, -1)  # the body runs once, batched over time
        outputs = []
        for t in range(T):
            out, state = self._recur(features[t], state, episode_starts[t])
            outputs.append(out)
        actor = torch.cat(outputs)
        dist_params = self._masked_params(self._dist_params(actor), obs.flatten(0, 1))
        return dist_params, self.value_head(actor).squeeze(-1)

    def value(
        self,
        obs: Tensor,
        state: RecurrentState = (),
        episode_start: Tensor | None = None,
    ) -> Tensor:
        """V(obs); feed-forward models skip the policy head."""
        if self.lstm is not None:
            return self.step(obs, state, episode_start)[1]
        x = self._features(obs)
        critic = self.actor_body(x) if self.critic_body is None else self.critic_body(x)
        return self.value_head(critic).squeeze(-1)

    def _dist_params(self, actor: Tensor) -> DistParams:
        out = self.policy_head(actor)
        if self.logits_only:
            return (out,)
        if self.beta:  # at least 1 each: unimodal, its density finite at the bounds
            alpha, beta = (1.0 + F.softplus(out)).chunk(2, dim=-1)
            return (alpha, beta)
        if self.logits_head is not None:  # a hybrid action: its logits, then its Gaussian
            return (self.logits_head(actor), *self._gaussian_params(out, actor))
        return self._gaussian_params(out, actor)

    def _gaussian_params(self, out: Tensor, actor: Tensor) -> DistParams:
        if self.gaussian_mean == "tanh":
            mean = self.action_center + self.action_half_range * torch.tanh(out)
        else:
            mean = out
        if self.std_head is not None:
            std = F.softplus(self.std_head(actor)) + self.min_std
            return (mean, std)
        assert self.log_std is not None
        if self.std_mode != "sde":
            return (mean, self.log_std.exp().clamp_min(self.min_std).expand_as(mean))
        # gSDE: noise = z W with W ~ N(0, sigma^2) per entry, so each action is normal with
        # variance z^2 . sigma^2 given the features z. They are not trained through the noise.
        # min_std^2 inside the root, as SB3's epsilon: a row of all-zero features (dead ReLUs)
        # would otherwise give sqrt'(0) and a NaN gradient.
        features = actor.detach()
        variance = features.pow(2) @ (2 * self.log_std).exp()
        std = (variance + self.min_std**2).sqrt()
        if self.exploration is None or self.exploration.shape[0] != features.shape[0]:
            return (mean, std)
        noise = torch.bmm(features.unsqueeze(1), self.exploration).squeeze(1)
        return (mean, std, noise)

    def _masked_params(self, params: DistParams, obs: Tensor) -> DistParams:
        """The logits (the params' first, a hybrid's Gaussian's after them) with the actions
        that ``obs``'s mask disallows taken out; a no-op without a mask."""
        if self.mask_slice is None:
            return params
        return (self.masked(params[0], obs), *params[1:])

    def reset_noise(self, rows: int, generator: torch.Generator | None = None) -> None:
        """Draw gSDE's noise matrices for the next ``rows``-row steps (one per environment; the
        worker draws them at each rollout's start). A no-op for other policies."""
        if self.std_mode != "sde" or self.log_std is None:
            return
        with torch.no_grad():
            shape = (rows, *self.log_std.shape)
            normal = torch.randn(shape, generator=generator, dtype=self.log_std.dtype)
            self.exploration = normal * self.log_std.exp()


class QNetwork(Network):
    """``obs -> Q(obs, .)`` for ``Discrete`` actions, with its **target network** inside it.

    The target's weights are buffers (``target.*``: the optimizer never sees them) that
    :meth:`sync_target` overwrites with the current weights; the target's forward pass is the
    same network called with them (``torch.func.functional_call``). Being part of the model, the
    target is shared, pulled, checkpointed and restored with the weights, on every backend.

    Offers the actor-critic's interface to evaluation and ``predict``: :meth:`step` returns the
    Q-values as the parameters of an :class:`~a3c.distributions.EpsilonGreedy` policy.
    """

    def __init__(
        self,
        obs_shape: tuple[int, ...],
        distribution: EpsilonGreedy,
        hidden_sizes: Sequence[int] = (64, 64),
        activation: str = "tanh",
        init: str = "orthogonal",
        normalize_obs: bool = False,
        body: str = "mlp",
        pixels: bool = False,
        structure: gym.Space | None = None,
        cnn_precision: str = "float32",
        word_conditioning: str = "input",
        action_mask: bool = False,
    ) -> None:
        super().__init__(
            obs_shape,
            body,
            normalize_obs,
            False,
            pixels,
            structure,
            cnn_precision,
            word_conditioning,
            action_mask,
        )
        self._check_mask(distribution)
        self.distribution = distribution
        body_module, width = self.make_body(hidden_sizes, activation)
        self.q = nn.Sequential(body_module, nn.Linear(width, distribution.n))
        if init != "torch":
            gain = 5.0 / 3 if activation == "tanh" and body == "mlp" else math.sqrt(2.0)
            initialise_layers(self.q, init, gain, {self.q[-1]: 1.0})
        self.target_names = [name for name, _ in self.q.named_parameters()]
        self.target = nn.Module()  # buffers only: target.<name with '.' as '_'>
        for name, param in self.q.named_parameters():
            self.target.register_buffer(name.replace(".", "_"), param.detach().clone())

    def target_weights(self) -> dict[str, Tensor]:
        return {name: getattr(self.target, name.replace(".", "_")) for name in self.target_names}

    @torch.no_grad()
    def sync_target(self) -> None:
        """theta^- <- theta."""
        for name, param in self.q.named_parameters():
            getattr(self.target, name.replace(".", "_")).copy_(param)

    def value_parameters(self) -> list[nn.Parameter]:
        return []  # no critic-only parameters: value_lr does not apply

    def q_values(self, obs: Tensor) -> Tensor:
        """``Q(obs, .; theta)``, ``[batch, n_actions]`` (actions that ``obs``'s mask disallows
        at the lowest float)."""
        return self.masked(self.q(self._features(obs)), obs)

    def target_q_values(self, obs: Tensor) -> Tensor:
        """``Q(obs, .; theta^-)``, from the target weights (no gradient flows into them)."""
        q_values = torch.func.functional_call(self.q, self.target_weights(), (self._features(obs),))
        return self.masked(q_values, obs)

    def step(
        self,
        obs: Tensor,
        state: RecurrentState = (),
        episode_start: Tensor | None = None,
    ) -> tuple[DistParams, Tensor, RecurrentState]:
        """``((Q-values,), max_a Q, ())``: the actor-critic's signature for evaluation."""
        q_values = self.q_values(obs)
        return (q_values,), q_values.max(dim=-1).values, ()

    def forward(self, obs: Tensor) -> Tensor:
        return self.q_values(obs)


#: a model the workers, the evaluator and ``predict`` take: an actor-critic or a Q-network
Model = ActorCritic | QNetwork
