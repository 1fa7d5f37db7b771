"""Pytest fixtures of the registry tests (imported by them): the fixture
package set in the store, the servers' environment and the wrapper, made
once per session."""

import pytest

from registry_support import fixture_in_store, server_environment, wrapper


@pytest.fixture(scope="session")
def fixture():
    return fixture_in_store()


@pytest.fixture(scope="session")
def env(fixture):
    return server_environment(fixture)


@pytest.fixture(scope="session")
def build_command():
    return wrapper()
