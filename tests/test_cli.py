"""The command line end to end, as a user runs it (a subprocess per command)."""

import ast
import dataclasses
import json
import os
import subprocess
import sys
from importlib import resources
from pathlib import Path

import gymnasium as gym
import pytest
import tomllib
from helpers import a3c, small_run

from a3c import A3C
from a3c.cli import _NOT_OPTIONS, build_parser, main, parse_args
from a3c.config import (
    Config,
    available_presets,
    preset_description,
    resolve_config,
    variant_presets,
)


def test_every_config_field_is_an_option_with_help():
    train = build_parser()._subparsers._group_actions[0].choices["train"]
    options = {a.dest: a for a in train._actions}
    for field in dataclasses.fields(Config):
        if field.name in ("env_id", "preset"):
            continue
        assert field.name in options, field.name
        if field.name in ("env_kwargs", "env_maker"):  # --env-kwarg K=V, --env-maker: own words
            continue
        assert field.metadata["help"] in options[field.name].help


def test_options_parse_to_config_types(tmp_path):
    args = build_parser().parse_args(
        [
            "train",
            "CartPole-v1",
            "--hidden-sizes",
            "32,16",
            "--no-shared-trunk",
            "--max-grad-norm",
            "none",
            "--lr",
            "0.01",
            "--workers",
            "3",
        ]
    )
    assert (args.hidden_sizes, args.shared_trunk, args.max_grad_norm, args.lr, args.workers) == (
        (32, 16),
        False,
        None,
        0.01,
        3,
    )
    assert not hasattr(args, "gamma")  # untouched options do not override presets


def test_train_eval_plot_resume(tmp_path):
    common = [
        "--run-dir",
        tmp_path,
        "--run-name",
        "cp",
        "--workers",
        "2",
        "--no-progress",
        "--eval-interval",
        "2000",
        "--eval-episodes",
        "2",
        "--checkpoint-interval",
        "2000",
    ]
    out = a3c("train", "CartPole-v1", "--total-steps", "4000", *common, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    run = tmp_path / "cp"
    assert summary["global_step"] >= 4000 and Path(summary["run_dir"]) == run
    config = json.loads((run / "config.json").read_text())
    assert config["preset"] == "CartPole-v1" and config["total_steps"] == 4000
    assert list((run / "tb").iterdir()), "TensorBoard event files"

    out = a3c("eval", run / "checkpoints" / "final.pt", "--episodes", "3", "--json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert len(result["returns"]) == 3 and result["mean_return"] > 0

    out = a3c("train", "--resume", run, "--total-steps", "8000", "--no-progress", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["global_step"] >= 8000
    assert "resuming" in out.stderr

    # the run directory, as training printed it: its newest checkpoint, named
    out = a3c("eval", run, "--episodes", "3", "--json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert f"a3c: evaluating {run / 'checkpoints' / 'final.pt'}\n" in out.stderr
    assert len(json.loads(out.stdout)["returns"]) == 3
    (tmp_path / "empty").mkdir()
    out = a3c("eval", tmp_path / "empty", cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr == f"a3c: error: no checkpoint in {tmp_path / 'empty' / 'checkpoints'}\n"

    other = tmp_path / "other"
    out = a3c(
        "train",
        "CartPole-v1",
        "--preset",
        "seed-cartpole",
        "--total-steps",
        "2000",
        "--run-dir",
        tmp_path,
        "--run-name",
        "other",
        "--no-progress",
        "--workers",
        "2",
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    out = a3c("plot", run, other, "--out", tmp_path / "both.png", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "both.png").stat().st_size > 10_000


@pytest.mark.parametrize("run_evaluated_greedily", [True, False])
def test_eval_plays_as_the_run_evaluated_unless_told(tmp_path, capsys, run_evaluated_greedily):
    """``a3c eval`` takes the run's ``eval_deterministic`` (sampled for the image families), and
    ``--stochastic`` / ``--deterministic`` override it. An untrained CartPole policy is close to
    uniform: its sampled episodes and its greedy ones differ, and each is reproducible (seed 0)."""
    agent = A3C(
        "CartPole-v1",
        **small_run(tmp_path, eval_deterministic=run_evaluated_greedily, eval_interval=0),
    )
    agent.save(tmp_path / "agent.pt")

    def played(*mode: str) -> tuple[list[float], str]:
        argv = ["eval", str(tmp_path / "agent.pt"), "--episodes", "5", *mode]
        assert main([*argv, "--json"]) == 0
        returns = json.loads(capsys.readouterr().out)["returns"]
        assert main(argv) == 0
        return returns, capsys.readouterr().out.rstrip().rsplit(" ", 1)[-1]

    greedy, sampled, default = played("--deterministic"), played("--stochastic"), played()
    assert greedy[1] == "(deterministic)" and sampled[1] == "(stochastic)"
    assert greedy[0] != sampled[0]
    assert default == (greedy if run_evaluated_greedily else sampled)
    with pytest.raises(SystemExit):
        main(["eval", str(tmp_path / "agent.pt"), "--stochastic", "--deterministic"])


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "CartPle-v1"], "unknown environment 'CartPle-v1'; did you mean CartPole-v1"),
        (["train", "CartPole-v1", "--gamma", "1.5"], "gamma=1.5"),
        (["train", "CartPole-v1", "--preset", "nope"], "unknown preset 'nope'"),
        (
            ["presets", "nope"],
            "unknown preset 'nope': available: " + ", ".join(available_presets()[:2]),
        ),
    ],
)
def test_bad_input_is_one_line_without_traceback(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_presets_command_lists_descriptions(capsys):
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    assert "seed-cartpole" in out and "Seed 003" in out


@pytest.mark.parametrize("args", [["presets"], ["presets", "CartPole-v1"]])
def test_a_closed_pipe_ends_quietly(args, tmp_path):
    """`a3c presets | head`: the reader has gone. The pipe's read end is closed before a3c
    writes, so its first write fails for certain: no traceback, and SIGPIPE's exit status."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "a3c", *args],
            cwd=tmp_path,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(write_end)
    assert done.stderr == ""
    assert done.returncode == 141  # 128 + SIGPIPE


def test_presets_command_shows_the_file_each_preset_lives_in(capsys):
    """Each preset: its name and description, then its file in the installed package."""
    import a3c

    assert main(["presets"]) == 0
    lines = capsys.readouterr().out.splitlines()
    names = available_presets()
    assert len(lines) == 2 * len(names)
    for name, first, second in zip(names, lines[::2], lines[1::2], strict=True):
        assert first.split(None, 1) == [name, preset_description(name)]
        path = Path(second.strip())
        assert path == Path(a3c.__file__).parent / "presets" / f"{name}.toml"
        assert tomllib.loads(path.read_text())["description"] == preset_description(name)


@pytest.mark.parametrize("name", available_presets())
def test_a_printed_preset_is_the_toml_file_that_resolves_to_the_bundled_one(name, tmp_path, capsys):
    assert main(["presets", name]) == 0
    printed = capsys.readouterr().out
    bundled = resources.files("a3c").joinpath("presets", f"{name}.toml").read_text()
    header = printed[: len(printed) - len(bundled)]
    assert printed.endswith(bundled) and all(line.startswith("# ") for line in header.splitlines())
    mine = tmp_path / "mine.toml"
    mine.write_text(printed)
    copy, original = resolve_config(preset=str(mine)), resolve_config(preset=name)
    assert dataclasses.replace(copy, preset=name) == original
    assert copy.preset == str(mine)
    if original.env_id is not None:  # as `a3c train ENV --preset mine.toml` resolves it
        assert resolve_config(original.env_id, str(mine)) == copy


def test_a_preset_is_printed_by_its_env_id(capsys):
    assert main(["presets", "ALE/Pong-v5"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# a3c preset ALE-Pong-v5, from ")
    assert 'env_id = "ALE/Pong-v5"' in out


def test_the_printed_header_says_how_to_train_with_the_file(capsys):
    assert main(["presets", "CartPole-v1"]) == 0
    assert capsys.readouterr().out.splitlines()[1] == (
        "# save as FILE.toml, edit, and train with: a3c train --preset FILE.toml"
    )


def console_script(*args, cwd):
    """The installed ``a3c`` console script (not ``python -m``, which puts the working directory
    on sys.path by itself), with nothing added to sys.path by the environment."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSAFEPATH")}
    return subprocess.run(
        [str(Path(sys.executable).parent / "a3c"), *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def write_package(folder: Path, name: str, body: str) -> None:
    (folder / name).mkdir()
    (folder / name / "__init__.py").write_text(body)


@pytest.mark.parametrize(
    "backend_options",
    [
        ["--start-method", "spawn"],
        ["--start-method", "forkserver"],
        # a local Ray's worker processes import the module from the driver's working directory
        pytest.param(["--backend", "ray"], marks=pytest.mark.ray, id="ray"),
    ],
)
def test_env_module_in_the_working_directory_trains_with_spawned_workers(tmp_path, backend_options):
    if "ray" in backend_options:
        pytest.importorskip("ray")
    # TwoStep's source, copied from the fixture (not imported: that would register its ids here)
    fixture = (Path(__file__).parent / "fixtures" / "custom_envs.py").read_text()
    env_source = next(
        ast.get_source_segment(fixture, node)
        for node in ast.parse(fixture).body
        if isinstance(node, ast.ClassDef) and node.name == "TwoStep"
    )
    write_package(
        tmp_path,
        "mypkg",
        "import gymnasium as gym\nimport numpy as np\n\n\n"
        f"{env_source}\n\ngym.register('MyTwoStep-v0', entry_point=TwoStep)\n",
    )
    out = console_script(
        "train",
        "MyTwoStep-v0",
        "--env-module",
        "mypkg",
        *backend_options,
        "--workers",
        "1",
        "--total-steps",
        "300",
        "--eval-interval",
        "100",
        "--eval-episodes",
        "1",
        "--checkpoint-interval",
        "0",
        "--run-dir",
        "runs",
        "--run-name",
        "r",
        "--no-progress",
        "--no-tensorboard",
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["global_step"] >= 300
    # the spawned worker and evaluator imported mypkg: they recorded episodes and evaluations
    episodes = (tmp_path / "runs" / "r" / "episodes.csv").read_text().splitlines()
    evaluations = (tmp_path / "runs" / "r" / "eval.csv").read_text().splitlines()
    assert len(episodes) >= 1 + 300 // 10 - 1 and len(evaluations) >= 2


def test_a_missing_env_module_is_one_line(tmp_path):
    out = console_script("train", "CartPole-v1", "--env-module", "nosuchpkg", cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr == (
        "a3c: error: cannot import the env module 'nosuchpkg': no module named 'nosuchpkg' "
        "(install it, or run from the folder that holds it)\n"
    )


def test_an_import_error_inside_the_env_module_keeps_its_traceback(tmp_path):
    write_package(tmp_path, "brokenpkg", "import nosuchdependency\n")
    out = console_script("train", "CartPole-v1", "--env-module", "brokenpkg", cwd=tmp_path)
    assert out.returncode == 1
    assert "Traceback" in out.stderr and str(tmp_path / "brokenpkg" / "__init__.py") in out.stderr
    assert "ModuleNotFoundError: No module named 'nosuchdependency'" in out.stderr


def choice_fields():
    return [f for f in dataclasses.fields(Config) if f.metadata.get("choices")]


@pytest.mark.parametrize("field", choice_fields(), ids=lambda f: f.name)
def test_options_with_choices_take_each_choice_and_none_when_optional(field):
    flag = "--" + field.name.replace("_", "-")
    for choice in field.metadata["choices"]:
        args = build_parser().parse_args(["train", flag, choice])
        assert getattr(args, field.name) == choice
    if "None" in str(field.type):
        args = build_parser().parse_args(["train", flag, "none"])
        assert getattr(args, field.name) is None


def test_start_method_none_clears_a_presets_value(tmp_path):
    preset = tmp_path / "p.toml"
    preset.write_text('env_id = "CartPole-v1"\nstart_method = "spawn"\n')
    args = build_parser().parse_args(["train", "--preset", str(preset), "--start-method", "none"])
    assert args.start_method is None
    config = resolve_config(preset=str(preset), start_method=args.start_method)
    assert config.start_method is None


def test_a_wrong_choice_lists_the_choices(capsys):
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(["train", "--start-method", "fork-exec"])
    assert info.value.code == 2
    assert (
        "argument --start-method: expected one of fork, spawn, forkserver, none (got 'fork-exec')"
        in capsys.readouterr().err
    )


def run_main(argv, capsys):
    """``main`` as the console script runs it: the exit code, stdout and stderr."""
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_negative_numbers_are_option_values(capsys):
    args = parse_args(
        ["train", "Pendulum-v1", "--stop-at-return", "-200", "--init-log-std", "-5e-1"]
    )
    assert (args.stop_at_return, args.init_log_std) == (-200.0, -0.5)
    assert parse_args(["train", "CartPole-v1", "--lr", "-1e-3"]).lr == -1e-3
    # still invalid as a learning rate, and said so in one line
    code, _, err = run_main(["train", "CartPole-v1", "--lr", "-1e-3"], capsys)
    assert (code, err) == (2, "a3c: error: invalid config: lr=-0.001: must be > 0\n")


@pytest.mark.parametrize(
    "argv, message",
    [
        ([], "a3c: error: the following arguments are required: command\nsee 'a3c --help'\n"),
        (
            ["train", "CartPole-v1", "--workers"],
            "a3c train: error: argument --workers: expected one argument\nsee 'a3c train --help'\n",
        ),
        (
            ["train", "--hidden-sizes", "64,x"],
            "a3c train: error: argument --hidden-sizes: expected comma-separated integers, "
            "e.g. 64,64 (got '64,x')\nsee 'a3c train --help'\n",
        ),
        (
            ["train", "--workers", "two"],
            "a3c train: error: argument --workers: expected an integer (got 'two')\n"
            "see 'a3c train --help'\n",
        ),
        (
            ["train", "--gamma", "high"],
            "a3c train: error: argument --gamma: expected a number, e.g. 0.5 or 1e-3 "
            "(got 'high')\nsee 'a3c train --help'\n",
        ),
        (
            ["eval"],
            "a3c eval: error: the following arguments are required: checkpoint\n"
            "see 'a3c eval --help'\n",
        ),
    ],
)
def test_parse_errors_are_two_lines_that_say_what_is_expected(argv, message, capsys):
    assert run_main(argv, capsys) == (2, "", message)


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["train", "--learning-rate", "1e-3"],
            "unrecognized option --learning-rate (did you mean --lr?)",
        ),
        (["train", "--n-envs=8"], "unrecognized option --n-envs (did you mean --envs-per-worker?)"),
        (
            ["train", "CartPole-v1", "--n-timesteps", "1000", "--wrokers", "2"],
            "unrecognized options --n-timesteps (did you mean --total-steps?), "
            "--wrokers (did you mean --workers?)",
        ),
        (
            ["eval", "x.pt", "--epsiodes", "3"],
            "unrecognized option --epsiodes (did you mean --episodes?)",
        ),
        (
            ["eval", "x.pt", "--stochastc"],
            "unrecognized option --stochastc (did you mean --stochastic?)",
        ),
        (
            ["eval", "x.pt", "--determinstic"],
            "option --determinstic (did you mean --deterministic?)",
        ),
        # A prefix is not accepted as the option it starts (argparse's allow_abbrev).
        (
            ["train", "CartPole-v1", "--lr-anneal", "5"],
            "unrecognized option --lr-anneal (did you mean --lr-anneal-steps?)",
        ),
        (["train", "--zzz"], "unrecognized option --zzz\n"),
        (["presets", "--all"], "unrecognized option --all\n"),
        (["plot", "r", "--window", "5", "--titel", "x"], "option --titel (did you mean --title?)"),
    ],
)
def test_an_unknown_option_gets_the_closest_one(argv, message, capsys):
    code, _, err = run_main(argv, capsys)
    assert code == 2 and message in err and len(err.splitlines()) == 2, err


def test_help_states_each_default_once(capsys):
    code, out, _ = run_main(["train", "--help"], capsys)
    assert code == 0 and "(default: None)" not in out
    train = build_parser().commands["train"]
    options = {action.dest: action for action in train.options}
    for field in dataclasses.fields(Config):
        if field.name not in _NOT_OPTIONS:
            assert options[field.name].help.count("(default") == 1, field.name
    assert options["value_lr"].help == "Learning rate of critic-only parameters (default: lr)."
    assert options["hidden_sizes"].help.endswith("(default: 64,64)")
    assert options["max_episode_steps"].help.endswith("(default: none)")
    assert options["progress"].help.endswith("(default: --progress)")
    assert options["lock"].help.endswith("(default: Hogwild).")


def test_a3cs_warnings_print_as_one_line(tmp_path, monkeypatch, capsys):
    import os as os_module

    monkeypatch.setattr(os_module, "sched_getaffinity", lambda pid: {0}, raising=False)
    code, _, err = run_main(
        [
            "train",
            "CartPole-v1",
            "--backend",
            "threads",
            "--workers",
            "2",
            "--total-steps",
            "200",
            "--eval-interval",
            "0",
            "--no-tensorboard",
            "--no-progress",
            "--run-dir",
            str(tmp_path),
        ],
        capsys,
    )
    assert code == 0, err
    expected = (
        "a3c: warning: 2 workers on 1 CPU cores: workers will compete for cores and each will "
        "run slower; consider --workers 1"
    )
    assert expected in err.splitlines()
    assert "RuntimeWarning" not in err and "warnings.warn" not in err


def test_warnings_of_other_code_keep_their_form(tmp_path):
    script = tmp_path / "script.py"
    script.write_text(
        "import os, warnings\n"
        "from a3c.cli import one_line_warnings\n"
        "from a3c.trainer import check_cores\n"
        "os.sched_setaffinity(0, {0})\n"
        "with one_line_warnings():\n"
        "    check_cores(5, 'processes')\n"
        '    warnings.warn("not a3c\'s", UserWarning)\n'
    )
    out = subprocess.run(
        [sys.executable, script], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stderr.splitlines() == [
        "a3c: warning: 5 workers on 1 CPU cores: workers will compete for cores and each will "
        "run slower; consider --workers 1",
        f"{script}:7: UserWarning: not a3c's",
        '  warnings.warn("not a3c\'s", UserWarning)',
    ]


def test_an_optional_flag_is_three_way():
    assert build_parser().parse_args(["train", "X", "--no-fire-reset"]).fire_reset is False
    assert build_parser().parse_args(["train", "X", "--fire-reset"]).fire_reset is True
    assert "fire_reset" not in vars(build_parser().parse_args(["train", "X"]))  # the default


def test_an_id_with_no_preset_of_its_own_names_those_bundled_for_it(tmp_path, capsys):
    """CarRacing-v3's preset is a variant (its discrete actions), not the id's own: a run of the
    id says so, and a run with it trains the environment the preset makes."""
    pytest.importorskip("Box2D")
    assert variant_presets("CarRacing-v3") == ["CarRacing-v3.discrete"]
    assert "CartPole-v1.nstep_q" in variant_presets("CartPole-v1")
    quick = ["--total-steps", "4", "--workers", "1", "--envs-per-worker", "1", "--backend", "sync"]
    quick += ["--eval-interval", "0", "--no-progress", "--run-dir", str(tmp_path)]
    assert main(["train", "CarRacing-v3", *quick, "--run-name", "own"]) == 0
    assert (
        "a3c: no preset for CarRacing-v3 of its own (bundled for it: CarRacing-v3.discrete; "
        "--preset NAME): the defaults of the family frames_continuous"
    ) in capsys.readouterr().err
    assert main(["presets", "CarRacing-v3"]) == 2
    assert (
        "a3c: error: CarRacing-v3 has no preset of its own; bundled for it: CarRacing-v3.discrete"
    ) in capsys.readouterr().err
    assert main(["train", "--preset", "CarRacing-v3.discrete", *quick, "--run-name", "p"]) == 0
    config = json.loads((tmp_path / "p" / "config.json").read_text())
    assert config["env_kwargs"] == {"continuous": False} and config["frame_skip"] == 8
    assert A3C.load(tmp_path / "p").action_space == gym.spaces.Discrete(5)
