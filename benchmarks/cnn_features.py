"""Whether a CNN has learned to tell frames apart: its features' norm and spread, before and
after a short training run.

    python -m benchmarks.cnn_features --steps 400000
    python -m benchmarks.cnn_features --preset PongNoFrameskip-v4.lstm --network cnn \\
        --screen-size 84

For each preset (with any config option of ``a3c train``, e.g. ``--optim-eps 0.1``), train
``--steps`` from seed 0 and run the CNN body over the same ``--frames`` frames of random play (a
fixed seed). Printed per run: the features' mean norm, their *spread* (the mean distance of a
frame's features from their mean over the frames, divided by that mean's norm: near 0 means the
CNN sees every frame alike) and how many of them are zero on every frame. A diagnostic of the
Pong LSTM preset, whose CNN did not learn with the paper's network (``--network cnn
--screen-size 84``) and does with ``elu_cnn`` (docs/atari-and-recurrent.md); the training runs
are ordinary runs, nothing is timed.
"""

from __future__ import annotations

import argparse
import tempfile
from typing import Any

import numpy as np
import torch

from a3c import A3C
from a3c.cli import add_config_options

ENV_ID = "PongNoFrameskip-v4"
PRESETS = ("PongNoFrameskip-v4", "PongNoFrameskip-v4.lstm")


def random_play_frames(agent: A3C, n: int) -> torch.Tensor:
    """``n`` observations of random play in the agent's own environment (its wrappers), the
    same on every call: the game from reset seed 1, the actions drawn from seed 0."""
    env = agent.env_factory()
    rng = np.random.default_rng(0)
    env.reset(seed=1)
    frames = []
    for _ in range(n):
        obs, _, terminated, truncated, _ = env.step(int(rng.integers(env.action_space.n)))
        frames.append(np.asarray(obs))
        if terminated or truncated:
            env.reset()
    env.close()
    return torch.as_tensor(np.stack(frames))


@torch.no_grad()
def feature_stats(agent: A3C, frames: torch.Tensor) -> dict[str, float]:
    """Norm, spread and dead count of the CNN body's features over ``frames``."""
    model = agent.model
    features = model.actor_body(model._features(frames))
    mean = features.mean(0)
    spread = (features - mean).norm(dim=1).mean() / mean.norm().clamp_min(1e-12)
    return {
        "norm": float(features.norm(dim=1).mean()),
        "spread": float(spread),
        "dead": int((features.abs().amax(0) == 0).sum()),
        "width": int(features.shape[1]),
    }


def measure(preset: str, overrides: dict[str, Any], steps: int, n_frames: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as run_dir:
        agent = A3C(
            ENV_ID,
            preset=preset,
            seed=0,
            run_dir=run_dir,
            eval_interval=0,
            checkpoint_interval=0,
            progress=False,
            tensorboard=False,
            **overrides,
        )
        if agent.config.lr_anneal_steps is None:
            # The first ``steps`` of the preset's own run: a linear schedule anneals over the
            # preset's budget, not over this short run.
            agent.config = agent.config.replace(lr_anneal_steps=agent.config.total_steps)
        frames = random_play_frames(agent, n_frames)
        before = feature_stats(agent, frames)
        agent.learn(total_steps=steps)
        after = feature_stats(agent, frames)
        summary = agent.summary
        assert summary is not None
    return {
        "preset": preset,
        "overrides": overrides,
        "steps": summary.global_step,
        "before": before,
        "after": after,
        "last100": summary.mean_last100,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", action="append", help=f"default: {', '.join(PRESETS)}")
    parser.add_argument("--steps", type=int, default=400_000)
    parser.add_argument("--frames", type=int, default=200)
    add_config_options(parser)  # only the options given land in the namespace
    args = parser.parse_args()
    own = {"preset", "steps", "frames"}
    overrides = {k: v for k, v in vars(args).items() if k not in own}
    print(f"{ENV_ID}, seed 0, {args.steps:,} steps; features over {args.frames} random frames")
    print("| preset | overrides | steps | norm before -> after | spread before -> after | dead |")
    print("|---|---|---|---|---|---|")
    for preset in args.preset or PRESETS:
        row = measure(preset, overrides, args.steps, args.frames)
        before, after = row["before"], row["after"]
        print(
            f"| {preset} | {overrides or '-'} | {row['steps']:,} "
            f"| {before['norm']:.1f} -> {after['norm']:.1f} "
            f"| {before['spread']:.1%} -> {after['spread']:.1%} "
            f"| {after['dead']} of {after['width']} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
