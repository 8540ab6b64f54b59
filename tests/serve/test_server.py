"""Starting the service: the CLI refuses a bad model with one line, and the per-process app factory
used with ``--workers N`` rebuilds the same settings from the environment."""

import json

import pytest
from fastapi.testclient import TestClient

from scratchml.cli.main import main
from scratchml.serve import server
from scratchml.serve.config import ServeConfig
from scratchml.translate.checkpoint import save_model_dir


@pytest.fixture(autouse=True)
def keep_logging_as_is(monkeypatch):
    """``serve`` configures the process's logging; leave the test session's capture alone."""
    monkeypatch.setattr(server, "setup_logging", lambda: None)


def test_a_missing_model_is_one_line_and_exit_1(tmp_path, capsys):
    assert main(["nmt", "serve", "--model", str(tmp_path / "nope"), "--port", "0"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not exist" in err


def test_a_bad_setting_is_one_line_and_exit_1(tmp_path, capsys):
    assert main(["nmt", "serve", "--model", str(tmp_path), "--max-texts", "0"]) == 1
    assert "max_texts must be >= 1" in capsys.readouterr().err


def test_worker_processes_build_their_app_from_the_environment(translator, tmp_path, monkeypatch):
    save_model_dir(tmp_path / "m", translator.model, translator.tokenizer, {})
    cfg = ServeConfig(max_texts=2, batching=False, allowed_hosts=("testserver",))
    monkeypatch.setenv(server.ENV, json.dumps({"model": str(tmp_path / "m"), **cfg.to_dict()}))
    with TestClient(server.app_from_env()) as client:  # its Host header: "testserver"
        health = client.get("/healthz").json()
        assert health["batching"]["enabled"] is False
        assert health["model"]["name"] == "m" and str(tmp_path) not in json.dumps(health)  # no server paths
        assert client.post("/v1/translate", json={"texts": ["a", "b", "c"]}).status_code == 422
        assert client.get("/healthz", headers={"host": "localhost"}).status_code == 421  # only "testserver"


def test_the_address_bound_to_is_served_besides_the_loopback_names():
    cfg = ServeConfig()
    assert cfg.allowed_hosts == ("127.0.0.1", "localhost", "::1")
    assert cfg.with_host("10.1.2.3").allowed_hosts == ("127.0.0.1", "localhost", "::1", "10.1.2.3")
    assert cfg.with_host("0.0.0.0") == cfg and cfg.with_host("[::1]") == cfg
    assert ServeConfig(allowed_hosts=("[::1]", " Example.ORG ")).allowed_hosts == ("::1", "example.org")
