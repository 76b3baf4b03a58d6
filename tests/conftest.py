"""Shared fixtures. TensorFlow's log settings must be in place before Keras is first imported."""

import os
import socket

from rnnbook.notebook import TF_ENVIRONMENT

os.environ.update(TF_ENVIRONMENT)

import keras  # noqa: E402  (after the environment is set)
import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def keras_seed():
    keras.utils.set_random_seed(7)
    return 7


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a network connection fails the test (offline data loaders)."""
    def refuse(*args, **kwargs):
        raise AssertionError("the code under test tried to use the network")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
