import logging
import os
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
sys.path.insert(0, str(TESTS))


@pytest.fixture(scope="session")
def local_ray():
    """One local Ray for the tests that run Ray in this process, as a user's script that called
    ``ray.init`` would: the ray backend uses a Ray that is running and leaves it running.
    Starting and stopping one costs about 6 s a test. Tests that check how the backend starts its
    own Ray, or that need environment variables in Ray's workers, do not take this fixture."""
    ray = pytest.importorskip("ray")
    # Ray's workers import the test environments' modules (as a user's script would ship its own
    # through the runtime environment).
    paths = [str(TESTS), str(TESTS / "fixtures"), *filter(None, [os.environ.get("PYTHONPATH")])]
    ray.init(
        address="local",
        num_cpus=os.cpu_count(),
        include_dashboard=False,
        logging_level=logging.WARNING,
        runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(paths)}},
    )
    yield ray
    ray.shutdown()


def pytest_collection_modifyitems(config, items):
    # The tests that share the local Ray run last: its processes then never sit beside the other
    # tests, no test forks a process with Ray's threads in it, and the tests that start a Ray of
    # their own (the backend's own, `ray start`) find none running here.
    items.sort(key=lambda item: "local_ray" in getattr(item, "fixturenames", ()))
