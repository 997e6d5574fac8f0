"""--wandb in W&B's offline mode: the run's files appear in the run directory, holding the same
metrics TensorBoard gets, the config and the learning curve; a resumed run continues the W&B run."""

import json
import time

import pytest
from helpers import small_run

from a3c import A3C

wandb_pb = pytest.importorskip("wandb.proto.wandb_internal_pb2", reason="no wandb extra")
event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")


def wandb_records(path):
    """The protobuf records of a ``.wandb`` file: W&B's 7-byte header, then LevelDB's log
    format (32 KiB blocks of records: checksum, length, type, data; large ones in pieces)."""
    data = path.read_bytes()
    assert data[:4] == b":W&B"
    pos, block, pieces = 7, 32_768, b""
    while pos + 7 <= len(data):
        left = block - pos % block
        if left < 7:  # a block's tail too short for a header: padding
            pos += left
            continue
        length = int.from_bytes(data[pos + 4 : pos + 6], "little")
        kind = data[pos + 6]
        payload = data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind == 1:  # whole
            whole = payload
        elif kind == 2:  # first piece
            pieces = payload
            continue
        elif kind == 3:  # middle
            pieces += payload
            continue
        elif kind == 4:  # last
            whole = pieces + payload
        else:
            break  # zeros: the end of what was written
        record = wandb_pb.Record()
        record.ParseFromString(whole)
        yield record


def key_of(item):
    return item.key or "/".join(item.nested_key)  # "loss/policy" comes as a nested key


def whole_run(log, timeout=30.0):
    """The records of a run's ``.wandb`` file once W&B's service has written all of it (its last
    record is the ``exit``): under load the file once lacked its last rows when ``finish()``
    had returned (4 eval rows of 6, in a full test run)."""
    deadline = time.monotonic() + timeout
    while True:
        records = list(wandb_records(log))
        ended = records and records[-1].WhichOneof("record_type") == "exit"
        if ended or time.monotonic() > deadline:
            return records
        time.sleep(0.2)


def read_wandb_run(run_dir):
    (offline,) = sorted((run_dir / "wandb").glob("offline-run-*"))[-1:]
    (log,) = offline.glob("run-*.wandb")
    records = whole_run(log)
    history, config = [], {}
    for record in records:
        kind = record.WhichOneof("record_type")
        if kind == "history":
            history.append(
                {key_of(item): json.loads(item.value_json) for item in record.history.item}
            )
        elif kind in ("config", "run"):  # the config comes with the run record, then updates
            updates = record.config.update if kind == "config" else record.run.config.update
            config.update({key_of(item): json.loads(item.value_json) for item in updates})
    return offline, history, config


def tensorboard_tags(run_dir):
    accumulator = event_accumulator.EventAccumulator(str(run_dir / "tb"))
    accumulator.Reload()
    return set(accumulator.Tags()["scalars"])


def test_offline_wandb_gets_what_tensorboard_gets(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    settings = small_run(tmp_path, total_steps=6_000, tensorboard=True, run_name="r")
    agent = A3C("CartPole-v1", wandb=True, wandb_project="a3c-tests", **settings).learn()
    offline, history, config = read_wandb_run(agent.run_dir)

    logged = {key for row in history for key in row} - {"global_step", "_step", "_runtime"}
    logged = {key for key in logged if not key.startswith(("_", "learning_curve"))}
    assert logged == tensorboard_tags(agent.run_dir) and "loss/policy" in logged
    # Every scalar row carries the global step it belongs to (W&B's x-axis for them).
    scalars = [row for row in history if not any(k.startswith("learning_curve") for k in row)]
    assert all("global_step" in row for row in scalars)
    eval_rows = [row for row in scalars if "eval/mean_return" in row]
    evals = (agent.run_dir / "eval.csv").read_text().splitlines()[1:]
    assert len(eval_rows) == len(evals)
    assert config["lr"] == agent.config.lr and config["env_id"] == "CartPole-v1"
    assert any("learning_curve/path" in row for row in history)
    images = list((offline / "files" / "media" / "images").glob("learning_curve_*.png"))
    assert len(images) == 1 and images[0].read_bytes()[:4] == b"\x89PNG"

    # Resumed: the same W&B run (its id), a new offline segment.
    run_id = (agent.run_dir / "wandb-run-id.txt").read_text().strip()
    assert offline.name.endswith(run_id)
    A3C.resume(agent.run_dir, total_steps=9_000).learn()
    segments = sorted((agent.run_dir / "wandb").glob("offline-run-*"))
    assert len(segments) == 2 and all(s.name.endswith(run_id) for s in segments)


def test_wandb_without_the_package_is_one_clear_line(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_wandb(name, *args, **kwargs):
        if name == "wandb":
            raise ImportError("No module named 'wandb'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_wandb)
    agent = A3C("CartPole-v1", wandb=True, **small_run(tmp_path, backend="sync"))
    with pytest.raises(ValueError, match=r'pip install "a3c\[wandb\]"'):
        agent.learn()
