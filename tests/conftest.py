import logging
import os
import re
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
sys.path.insert(0, str(TESTS))

if os.environ.get("PYTEST_XDIST_WORKER"):
    # One pytest-xdist worker per core: torch's intra-op threads in each (one per core by
    # default) would oversubscribe the cores, as A3C's workers would (a3c's backends set one
    # thread while they train, not around the evaluations and tests that run in-process).
    import torch

    torch.set_num_threads(1)


@pytest.fixture
def local_ray():
    """A local Ray for the tests that run Ray in this process, as a user's script that called
    ``ray.init`` would: the ray backend uses a Ray that is running and leaves it running.
    Successive tests share one (starting and stopping one costs about 6 s a test); it stops after
    the last of them (``pytest_runtest_teardown``). Tests that check how the backend starts its
    own Ray, or that need environment variables in Ray's workers, do not take this fixture."""
    ray = pytest.importorskip("ray")
    if not ray.is_initialized():
        # Ray's workers import the test environments' modules (as a user's script would ship its
        # own through the runtime environment).
        paths = [str(TESTS), str(TESTS / "fixtures"), *filter(None, [os.environ.get("PYTHONPATH")])]
        ray.init(
            address="local",
            num_cpus=os.cpu_count(),
            include_dashboard=False,
            logging_level=logging.WARNING,
            runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(paths)}},
        )
    return ray


def shares_local_ray(item: pytest.Item | None) -> bool:
    return item is not None and "local_ray" in getattr(item, "fixturenames", ())


def uses_ray(item: pytest.Item) -> bool:
    return item.get_closest_marker("ray") is not None or shares_local_ray(item)


def names_ray(nodeid: str) -> bool:
    """Whether a test's id says "ray" as a word (test_ray.py, ..._on_ray, [ray])."""
    return re.search(r"(?<![a-z])ray(?![a-z])", nodeid.lower()) is not None


def pytest_collection_modifyitems(config, items):
    # The slow tests first (under `-n`, a long test last would leave one worker working alone at
    # the end), then the rest, then the tests that run Ray: those that start a Ray of their own
    # (the backend's own, `ray start`) before those sharing the local Ray, so they find none
    # running. In one process (no `-n`) no test then forks with Ray's threads in it (ten native
    # threads outlive ray.shutdown). Under `-n` the Ray tests go first all the same, to one
    # worker (RayInTurn), which takes no other test after them.
    for item in items:
        if uses_ray(item) and not names_ray(item.nodeid):
            raise pytest.UsageError(
                f"{item.nodeid} runs Ray: say ray in its name, so that pytest-xdist's workers "
                "run it in turn with the other Ray tests (tests/conftest.py, RayInTurn)"
            )

    def order(item: pytest.Item) -> int:
        if uses_ray(item):
            return 3 if shares_local_ray(item) else 2
        return 0 if item.get_closest_marker("slow") is not None else 1

    items.sort(key=order)


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist's, which may not be installed
def pytest_xdist_auto_num_workers(config):
    """`-n auto`: a worker per core, and one more for the Ray tests (RayInTurn), which mostly wait
    on Ray's start-ups and actors. PYTEST_XDIST_AUTO_NUM_WORKERS still decides where it is set."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS") or not hasattr(os, "sched_getaffinity"):
        return None  # xdist's own count
    config.a3c_ray_worker_added = True
    return len(os.sched_getaffinity(0)) + 1


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist's, which may not be installed
def pytest_xdist_make_scheduler(config, log):
    """Under `pytest -n N`, pytest-xdist's load scheduling, except that the tests whose ids say
    ray are one unit of work: one worker runs them one after another, and first, since xdist
    sends the largest units first. Two Rays side by side would each size themselves to the whole
    machine, and `ray stop --force` ends every Ray on it. That worker then takes no other test
    (where there are others; alone, it runs the Ray tests last, as without `-n`): a
    process where Ray has run keeps Ray's native threads (gRPC's among them), and a fork there is
    unsafe (gRPC's fork support is off; seen in CI: every process forked by a later test killed
    by SIGSEGV). (The scheduler sees only test ids, not marks; xdist's own `--dist loadgroup`
    does not group under pytest 9.2, pytest-xdist issue 1386.)"""
    if config.getvalue("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class RayInTurn(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return "ray" if names_ray(nodeid) else nodeid

        def schedule(self) -> None:
            if self.collection is None and getattr(config, "a3c_ray_worker_added", False):
                collection = next(iter(self.registered_collections.values()), [])
                if len(self.nodes) > 1 and not any(names_ray(nodeid) for nodeid in collection):
                    node, _ = self.assigned_work.popitem()  # no Ray test: no worker for them
                    node.shutdown()
            super().schedule()

        def _assign_work_unit(self, node) -> None:
            if len(self.nodes) < 2:  # one worker does it all: the Ray tests last, then
                if "ray" in self.workqueue:
                    self.workqueue.move_to_end("ray")
                super()._assign_work_unit(node)
            elif "ray" not in self.assigned_work.get(node, {}):
                super()._assign_work_unit(node)
                if "ray" in self.assigned_work[node]:
                    # The Ray tests are all queued on it: the worker runs them, then ends.
                    node.shutdown()

    return RayInTurn(config, log)


def pytest_runtest_teardown(item, nextitem):
    # The local Ray stops after the last test that shares it: a test that starts a Ray of its
    # own finds none running, and Ray's processes do not sit beside the tests that follow.
    if shares_local_ray(item) and not shares_local_ray(nextitem):
        ray = sys.modules.get("ray")
        if ray is not None and ray.is_initialized():
            ray.shutdown()
