"""``a3c plot``: where the PNG goes, what the legend and the title say."""

import json
from pathlib import Path

from a3c import A3C
from a3c.cli import main
from a3c.config import Config
from a3c.plots import default_output, describe_runs


def tiny_run(runs, name, **overrides):
    A3C(
        "CartPole-v1",
        backend="sync",
        workers=1,
        envs_per_worker=1,
        total_steps=300,
        eval_interval=0,
        checkpoint_interval=0,
        tensorboard=False,
        progress=False,
        run_dir=str(runs),
        run_name=name,
        **overrides,
    ).learn()
    return runs / name


def hand_written_run(folder, config=None):
    folder.mkdir(parents=True)
    (folder / "episodes.csv").write_text(
        "wall_time,global_step,rank,return,length\n0.1,20,0,20.0,20\n0.2,45,0,25.0,25\n"
    )
    if config is not None:
        (folder / "config.json").write_text(json.dumps(config))
    return folder


def test_several_runs_plot_beside_the_runs_labelled_by_what_differs(tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    first, second = tiny_run(runs, "a", seed=1), tiny_run(runs, "b", seed=2)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    assert describe_runs([first, second]) == (["seed=1", "seed=2"], "CartPole-v1")
    assert main(["plot", str(first), str(second)]) == 0
    assert (runs / "learning_curves.png").stat().st_size > 10_000
    assert list(elsewhere.iterdir()) == []  # nothing in the working directory

    assert default_output([first]) == first / "learning_curve.png"
    assert main(["plot", "../runs/a"]) == 0  # relative paths
    assert (first / "learning_curve.png").is_file()


def test_labels_name_every_differing_field_or_fall_back_to_the_directory(tmp_path):
    base = Config().to_dict()
    one = hand_written_run(tmp_path / "x" / "one", {**base, "lr": 0.001, "run_name": "one"})
    two = hand_written_run(tmp_path / "x" / "two", {**base, "lr": 0.002, "n_steps": 10})
    assert describe_runs([one, two]) == (
        ["n_steps=5, lr=0.001", "n_steps=10, lr=0.002"],
        "CartPole-v1",
    )

    # only bookkeeping differs: the directory names
    three = hand_written_run(
        tmp_path / "y" / "three", {**base, "lr": 0.001, "run_dir": "elsewhere", "progress": False}
    )
    assert describe_runs([one, three])[0] == ["one", "three"]

    # a run saved before a field existed was trained as its value then was: no difference
    old = {k: v for k, v in base.items() if k not in ("words", "word_conditioning")}
    before = hand_written_run(tmp_path / "z" / "before", {**old, "lr": 0.001})
    then = {**base, "lr": 0.001, "words": "left-out", "word_conditioning": "input"}
    assert describe_runs([before, hand_written_run(tmp_path / "z" / "then", then)])[0] == [
        "before",
        "then",
    ]

    # presets that differ in many fields: the preset names them
    cartpole = hand_written_run(
        tmp_path / "p" / "c",
        {**base, "preset": "CartPole-v1", "lr": 1e-3, "workers": 2, "n_steps": 5, "gamma": 0.99},
    )
    seed = hand_written_run(
        tmp_path / "p" / "s",
        {**base, "preset": "seed-cartpole", "lr": 2e-4, "workers": 3, "n_steps": 6, "gamma": 0.98},
    )
    assert describe_runs([cartpole, seed])[0] == ["preset=CartPole-v1", "preset=seed-cartpole"]

    # two runs alike and one apart: the directory tells the alike ones apart
    twin = hand_written_run(tmp_path / "x" / "twin", {**base, "lr": 0.001})
    assert describe_runs([one, twin, two])[0] == [
        "one (n_steps=5, lr=0.001)",
        "twin (n_steps=5, lr=0.001)",
        "two (n_steps=10, lr=0.002)",
    ]

    # different environments: both in the title; a run without config.json: directory names
    pendulum = hand_written_run(
        tmp_path / "q" / "pend", {**base, "env_id": "Pendulum-v1", "lr": 0.001}
    )
    assert describe_runs([one, pendulum]) == (
        ["env_id=CartPole-v1", "env_id=Pendulum-v1"],
        "CartPole-v1, Pendulum-v1",
    )
    bare = hand_written_run(tmp_path / "q" / "bare")
    assert describe_runs([one, bare]) == (["one", "bare"], "CartPole-v1")
    assert default_output([one, pendulum]) == tmp_path / "learning_curves.png"


def test_runs_that_share_only_the_root_plot_into_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # /proc is never writable and shares only / with tmp_path.
    out = default_output([tmp_path / "run", Path("/proc/self")])
    assert out == tmp_path / "learning_curves.png"
