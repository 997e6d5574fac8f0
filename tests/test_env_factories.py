"""Environments as users have them: an id with keyword arguments, or a callable that makes the
environment (its wrappers respected on every backend and start method), and clear errors for
what cannot work."""

import functools
import json
import warnings

import gymnasium as gym
import numpy as np
import pytest
from helpers import EVERY_BACKEND, read_rows, small_run

from a3c import A3C
from a3c.cli import main
from a3c.envs import EnvFactory, env_maker_reference, import_env_maker


def scaled_cartpole(scale: float = 2.0) -> gym.Env:
    """CartPole whose every reward is ``scale`` (CartPole's is 1): a user's reward shaping."""
    return gym.wrappers.TransformReward(gym.make("CartPole-v1"), lambda r: scale * r)


class NotAnEnv:
    pass


def check_scaled_episodes(run_dir, scale: float) -> None:
    rows = read_rows(run_dir / "episodes.csv")
    assert rows
    for row in rows:
        assert float(row["return"]) == pytest.approx(scale * int(row["length"]))


def test_env_kwargs_reach_every_worker_and_the_saved_agent(tmp_path):
    # Sutton and Barto's CartPole reward: 0 per step, -1 at the fall.
    agent = A3C(
        "CartPole-v1",
        env_kwargs={"sutton_barto_reward": True},
        **small_run(tmp_path, eval_interval=0),
    ).learn()
    rows = read_rows(agent.run_dir / "episodes.csv")
    assert rows and {float(r["return"]) for r in rows} <= {0.0, -1.0}
    assert json.loads((agent.run_dir / "config.json").read_text())["env_kwargs"] == {
        "sutton_barto_reward": True
    }
    loaded = A3C.load(agent.run_dir / "checkpoints" / "final.pt")
    assert loaded.config.env_kwargs == {"sutton_barto_reward": True}
    assert loaded.env.unwrapped._sutton_barto_reward


def test_env_kwargs_must_be_plain_data():
    with pytest.raises(ValueError, match=r"env_kwargs.*plain data"):
        A3C("CartPole-v1", env_kwargs={"render_mode": np.float32})


@pytest.mark.parametrize("backend, start_method", EVERY_BACKEND)
def test_a_callable_env_trains_with_its_wrappers_everywhere(tmp_path, backend, start_method):
    agent = A3C(
        scaled_cartpole,
        env_kwargs={"scale": 3.0},  # passed to the callable
        **small_run(tmp_path, backend=backend, start_method=start_method),
    ).learn()
    check_scaled_episodes(agent.run_dir, 3.0)
    assert agent.config.env_id == "CartPole-v1"
    assert agent.config.env_maker == "test_env_factories:scaled_cartpole"
    assert agent.config.preset is None and agent.config.family == "discrete"  # not CartPole's
    evals = read_rows(agent.run_dir / "eval.csv")
    assert float(evals[-1]["mean_return"]) == pytest.approx(3.0 * float(evals[-1]["mean_length"]))


def test_a_lambda_trains_on_ray(tmp_path, local_ray):
    agent = A3C(
        lambda: gym.wrappers.TransformReward(gym.make("CartPole-v1"), lambda r: 5.0 * r),
        **small_run(tmp_path, backend="ray", eval_interval=0),
    ).learn()
    check_scaled_episodes(agent.run_dir, 5.0)


def test_a_partial_works_under_spawn(tmp_path):
    agent = A3C(
        functools.partial(scaled_cartpole, scale=4.0),
        **small_run(tmp_path, start_method="spawn", eval_interval=0),
    ).learn()
    check_scaled_episodes(agent.run_dir, 4.0)
    # Recorded as the function and its keywords, so that a saved agent rebuilds it.
    assert agent.config.env_maker == "test_env_factories:scaled_cartpole"
    assert agent.config.env_kwargs == {"scale": 4.0}
    env = A3C.load(agent.run_dir / "checkpoints" / "final.pt").env
    env.reset(seed=0)
    assert env.step(0)[1] == 4.0
    # An id given with that config is the id's environment, not the callable's.
    assert A3C("CartPole-v1", config=agent.config).config.env_maker is None


def test_a_lambda_under_spawn_is_a_clear_error(tmp_path):
    agent = A3C(lambda: scaled_cartpole(), **small_run(tmp_path, start_method="spawn"))
    with pytest.raises(ValueError, match=r"cannot be sent to the workers.*module level"):
        agent.learn()


def test_an_env_instance_or_a_non_env_is_a_clear_error():
    with pytest.raises(TypeError, match="callable that makes the environment"):
        A3C(gym.make("CartPole-v1"))
    with pytest.raises(TypeError, match=r"returned NotAnEnv, not a gym\.Env"):
        A3C(NotAnEnv)


def test_a_saved_agent_rebuilds_its_environment_from_the_callable(tmp_path):
    agent = A3C(scaled_cartpole, **small_run(tmp_path, total_steps=1_000, eval_interval=0))
    agent.save(tmp_path / "named.pt")
    env = A3C.load(tmp_path / "named.pt").env  # imported by name: the wrapper is there
    env.reset(seed=0)
    assert env.step(0)[1] == 2.0

    anonymous = A3C(lambda: scaled_cartpole(6.0), **small_run(tmp_path, eval_interval=0))
    anonymous.save(tmp_path / "lambda.pt")
    loaded = A3C.load(tmp_path / "lambda.pt")  # weights and all, but no environment to rebuild
    with pytest.raises(ValueError, match=r"cannot be imported by that name.*env=make_env"):
        _ = loaded.env
    again = A3C.load(tmp_path / "lambda.pt", env=lambda: scaled_cartpole(6.0)).env
    again.reset(seed=0)
    assert again.step(0)[1] == 6.0


def test_references_of_callables():
    assert import_env_maker(env_maker_reference(scaled_cartpole)) is scaled_cartpole
    for unnamed in (lambda: None, functools.partial(scaled_cartpole, 1.0)):
        with pytest.raises(ValueError, match="cannot be imported"):
            import_env_maker(env_maker_reference(unnamed))
    with pytest.raises(ValueError, match="cannot be imported"):
        import_env_maker("no_such_module_here:make")


def test_the_cli_takes_env_kwargs_and_an_env_maker(tmp_path, capsys):
    common = ["--backend", "sync", "--total-steps", "1000", "--eval-interval", "0"]
    common += ["--no-progress", "--no-tensorboard", "--run-dir", str(tmp_path)]
    assert (
        main(
            [
                "train",
                "CartPole-v1",
                "--env-kwarg",
                "sutton_barto_reward=true",
                *common,
                "--run-name",
                "k",
            ]
        )
        == 0
    )
    config = json.loads((tmp_path / "k" / "config.json").read_text())
    assert config["env_kwargs"] == {"sutton_barto_reward": True}

    maker = ["--env-maker", "test_env_factories:scaled_cartpole", "--env-kwarg", "scale=7"]
    assert main(["train", *maker, *common, "--run-name", "m"]) == 0
    check_scaled_episodes(tmp_path / "m", 7.0)
    assert "the defaults of the family" in capsys.readouterr().err
    assert main(["train", "CartPole-v1", *maker, *common]) == 2
    assert "not both" in capsys.readouterr().err


def test_a_keyword_argument_the_environment_does_not_take_is_one_line(tmp_path, capsys):
    # Gymnasium's TypeError was a traceback; now the line names what the entry point takes.
    with pytest.raises(ValueError) as error:
        EnvFactory("CartPole-v1", env_kwargs={"sutton_barto_rewrd": True})()
    assert str(error.value).startswith(
        "CartPole-v1 takes no keyword argument 'sutton_barto_rewrd'; did you mean "
        "sutton_barto_reward? (it takes "
    )
    assert "render_mode, sutton_barto_reward" in str(error.value)  # in order, as CartPole's
    args = ["train", "CartPole-v1", "--env-kwarg", "colour=red", "--run-dir", str(tmp_path)]
    assert main(args) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("a3c: error: CartPole-v1 takes no keyword argument 'colour' (it takes ")
    # A "module:Env-v0" id is looked up by its registered name.
    with pytest.raises(ValueError, match=r"'colour' \(it takes .*sutton_barto_reward"):
        EnvFactory("gymnasium.envs.classic_control:CartPole-v1", env_kwargs={"colour": 1})()


def refuses_a_keyword(passed_on=None, **kwargs):
    raise TypeError("f() got an unexpected keyword argument 'passed_on'")


def test_a_type_error_the_line_would_not_explain_keeps_its_traceback():
    # About another keyword than the user's, or about one the entry point takes and passes on
    # to something that refuses it: "takes no keyword argument" would be wrong.
    gym.register("RefusesAKeyword-v0", entry_point=refuses_a_keyword)
    try:
        for kwargs in ({"outer": 1}, {"passed_on": 1}):
            with pytest.raises(TypeError, match="'passed_on'"):
                EnvFactory("RefusesAKeyword-v0", env_kwargs=kwargs)()
    finally:
        del gym.registry["RefusesAKeyword-v0"]


class Endless(gym.Env):
    """Never ends an episode and has no time limit: one reward a step, whatever is done."""

    observation_space = gym.spaces.Box(0.0, 1.0, (2,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(2, np.float32), {}

    def step(self, action):
        return np.zeros(2, np.float32), 1.0, False, False, {}


def test_which_environments_have_a_time_limit():
    from a3c.envs import EnvFactory, has_time_limit

    assert has_time_limit(gym.make("CartPole-v1"))  # registered with 500 steps
    assert not has_time_limit(gym.make("CliffWalking-v1"))  # registered with none
    assert has_time_limit(gym.make("CliffWalking-v1", max_episode_steps=5))
    assert has_time_limit(EnvFactory("CliffWalking-v1", max_episode_steps=5)())
    assert not has_time_limit(Endless())
    assert has_time_limit(
        EnvFactory("Endless", env_maker="test_env_factories:Endless", max_episode_steps=5)()
    )
    pytest.importorskip("ale_py")
    assert has_time_limit(EnvFactory("PongNoFrameskip-v4")())  # the ALE's 108,000 frames


def test_evaluation_cuts_episodes_that_nothing_ends_at_a_cap_and_says_so(tmp_path, monkeypatch):
    from a3c import evaluate_policy, evaluation

    monkeypatch.setattr(evaluation, "EVAL_STEP_CAP", 50)
    settings = small_run(tmp_path, total_steps=200, eval_interval=100, eval_episodes=3)
    agent = A3C(Endless, backend="sync", **settings)
    cut = r"3 of 3 evaluation episodes had not ended after 50 steps and were cut there: Endless"
    with pytest.warns(RuntimeWarning, match=cut):
        agent.learn()  # before the cap, its first evaluation never ended
    rows = read_rows(next(tmp_path.glob("*/eval.csv")))
    assert len(rows) == 2  # at 100, and the final one
    assert all(float(r["mean_length"]) == 50 and float(r["mean_return"]) == 50 for r in rows)
    with pytest.warns(RuntimeWarning, match="2 of 2 evaluation episodes"):
        assert evaluate_policy(agent, Endless(), n_episodes=2) == (50.0, 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the user's own time limit: kept, and nothing is cut
        limited = gym.wrappers.TimeLimit(Endless(), 20)
        assert evaluate_policy(agent, limited, n_episodes=2) == (20.0, 0.0)


def test_a_registered_environment_without_a_time_limit_trains_and_ends(tmp_path, capsys):
    # CliffWalking has no time limit and an untrained greedy policy never reaches its goal: the
    # final evaluation used to play forever.
    common = ["--backend", "threads", "--total-steps", "1000", "--no-progress"]
    assert main(["train", "CliffWalking-v1", *common, "--run-dir", str(tmp_path)]) == 0
    assert "evaluation episodes had not ended after 10,000 steps" in capsys.readouterr().err
    (final,) = read_rows(next(tmp_path.glob("*/eval.csv")))
    assert float(final["mean_length"]) == 10_000
