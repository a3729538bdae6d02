"""The API key file, the loopback rule and the request limits' own checks."""

from __future__ import annotations

import pytest

from hybridsearch.errors import InvalidInputError
from hybridsearch.server import Limits
from hybridsearch.server.failures import scrub_paths, status_of
from hybridsearch.server.security import check_bind, is_loopback, key_matches, read_api_key


def test_read_api_key(tmp_path):
    path = tmp_path / "key"
    path.write_text("  0123456789abcdef0123  \nignored\n")
    assert read_api_key(path) == "0123456789abcdef0123"
    path.write_text("short\n")
    with pytest.raises(InvalidInputError, match="5 characters; expected at least 16"):
        read_api_key(path)
    with pytest.raises(InvalidInputError, match="cannot read the API key file"):
        read_api_key(tmp_path / "missing")


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.1.2.3", True), ("::1", True), ("localhost", True),
     ("0.0.0.0", False), ("192.168.1.5", False), ("::", False), ("example.com", False)],
)  # fmt: skip
def test_only_loopback_binds_without_a_key(host, loopback):
    assert is_loopback(host) is loopback
    if loopback:
        check_bind(host, None)
    else:
        with pytest.raises(InvalidInputError, match="--api-key-file"):
            check_bind(host, None)
    check_bind(host, "0123456789abcdef")


def test_key_matches():
    assert key_matches("0123456789abcdef", "0123456789abcdef")
    assert not key_matches("0123456789abcdef", "0123456789abcdeF")
    assert not key_matches("0123456789abcdef", None)


def test_limits_are_checked_when_made():
    with pytest.raises(InvalidInputError, match="max_k"):
        Limits(max_k=0)


def test_paths_are_scrubbed_from_messages():
    message = "cannot read /tmp/x/index/segments/3.npy or C:\\data\\idx nor ./a/b (k=3/4)"
    assert scrub_paths(message) == "cannot read <path> or <path> nor <path> (k=3/4)"
    assert status_of(RuntimeError()) == 500
