import dataclasses
import re

import gymnasium as gym
import pytest

from a3c import A3C
from a3c.config import (
    FIELD_ALIASES,
    NO_COUNTERPART,
    Config,
    available_presets,
    load_preset,
    resolve_config,
)


def test_presets_resolve_and_validate():
    names = available_presets()
    assert {"CartPole-v1", "Pendulum-v1", "seed-cartpole", "seed-pendulum"} <= set(names)
    for name in names:
        config = resolve_config(preset=name)
        assert config.preset == name


def test_env_id_picks_its_preset_and_overrides_win():
    config = resolve_config("CartPole-v1", workers=1)
    assert config.preset == "CartPole-v1" and config.envs_per_worker == 16 and config.workers == 1
    assert resolve_config("my_package:MyEnv-v0").preset is None


def test_seed_presets_match_the_seed_programs():
    cartpole = resolve_config(preset="seed-cartpole")
    assert (
        cartpole.workers,
        cartpole.optimizer,
        cartpole.lr,
        cartpole.n_steps,
        cartpole.gamma,
        cartpole.reward_scale,
        cartpole.value_loss,
        cartpole.hidden_sizes,
    ) == (3, "adam", 2e-4, 5, 0.98, 0.01, "huber", (256,))
    assert cartpole.max_grad_norm is None and not cartpole.shared_optimizer
    pendulum = resolve_config(preset="seed-pendulum")
    assert (
        pendulum.workers,
        pendulum.hidden_sizes,
        pendulum.value_hidden_sizes,
        pendulum.activation,
        pendulum.lr,
        pendulum.value_lr,
        pendulum.gamma,
        pendulum.n_steps,
        pendulum.reward_scale,
        pendulum.std_mode,
    ) == (4, (200,), (100,), "relu6", 1e-4, 1e-3, 0.9, 10, 0.1, "softplus")


@pytest.mark.parametrize(
    "field, value",
    [
        ("lr", -1.0),
        ("gamma", 0.0),
        ("gamma", 1.5),
        ("workers", 0),
        ("backend", "mpi"),
        ("n_steps", 0),
        ("gae_lambda", 2.0),
        ("optimizer", "sgd"),
        ("hidden_sizes", (64, 0)),
        ("value_hidden_sizes", (0,)),
    ],
)
def test_invalid_values_name_the_field(field, value):
    with pytest.raises(ValueError, match=re.escape(f"{field}={value!r}")):
        Config(**{field: value}).validate()


def test_unknown_preset_and_unknown_field():
    with pytest.raises(ValueError, match="unknown preset 'nope'"):
        resolve_config(preset="nope")
    with pytest.raises(ValueError, match="unknown config field"):
        Config.from_dict({"learning_rate": 1.0})


def test_malformed_preset_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("workers = [\n")
    with pytest.raises(ValueError, match="malformed preset"):
        load_preset(str(bad))


def test_config_round_trips_through_json(tmp_path):
    config = resolve_config(preset="seed-pendulum")
    config.save(tmp_path / "c.json")
    assert Config.load(tmp_path / "c.json") == config


def test_more_workers_than_cores_warns_with_the_numbers(monkeypatch):
    import os

    from a3c.trainer import check_cores

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    with pytest.warns(RuntimeWarning, match="5 workers on 2 CPU cores"):
        check_cores(5, "processes")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_cores(2, "processes")
        check_cores(5, "sync")  # one process: nothing competes


def test_unknown_key_in_a_preset_file_names_the_file_and_the_closest_field(tmp_path):
    preset = tmp_path / "mine.toml"
    preset.write_text('env_id = "CartPole-v1"\nlearning_rate = 1e-3\n')
    with pytest.raises(ValueError) as info:
        resolve_config(preset=str(preset))
    assert str(info.value) == (
        f"preset file {preset}: unknown config field 'learning_rate' (did you mean 'lr'?)"
    )
    preset.write_text("gama = 0.9\nn_envs = 8\nn_timesteps = 1e5\nnormalize = true\nzzz = 1\n")
    with pytest.raises(ValueError) as info:
        load_preset(str(preset))
    assert str(info.value) == (
        f"preset file {preset}: unknown config fields 'gama' (did you mean 'gamma'?), "
        "'n_envs' (did you mean 'envs_per_worker'?), 'n_timesteps' (did you mean "
        "'total_steps'?), 'normalize' (did you mean 'normalize_obs'?), 'zzz'"
    )


def test_every_alias_names_a_field():
    fields = {f.name for f in dataclasses.fields(Config)}
    assert set(FIELD_ALIASES.values()) <= fields
    assert not set(FIELD_ALIASES) & fields


def test_stable_baselines3s_constructor_arguments_point_to_their_fields():
    # The nearest spelling would mislead here: policy_kwargs is not env_kwargs.
    with pytest.raises(ValueError) as info:
        A3C("CartPole-v1", policy_kwargs={"net_arch": [32]}, tensorboard_log="tb", use_sde=True)
    assert str(info.value) == (
        "unknown config fields 'policy_kwargs' (did you mean 'hidden_sizes'?), "
        "'tensorboard_log' (did you mean 'run_dir'?), 'use_sde' (did you mean 'std_mode'?)"
    )


def test_stable_baselines3s_arguments_without_a_field_say_why():
    """SB3's and PPO's arguments that have no counterpart say what a3c does instead, not the
    nearest spelling of an unrelated field; SB3's positional policy name is refused, naming the
    call to write (its environment is the argument after it)."""
    assert not set(NO_COUNTERPART) & {f.name for f in dataclasses.fields(Config)}
    with pytest.raises(ValueError) as info:
        A3C("CartPole-v1", policy="MlpPolicy", n_epochs=10, device="cpu")
    assert str(info.value) == (
        "unknown config fields 'device' (none here: a3c trains on the CPU, in worker processes), "
        "'n_epochs' (none here: each rollout is learned from once, as A3C does; epochs are "
        "PPO's), 'policy' (none here: a3c builds its network from the environment's spaces: "
        "hidden_sizes, activation, shared_trunk, lstm)"
    )
    with pytest.raises(ValueError, match=re.escape("a3c takes the environment first")) as info:
        A3C("MlpPolicy", "CartPole-v1")
    assert str(info.value).endswith("from the environment's spaces: A3C('CartPole-v1')")
    with pytest.raises(ValueError) as info:
        A3C("CnnLstmPolicy", gym.make("CartPole-v1"))
    assert str(info.value).endswith("A3C('ENV-ID') or A3C(make_env) (an LSTM: lstm=True)")


def test_a_preset_extends_another_and_overrides_its_fields(tmp_path):
    breakout = resolve_config("BreakoutNoFrameskip-v4")
    pong = resolve_config("PongNoFrameskip-v4")
    assert (
        breakout.preset == "BreakoutNoFrameskip-v4" and breakout.env_id == "BreakoutNoFrameskip-v4"
    )
    assert breakout.total_steps == 10_000_000 != pong.total_steps
    same = ("network", "optimizer", "lr", "lr_schedule", "n_steps", "envs_per_worker", "vf_coef")
    assert all(getattr(breakout, name) == getattr(pong, name) for name in same)
    lstm = resolve_config("ALE/Breakout-v5", preset="ALE-Breakout-v5.lstm")
    assert lstm.lstm and lstm.env_id == "ALE/Breakout-v5" and lstm.total_steps == 10_000_000
    assert lstm.network == "elu_cnn" and lstm.screen_size == 42
    mine = tmp_path / "mine.toml"
    mine.write_text('extends = "PongNoFrameskip-v4"\nlr = 1e-3\n')
    assert load_preset(str(mine)) == {**load_preset("PongNoFrameskip-v4"), "lr": 1e-3}
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "more.toml").write_text('extends = "../mine.toml"\nn_steps = 20\n')
    assert load_preset(str(tmp_path / "sub" / "more.toml")) == {
        **load_preset(str(mine)),
        "n_steps": 20,
    }


def test_a_preset_that_extends_itself_or_no_name_is_refused(tmp_path):
    loop = tmp_path / "loop.toml"
    loop.write_text(f'extends = "{loop}"\n')
    with pytest.raises(ValueError, match="cannot extend"):
        load_preset(str(loop))
    (tmp_path / "a.toml").write_text('extends = "b.toml"\n')
    (tmp_path / "b.toml").write_text('extends = "a.toml"\n')
    with pytest.raises(ValueError, match="cannot extend"):
        load_preset(str(tmp_path / "a.toml"))
    odd = tmp_path / "odd.toml"
    odd.write_text("extends = 3\n")
    with pytest.raises(ValueError, match="cannot extend"):
        load_preset(str(odd))
