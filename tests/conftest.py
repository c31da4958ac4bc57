"""Shared pytest fixtures."""

import random
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import FakeHub, write_aihub_ini

from toolchain.deploy.aihub import CONFIG_ENV

PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


@pytest.fixture
def shared_dir() -> Path:
    """The read-only ``shared`` folder beside the repository root; skips the test if absent."""
    path = Path(__file__).resolve().parents[2] / "shared"
    if not path.is_dir():
        pytest.skip(f"shared data folder {path} not found")
    return path


@pytest.fixture(autouse=True)
def _isolated_rng() -> Iterator[None]:
    """Seed torch with 0 for each test; afterwards restore every global RNG a test can draw from.

    That is torch's CPU generator (and the CUDA ones when CUDA is up), numpy's legacy global
    state and Python's ``random``, so no test's draws depend on which tests ran before it.
    """
    python_state = random.getstate()
    numpy_state = np.random.get_state()
    torch_state = torch.random.get_rng_state()
    cuda_states = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    torch.manual_seed(0)
    try:
        yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)
        torch.random.set_rng_state(torch_state)
        if cuda_states is not None:
            torch.cuda.set_rng_state_all(cuda_states)


@pytest.fixture
def aihub_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty HOME, no QAIHUB_CLIENT_INI, no proxies: nothing from the real user's setup leaks in."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    return home


@pytest.fixture
def listener() -> Iterator[int]:
    """A listening TCP socket on 127.0.0.1 (connects succeed from the backlog; nothing is served)."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    try:
        yield server.getsockname()[1]
    finally:
        server.close()


@pytest.fixture
def fake_hub(aihub_home: Path, listener: int, monkeypatch: pytest.MonkeyPatch) -> Callable[..., FakeHub]:
    """qai_hub with its REST layer faked and any real HTTP request turned into a test failure.

    A configured client.ini points at a local listener (so the reachability check passes); call
    the fixture (``fake_hub(fail="compile", reason=...)``) to install a :class:`FakeHub`.
    """
    qai_hub = pytest.importorskip("qai_hub")
    import requests

    def no_http(*args, **kwargs):
        raise AssertionError("a test tried a real HTTP request")

    monkeypatch.setattr(requests.Session, "send", no_http)
    write_aihub_ini(aihub_home / ".qai_hub" / "client.ini", f"http://127.0.0.1:{listener}")

    def install(**kwargs) -> FakeHub:
        fake = FakeHub(qai_hub.public_api_pb2, **kwargs)
        for name in (
            "get_device_list",
            "create_and_upload_model",
            "create_compile_job",
            "create_inference_job",
            "get_job",
            "get_job_results",
        ):
            monkeypatch.setattr(qai_hub.public_rest_api, name, getattr(fake, name))
        return fake

    return install
