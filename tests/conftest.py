"""Shared test set-up: ``@pytest.mark.dataset("mnist")`` skips a test when the cache lacks MNIST."""

import pytest

from scratchml.data.cache import available, cache_dir


def pytest_runtest_setup(item):
    for mark in item.iter_markers(name="dataset"):
        for name in mark.args:
            if not available(name):
                pytest.skip(f"dataset {name!r} is not in the cache {cache_dir()} "
                            f"(set SCRATCHML_DATA to a folder that has it)")
