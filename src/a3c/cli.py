"""``a3c train | eval | plot | presets``: the command line. The only module that parses argv.

Every :class:`~a3c.Config` field is a ``train`` option (``total_steps`` -> ``--total-steps``), with
the field's help text; booleans come as ``--flag / --no-flag``; ``none`` clears optional values.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import difflib
import inspect
import json
import os
import signal
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn, TextIO

from a3c.config import (
    FAMILY_DEFAULTS,
    Config,
    available_presets,
    closest_field,
    env_preset_name,
    load_preset,
    own_preset,
    preset_description,
    variant_presets,
)

# Fields set by the positional argument or by other means.
_NOT_OPTIONS = {"env_id", "preset", "env_kwargs", "env_maker"}  # the first two: arguments


class _Parser(argparse.ArgumentParser):
    """argparse with errors of two lines (the error, where to find help) instead of the whole
    usage, and a record of its options (for negative values and "did you mean")."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.options: list[argparse.Action] = []  # set first: __init__ adds --help
        self.commands: dict[str, _Parser] = {}
        # A prefix of an option is not that option: `--lr-anneal 5` must not quietly set
        # --lr-anneal-steps (it gets "did you mean" instead).
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:
        action = super().add_argument(*args, **kwargs)
        if action.option_strings:
            self.options.append(action)
        return action

    def option_strings(self, takes_value: bool | None = None) -> list[str]:
        """Every option string (only those that take a value, or none, when asked)."""
        return [
            flag
            for action in self.options
            if takes_value is None or (action.nargs != 0) == takes_value
            for flag in action.option_strings
        ]

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\nsee '{self.prog} --help'\n")


def _optional(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse_or_none(text: str) -> Any:
        return None if text.lower() in ("none", "null", "") else parse(text)

    return parse_or_none


def _choice(choices: Sequence[str], optional: bool) -> Callable[[str], str | None]:
    """Checks the choices itself, after ``none`` has been taken for an optional field (argparse's
    own ``choices`` check would run on the parsed None and refuse it)."""
    allowed = [*choices, "none"] if optional else list(choices)

    def parse_choice(text: str) -> str | None:
        if optional and text.lower() in ("none", "null", ""):
            return None
        if text not in choices:
            raise argparse.ArgumentTypeError(f"expected one of {', '.join(allowed)} (got {text!r})")
        return text

    return parse_choice


# Parse functions raise ArgumentTypeError, whose message argparse shows as it is (for any other
# error it shows the function's name: "invalid _int value").
def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer (got {text!r})") from None


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number, e.g. 0.5 or 1e-3 (got {text!r})"
        ) from None


def _tuple_of(convert: Callable[[str], Any], what: str) -> Callable[[str], tuple[Any, ...]]:
    """A parser of comma-separated values (``what``: how the error names them, with an
    example)."""

    def parse(text: str) -> tuple[Any, ...]:
        try:
            return tuple(convert(part) for part in text.replace(" ", "").split(",") if part)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected comma-separated {what} (got {text!r})"
            ) from None

    return parse


_PARSERS: dict[str, Callable[[str], Any]] = {
    "int": _int,
    "float": _float,
    "str": str,
    "tuple[int, ...]": _tuple_of(int, "integers, e.g. 64,64"),
    "tuple[float, ...]": _tuple_of(float, "numbers, e.g. 0.1,0.01,0.5"),
}


def _env_kwarg(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, e.g. continuous=true (got {text!r})")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value  # a bare word: a string


def _default_text(value: Any) -> str:
    """A default as it would be typed on the command line."""
    if value is None:
        return "none"
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    return str(value)


def add_config_options(parser: argparse.ArgumentParser) -> None:
    """One option per config field; defaults are suppressed so that only given options count."""
    defaults = Config()
    for field in dataclasses.fields(Config):
        if field.name in _NOT_OPTIONS:
            continue
        flag = "--" + field.name.replace("_", "-")
        help_text = field.metadata["help"]
        if "(default" not in help_text:  # some fields say in words what their default means
            default = getattr(defaults, field.name)
            if isinstance(default, bool):
                shown = flag if default else "--no-" + flag[2:]
            else:
                shown = _default_text(default)
            help_text = f"{help_text} (default: {shown})"
        help_text = help_text.replace("%", "%%")  # argparse formats help with %
        annotation = str(field.type)
        if annotation in ("bool", "bool | None"):  # --flag / --no-flag; absent: the default
            parser.add_argument(
                flag,
                dest=field.name,
                action=argparse.BooleanOptionalAction,
                default=argparse.SUPPRESS,
                help=help_text,
            )
            continue
        optional = annotation.endswith("| None")
        choices = field.metadata.get("choices")
        metavar = field.name.upper()
        if choices:
            parse = _choice(choices, optional)
            metavar = "{" + ",".join([*choices, "none"] if optional else choices) + "}"
        else:
            parse = _PARSERS[annotation.replace(" | None", "")]
            if optional:
                parse = _optional(parse)
        parser.add_argument(
            flag,
            dest=field.name,
            type=parse,
            default=argparse.SUPPRESS,
            help=help_text,
            metavar=metavar,
        )


def build_parser() -> _Parser:
    """The ``a3c`` parser; ``parser.commands`` holds each command's parser."""
    parser = _Parser(
        prog="a3c", description="Asynchronous Advantage Actor-Critic on Gymnasium environments."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train an agent (or resume a run)")
    train.add_argument("env", nargs="?", help="Gymnasium environment id, e.g. CartPole-v1")
    train.add_argument(
        "--preset",
        help=f"bundled preset name or path to a TOML file ({', '.join(available_presets())}); "
        "default: the env id's own preset if there is one (unless --env-kwarg changes the env's "
        "family: then its registered twin's preset, else the family's), else the defaults of the "
        "env's family ('defaults' asks for those)",
    )
    train.add_argument(
        "--resume",
        metavar="RUN_DIR",
        help="continue a run from its newest checkpoint, in the same directory",
    )
    train.add_argument(
        "--env-kwarg",
        dest="env_kwargs",
        action="append",
        type=_env_kwarg,
        default=argparse.SUPPRESS,
        metavar="KEY=VALUE",
        help="keyword argument for gym.make (or the --env-maker callable), repeatable; VALUE "
        'is read as JSON (true, 0.5, [1, 2], "text"), else as a string; e.g. --env-kwarg '
        "continuous=true",
    )
    train.add_argument(
        "--env-maker",
        metavar="MODULE:NAME",
        help="a callable that makes the environment, instead of an id (e.g. mypkg.envs:make_env, "
        "found in the working directory too); its environment gets its family's defaults",
    )
    add_config_options(train)

    evaluate = commands.add_parser("eval", help="evaluate a checkpoint")
    evaluate.add_argument(
        "checkpoint", help="path to a .pt checkpoint, or a run directory (its newest checkpoint)"
    )
    evaluate.add_argument("--episodes", type=_int, default=10, help="episodes (default: 10)")
    # Neither: as the run evaluated (eval_deterministic: greedy, sampled for the image families).
    mode = evaluate.add_mutually_exclusive_group()
    as_run = "(default: either, as the run evaluated: its eval_deterministic)"
    stochastic = mode.add_argument(
        "--stochastic",
        dest="deterministic",
        action="store_false",
        default=None,
        help=f"sample actions {as_run}",
    )
    deterministic = mode.add_argument(
        "--deterministic",
        action="store_true",
        default=None,
        help=f"the most likely actions {as_run}",
    )
    evaluate.options += [stochastic, deterministic]  # a group's options: for "did you mean" too
    evaluate.add_argument("--env", help="evaluate on another environment id")
    evaluate.add_argument("--seed", type=_int, default=0, help="first episode's seed (default: 0)")
    evaluate.add_argument("--json", action="store_true", help="print the result as JSON")
    evaluate.add_argument(
        "--video",
        metavar="DIR",
        help="record the episodes played as MP4 videos in DIR, episode-<i>.mp4 (needs the video "
        'extra: pip install "a3c[video]")',
    )

    plot = commands.add_parser("plot", help="plot learning curves of run directories to PNG")
    plot.add_argument("runs", nargs="+", help="run directories")
    plot.add_argument(
        "--out",
        help="PNG path (default: RUN/learning_curve.png for one run, learning_curves.png in the "
        "folder that holds the runs for several)",
    )
    plot.add_argument(
        "--labels",
        help="comma-separated labels, one per run (default: the config fields that differ "
        "between the runs, e.g. seed=1, else the directory names)",
    )
    plot.add_argument(
        "--window", type=_int, default=100, help="episodes in the rolling mean (default: 100)"
    )
    plot.add_argument("--title", help="figure title (default: the environment id(s))")

    presets = commands.add_parser(
        "presets",
        help="list the bundled presets, or print one as TOML",
        description="Without NAME: every bundled preset, its description and the file it lives "
        "in. With NAME: that preset as TOML, to save in a file, edit and train with "
        "(a3c train ENV --preset FILE.toml).",
        epilog="example: a3c presets Pendulum-v1 > mine.toml; a3c train Pendulum-v1 --preset "
        "mine.toml",
    )
    presets.add_argument(
        "name",
        nargs="?",
        metavar="NAME",
        help="a preset's name, or an environment id for its own preset (ALE/Pong-v5 is the "
        "preset ALE-Pong-v5)",
    )
    tune = commands.add_parser(
        "tune",
        help="tune hyper-parameters with Optuna (the tune extra)",
        description="Optuna's TPE sampler over lr, n_steps, gamma, gae_lambda, ent_coef, vf_coef, "
        "max_grad_norm, envs_per_worker, network sizes, shared trunk, observation and advantage "
        "normalisation and optimizer (and the Gaussian policy's settings for Box actions); a "
        "median pruner on each trial's evaluations. The study is DIR/study.db: run the command "
        "again to add trials. Writes DIR/best.toml (a preset), DIR/report.md and Optuna's plots. "
        "Config options fix a field for every trial.",
        epilog="example: a3c tune Pendulum-v1 --trials 30 --budget 200000; a3c train Pendulum-v1 "
        "--preset tunes/Pendulum-v1/best.toml",
    )
    tune.add_argument("env", help="Gymnasium environment id")
    tune.add_argument("--trials", type=_int, required=True, help="trials to run now")
    tune.add_argument(
        "--budget", type=_int, default=200_000, help="steps per run (default: 200000)"
    )
    tune.add_argument("--seeds", type=_int, default=1, help="runs per trial (default: 1)")
    tune.add_argument("--dir", help="study directory (default: tunes/<env>)")
    tune.add_argument(
        "--preset", help="start from this preset (default: the env's own, else its family's)"
    )
    tune.add_argument("--timeout", type=_float, help="stop starting trials after these seconds")
    tune.add_argument(
        "--sampler-seed", type=_int, default=0, help="TPE sampler's seed (default: 0)"
    )
    add_config_options(tune)
    parser.commands.update(
        {"train": train, "eval": evaluate, "plot": plot, "presets": presets, "tune": tune}
    )
    return parser


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def join_negative_values(parser: _Parser, argv: Sequence[str]) -> list[str]:
    """``--lr -1e-3`` -> ``--lr=-1e-3`` for options that take a value: argparse takes a token
    that starts with '-' for an option unless it looks like a plain negative number, and
    scientific notation does not."""
    command = next((token for token in argv if not token.startswith("-")), None)
    sub = parser.commands.get(command or "")
    if sub is None:
        return list(argv)
    takes_value = set(sub.option_strings(takes_value=True))
    joined: list[str] = []
    tokens = iter(argv)
    for token in tokens:
        if token == "--":
            joined += [token, *tokens]
            break
        if token in takes_value:
            value = next(tokens, None)
            if value is not None and value.startswith("-") and _is_number(value):
                joined.append(f"{token}={value}")
                continue
            joined.append(token)
            if value is not None:
                joined.append(value)
            continue
        joined.append(token)
    return joined


def _unrecognized(sub: _Parser, extras: Sequence[str], config_options: bool) -> str:
    """Names the unknown options with the closest known one (or the field's flag when it is
    another library's name for one of ours, as --learning-rate for --lr)."""
    flags = sub.option_strings()
    unknown = [token.split("=", 1)[0] for token in extras if token.startswith("-")]
    if not unknown:
        return f"unrecognized arguments: {' '.join(extras)}"
    described = []
    for option in unknown:
        alias = closest_field(option.lstrip("-")) if config_options else None
        alias_flag = "--" + alias.replace("_", "-") if alias else None
        if alias_flag in flags:
            closest = [alias_flag]
        else:
            closest = difflib.get_close_matches(option, flags, n=1, cutoff=0.6)
        described.append(option + (f" (did you mean {closest[0]}?)" if closest else ""))
    return f"unrecognized option{'s' if len(unknown) > 1 else ''} {', '.join(described)}"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line as ``main`` reads it; exits 2 with a two-line message on bad input."""
    parser = build_parser()
    argv = join_negative_values(parser, sys.argv[1:] if argv is None else argv)
    args, extras = parser.parse_known_args(argv)
    if extras:
        sub = parser.commands[args.command]
        sub.error(_unrecognized(sub, extras, config_options=args.command == "train"))
    return args


def _train(args: argparse.Namespace, overrides: dict[str, Any]) -> int:
    from a3c.agent import A3C

    if args.resume:
        if args.env or args.preset or args.env_maker:
            raise ValueError(
                "--resume takes the environment and preset from the run; give other options only"
            )
        agent = A3C.resume(args.resume, **overrides)
        print(
            f"resuming {args.resume} at step {agent.global_step:,} of {agent.config.total_steps:,}",
            file=sys.stderr,
        )
    elif args.env_maker:
        if args.env:
            raise ValueError("give an environment id or --env-maker, not both")
        from a3c.envs import import_env_maker

        agent = A3C(import_env_maker(args.env_maker), args.preset, **overrides)
    else:
        if args.env is None and args.preset is None:
            raise ValueError("give an environment id (e.g. CartPole-v1), --preset, or --resume")
        agent = A3C(args.env, args.preset, **overrides)
    if not args.resume:
        if agent.config.family is not None:
            from a3c.families import describe

            env_id = agent.config.env_id
            if args.preset == FAMILY_DEFAULTS:
                why = f"{env_id} with --preset {FAMILY_DEFAULTS}"
            elif not args.env_maker and own_preset(env_id) is not None:
                why = f"{env_id}'s preset does not fit its env_kwargs (see the warning)"
            else:
                variants = variant_presets(env_id) if not args.env_maker else []
                why = f"no preset for {env_id}" + (
                    f" of its own (bundled for it: {', '.join(variants)}; --preset NAME)"
                    if variants
                    else ""
                )
            print(
                f"a3c: {why}: the defaults of the family {describe(agent.config.family)} "
                "(saved in config.json; options override them)",
                file=sys.stderr,
            )
        elif agent.config.preset is None and agent.config.value_based:
            print(
                f"a3c: no {agent.config.algo} preset for {agent.config.env_id}: the config "
                "defaults (the family defaults are A3C's; see `a3c train --help`)",
                file=sys.stderr,
            )
        import gymnasium as gym

        from a3c.frames import frame_shape
        from a3c.masks import MOVED_INTO_OBSERVATION
        from a3c.networks import takes_frames

        space = agent.observation_space
        if agent.config.action_mask in MOVED_INTO_OBSERVATION:  # the environment's own
            assert isinstance(space, gym.spaces.Dict)
            space = space["observation"]
        frames = frame_shape(space)
        if (
            frames is not None
            and takes_frames(space.shape or (), space.dtype)  # not a board that an MLP reads
            and frames[2] in (1, 3)  # four may be a stack already (or RGBA: not worth a guess)
            and agent.config.preprocess_frames == "none"
            and not agent.env_factory.is_atari
        ):
            height, width, channels = frames
            print(
                f"a3c: note: {agent.config.env_id}'s frames ({height}x{width}x{channels}) are read "
                "as they come, one at a time; --preprocess-frames grayscale (or color) gives them "
                "Atari's preprocessing: a frame skip, resized, stacked (see a3c.frames)",
                file=sys.stderr,
            )
        from a3c.networks import FiLM
        from a3c.spaces import WORD_BUCKETS, HashedWords, word_parts

        words = word_parts(space)
        if words:
            where = "whole" if words == [""] else ", ".join(words)
            # only a Dict's own parts ('mission'), not deeper ones, can --words left-out leave out
            top_level = isinstance(space, gym.spaces.Dict) and len(words) == sum(
                isinstance(part, HashedWords) for part in space.spaces.values()
            )
            # as the network was built: words beside other parts, and a hidden layer to condition
            film = any(isinstance(module, FiLM) for module in agent.model.modules())
            print(
                f"a3c: note: {agent.config.env_id}'s observations in words ({where}) are read as "
                f"a bag of their words and word pairs, hashed into {WORD_BUCKETS} numbers (see "
                "a3c.spaces)"
                + (
                    ", which scale and shift the first hidden layer's units (FiLM; "
                    "--word-conditioning input takes them in beside the other parts)"
                    if film
                    else ""
                )
                + ("; --words left-out leaves them out" if top_level else ""),
                file=sys.stderr,
            )
        mask = agent.config.action_mask
        if mask != "none":
            where = {
                "observation": "its observations' 'action_mask' part",
                "info": "info['action_mask']",
                "method": "its action_masks() method",
            }[mask]
            print(
                f"a3c: note: {agent.config.env_id} says which actions it allows, in {where}: "
                "the others are never taken (--action-mask none takes any)",
                file=sys.stderr,
            )
    from a3c.trainer import TrainingError, TrainingInterrupted

    try:
        agent.learn()
    except TrainingInterrupted as exc:
        print(f"\n{exc}\nresume with: a3c train --resume {agent.run_dir}", file=sys.stderr)
        return 128 + exc.signum
    except KeyboardInterrupt:  # a second Ctrl-C: stopped at once
        print(f"\ninterrupted; resume with: a3c train --resume {agent.run_dir}", file=sys.stderr)
        return 130
    except TrainingError as exc:
        print(f"a3c: error: {exc}", file=sys.stderr)
        return 1
    summary = agent.summary
    assert summary is not None
    print(json.dumps(summary.to_dict(), indent=2))
    print(f"run directory: {summary.run_dir}", file=sys.stderr)
    return 0


def _eval(args: argparse.Namespace) -> int:
    from a3c.agent import A3C
    from a3c.checkpoint import checkpoint_at
    from a3c.envs import EnvFactory, check_fits
    from a3c.evaluation import run_episodes

    path = checkpoint_at(args.checkpoint)  # a run directory that training printed: its newest
    if path != Path(args.checkpoint):
        print(f"a3c: evaluating {path}", file=sys.stderr)
    agent = A3C.load(path)
    factory = agent.env_factory
    if args.env:  # another id: its frames and words read as the agent learned to
        factory = EnvFactory(args.env, agent.config.env_module).with_observations_of(factory)
        if factory.spaces_differ(agent.env_factory):  # as evaluate_policy and A3C.load check
            check_fits(factory, agent.observation_space, agent.action_space)
    video_dir = None
    if args.video:
        from a3c.video import check_video_support

        check_video_support(factory)
        video_dir = Path(args.video)
    deterministic = (
        agent.config.eval_deterministic if args.deterministic is None else args.deterministic
    )
    result = run_episodes(
        agent.model,
        factory,
        args.episodes,
        deterministic,
        args.seed,
        video_dir=video_dir,
        video_names=[f"episode-{i}" for i in range(args.episodes)],
    )
    if args.json:
        print(
            json.dumps(
                {
                    "mean_return": result.mean,
                    "std_return": result.std,
                    "returns": result.returns.tolist(),
                    "lengths": result.lengths.tolist(),
                }
            )
        )
    else:
        print(
            f"{factory.env_id}: mean return {result.mean:.2f} +/- {result.std:.2f} over "
            f"{args.episodes} episodes ({'deterministic' if deterministic else 'stochastic'})"
        )
    if video_dir is not None:
        print(f"videos: {video_dir}/episode-<i>.mp4", file=sys.stderr)
    return 0


def _tune(args: argparse.Namespace) -> int:
    try:
        from a3c.tuning import tune
    except ImportError as exc:  # pragma: no cover - the tune extra missing
        raise ValueError(f'a3c tune needs Optuna ({exc}): pip install "a3c[tune]"') from exc
    own = {"command", "env", "trials", "budget", "seeds", "dir", "preset", "timeout"}
    fixed = {k: v for k, v in vars(args).items() if k not in own | {"sampler_seed"}}
    result = tune(
        args.env,
        args.trials,
        args.budget,
        args.seeds,
        args.dir,
        args.preset,
        args.sampler_seed,
        args.timeout,
        **fixed,
    )
    start = "-" if result.baseline_value is None else f"{result.baseline_value:.6g}"
    print(
        f"{result.trials} trials in {result.directory}/study.db; starting point {start}, "
        f"best {result.best_value:.6g}"
    )
    for path in result.files:
        print(f"  {path}")
    print(f"train with: a3c train {args.env} --preset {result.directory}/best.toml")
    return 0


def _plot(args: argparse.Namespace) -> int:
    from a3c.plots import default_output, plot_runs

    for run in args.runs:
        if not (Path(run) / "episodes.csv").exists():
            raise ValueError(f"{run} is not a run directory (no episodes.csv)")
    out = args.out or default_output(args.runs)
    labels = args.labels.split(",") if args.labels else None
    if labels is not None and len(labels) != len(args.runs):
        raise ValueError(f"--labels gives {len(labels)} labels for {len(args.runs)} runs")
    print(plot_runs(args.runs, out, labels, args.window, args.title))
    return 0


def _preset_file(name: str) -> Traversable:
    """The bundled preset ``name`` (or the preset of the environment id ``name``)."""
    names = available_presets()
    if name not in names and env_preset_name(name) in names:
        name = env_preset_name(name)
    if name not in names:
        variants = variant_presets(name)
        if variants:  # an id whose presets are all variants: those, not the whole list
            raise ValueError(
                f"{name} has no preset of its own; bundled for it: {', '.join(variants)}"
            )
        raise ValueError(f"unknown preset {name!r}: available: {', '.join(names)}")
    return resources.files("a3c") / "presets" / f"{name}.toml"


def _presets(args: argparse.Namespace) -> int:
    if args.name is None:
        names = available_presets()
        width = max(len(name) for name in names)
        for name in names:
            print(f"{name:{width}s}  {preset_description(name)}")
            print(f"{'':{width}s}  {_preset_file(name)}")
        return 0
    resource = _preset_file(args.name)
    name = resource.name.removesuffix(".toml")
    env = "" if "env_id" in load_preset(name) else " ENV"  # its env_id, if it has one, is the env
    text = resource.read_text()
    # Comments, so that what is printed is itself the TOML file to save: as it is, comments kept.
    print(f"# a3c preset {name}, from {resource}")
    print(f"# save as FILE.toml, edit, and train with: a3c train{env} --preset FILE.toml")
    print(text, end="" if text.endswith("\n") else "\n")
    return 0


def add_working_directory_to_path() -> None:
    """Put the working directory on ``sys.path`` (unless ``-P``/``PYTHONSAFEPATH`` asks not to),
    so that ``--env-module mypkg`` beside it is found, as ``python -m`` would find it: the ``a3c``
    console script would not see it. Last, not first as ``python -m`` puts it, so that a file
    there named like an installed package (``ray/``, ``tqdm.py``) shadows nothing. Worker
    processes inherit ``sys.path`` under every start method. Only the CLI does this; the library
    never changes ``sys.path``."""
    if getattr(sys.flags, "safe_path", False):
        return
    cwd = os.getcwd()
    if not any(os.path.abspath(entry or os.curdir) == cwd for entry in sys.path):
        sys.path.append(cwd)


def _issued_by_a3c(frame: FrameType | None) -> bool:
    """Whether ``frame``, or the first frame above it outside the warnings machinery, is a3c's
    code: who issued a warning (``stacklevel`` only changes where it is attributed)."""
    while frame is not None and frame.f_globals.get("__name__") in ("warnings", "_py_warnings"):
        frame = frame.f_back
    name = "" if frame is None else str(frame.f_globals.get("__name__", ""))
    return name == "a3c" or name.startswith("a3c.")


@contextlib.contextmanager
def one_line_warnings() -> Iterator[None]:
    """Within: a3c's own warnings print as one line, ``a3c: warning: <message>``, without the
    file and source line of Python's format; other libraries' warnings keep their usual form.
    (The library itself only calls ``warnings.warn``, so Python users can filter them.)"""
    shown_before = warnings.showwarning

    def show(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        caller = inspect.currentframe()
        if _issued_by_a3c(caller.f_back if caller is not None else None):
            print(f"a3c: warning: {message}", file=sys.stderr if file is None else file)
        else:
            shown_before(message, category, filename, lineno, file, line)

    with warnings.catch_warnings():  # restores showwarning on exit
        warnings.showwarning = show
        yield


def main(argv: Sequence[str] | None = None) -> int:
    add_working_directory_to_path()
    try:
        try:
            args = parse_args(argv)
            with one_line_warnings():
                return _run(args)
        finally:
            sys.stdout.flush()  # a closed pipe shows here, not in Python's flush at exit
    except BrokenPipeError:
        # The reader went away (`a3c presets | head`): stop quietly, with the status of a tool
        # that SIGPIPE ended. Python flushes stdout again at exit, so it goes to /dev/null.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE


def _run(args: argparse.Namespace) -> int:
    try:
        if args.command == "train":
            fixed = {"command", "env", "preset", "resume", "env_maker"}
            overrides = {k: v for k, v in vars(args).items() if k not in fixed}
            if "env_kwargs" in overrides:
                overrides["env_kwargs"] = dict(overrides["env_kwargs"])
            return _train(args, overrides)
        if args.command == "eval":
            return _eval(args)
        if args.command == "plot":
            return _plot(args)
        if args.command == "tune":
            return _tune(args)
        return _presets(args)
    except ValueError as exc:  # bad input: one line, no traceback
        print(f"a3c: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    warnings.simplefilter("default")
    sys.exit(main())
