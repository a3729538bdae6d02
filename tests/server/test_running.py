"""``hybridsearch serve`` for real: a uvicorn process on a free loopback port, stopped by
SIGTERM; and the options it refuses before starting anything."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from tests.server.conftest import KEY


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_ready(base: str, process: subprocess.Popen, log, timeout_s: float = 240) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            if httpx.get(f"{base}/health/ready", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail("the server did not become ready")


def test_serve_answers_over_http_and_stops_gracefully(index_path, model_path, tmp_path):
    import httpx

    from hybridsearch import HybridIndex

    key_file = tmp_path / "key"
    key_file.write_text(KEY + "\n")
    port = _free_port()
    command = [sys.executable, "-m", "hybridsearch", "serve", "--index", str(index_path),
               "--port", str(port), "--api-key-file", str(key_file), "--open-reads"]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": os.getcwd()}
    log = tmp_path / "server.log"  # a file, not a pipe: a full pipe would block the server
    with open(log, "w") as log_file:
        process = subprocess.Popen(command, env=env, stderr=log_file, stdout=log_file)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base, process, log)
        hits = httpx.post(f"{base}/search", json={"query": "honey", "k": 1}).json()["hits"]
        assert hits[0]["doc_id"] == "bee"
        helpers = _concurrent_searches_use_the_response_helper(base, process.pid)
        eel = {"documents": [{"id": "eel", "text": "Eels are long fish."}]}
        assert httpx.post(f"{base}/documents", json=eel).status_code == 401
        added = httpx.post(f"{base}/documents", json=eel, headers={"X-API-Key": KEY})
        assert added.json()["generation"] == 2

        # A write in flight when SIGTERM arrives: acknowledged if and only if committed.
        outcome: dict[str, object] = {}

        def late_write() -> None:
            body = {"documents": [{"id": "pike", "text": "Pike are predatory fish."}]}
            try:
                response = httpx.post(
                    f"{base}/documents", json=body, headers={"X-API-Key": KEY}, timeout=120
                )
                outcome["status"] = response.status_code
            except httpx.HTTPError as error:
                outcome["error"] = error

        writer = threading.Thread(target=late_write)
        writer.start()
        time.sleep(0.3)
        process.send_signal(signal.SIGTERM)
        writer.join(120)
        # uvicorn re-raises the signal once it has shut down gracefully (so supervisors see
        # how the process ended): its log says the shutdown completed.
        assert process.wait(timeout=120) in (0, -signal.SIGTERM)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    stderr = log.read_text()
    assert "Traceback" not in stderr, stderr
    assert "Application shutdown complete" in stderr, stderr
    # The helper and multiprocessing's resource tracker end with the server (the tracker
    # when it reads the end of its pipe, a moment later).
    assert not [helper for helper in helpers if _still_running(helper, timeout_s=30)]
    # The lock is released, and the index holds exactly what was acknowledged.
    with HybridIndex.open(index_path, model=model_path) as reopened:
        assert reopened.document("eel").text == "Eels are long fish."
        held = {document.id for document in reopened.documents()}
        assert ("pike" in held) == (outcome.get("status") == 200), outcome


def _concurrent_searches_use_the_response_helper(base: str, server_pid: int) -> list:
    """Send searches at once until a batch's bodies come from the response helper process
    (spawned by the ``python -m hybridsearch serve`` process); each body is the lone
    search's. Returns the server's child processes."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx
    import psutil

    queries = ["honey", "night birds", "ponds", "mice", "bark and fetch"]

    def body(query: str) -> bytes:
        return httpx.post(f"{base}/search", json={"query": query, "k": 2}, timeout=60).content

    alone = [body(query) for query in queries]
    deadline = time.monotonic() + 120
    with ThreadPoolExecutor(len(queries)) as pool:
        while httpx.get(f"{base}/stats").json()["search_batching"]["built_aside"] == 0:
            assert time.monotonic() < deadline, "the response helper built no body"
            assert list(pool.map(body, queries)) == alone
    return psutil.Process(server_pid).children(recursive=True)


def _still_running(process, timeout_s: float) -> bool:
    """Whether ``process`` is still running (not ended, nor a zombie) after ``timeout_s``."""
    import psutil

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                return False
        except psutil.NoSuchProcess:
            return False
        if time.monotonic() > deadline:
            return True
        time.sleep(0.05)


def test_serve_refuses_a_public_address_without_a_key(index_path, capsys, tmp_path):
    from hybridsearch.cli.main import main

    status = main(["serve", "--index", str(index_path), "--host", "0.0.0.0"])
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert status == 1 and error.startswith("error: --host 0.0.0.0 is not a loopback")
    short = tmp_path / "short"
    short.write_text("secret\n")
    status = main(["serve", "--index", str(index_path), "--api-key-file", str(short)])
    assert status == 1 and "at least 16" in capsys.readouterr().err
    status = main(["serve", "--index", str(tmp_path / "nothing")])
    assert status == 1 and "nothing" in capsys.readouterr().err
