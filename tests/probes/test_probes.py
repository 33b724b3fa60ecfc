"""The spec's probes, driven for real over HTTP: the generic load runner against a small app
(not chirp: a few routes of its own, token-protected, JSON and multipart), then the read-back
against a second instance that lacks some of the writes, which must be counted exactly."""

from __future__ import annotations

import io
import itertools
import json
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from flask import Flask, abort, jsonify, request
from pydantic import ValidationError
from werkzeug.serving import make_server

from migrate.errors import InputError
from migrate.probes.load import read_events, run_load
from migrate.probes.readback import read_back
from migrate.probes.template import json_path, render, render_string
from migrate.spec.probes import Probes
from tests.engine.helpers import free_loopback_address

PROBES = yaml.safe_load(
    """
setup:
  - {method: POST, path: /api/login, body: {user: "probe-{run}"}, ok: [200], capture: {session: $.session}}
write:
  method: POST
  path: /api/notes
  headers: {Authorization: "Bearer {env:NOTES_TOKEN}", X-Session: "{session}"}
  body: {text: "note #{seq} {token}", n: "{seq}"}
  ok: [201]
  capture: {id: $.note.id}
upload:
  every: 3
  method: POST
  path: /api/notes
  headers: {Authorization: "Bearer {env:NOTES_TOKEN}", X-Session: "{session}"}
  form: {text: "upload #{seq} {token}"}
  file: {field: picture}
  ok: [201]
  capture: {id: $.note.id, blob: $.note.blob}
  read: {path: "/api/blobs/{blob}", ok: [200]}
read:
  path: /api/notes/{id}
  headers: {Authorization: "Bearer {env:NOTES_TOKEN}"}
  ok: [200]
  expect: "{token}"
"""
)
TOKEN = "s3cr3t-notes-token"


def notes_app(store: dict[str, Any]) -> Flask:
    app = Flask("notes")

    def authorized() -> None:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            abort(401)

    @app.post("/api/login")
    def login() -> Any:
        return jsonify(session=f"s-{request.get_json()['user']}")

    @app.post("/api/notes")
    def create() -> Any:
        authorized()
        if not request.headers.get("X-Session", "").startswith("s-probe-"):
            abort(403)
        note_id = next(store["ids"])
        if request.files:
            blob = f"b{note_id}"
            store["blobs"][blob] = request.files["picture"].read()
            store["notes"][note_id] = {"id": note_id, "text": request.form["text"], "blob": blob}
        else:
            body = request.get_json()
            assert isinstance(body["n"], int)  # "{seq}" alone keeps its type
            store["notes"][note_id] = {"id": note_id, "text": body["text"]}
        return jsonify(note=store["notes"][note_id]), 201

    @app.get("/api/notes/<int:note_id>")
    def show(note_id: int) -> Any:
        authorized()
        if note_id not in store["notes"]:
            abort(404)
        return jsonify(store["notes"][note_id])

    @app.get("/api/blobs/<blob>")
    def blob(blob: str) -> Any:
        if blob not in store["blobs"]:
            abort(404)
        return store["blobs"][blob], 200, {"Content-Type": "image/png"}

    return app


@pytest.fixture
def serve() -> Iterator[Any]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    servers = []

    def start(store: dict[str, Any]) -> str:
        server = make_server(free_loopback_address(), 0, notes_app(store), threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://{server.host}:{server.port}"

    yield start
    for server in servers:
        server.shutdown()


def new_store() -> dict[str, Any]:
    return {"ids": itertools.count(1), "notes": {}, "blobs": {}}


def test_the_load_runner_writes_through_the_api_and_the_read_back_counts_exactly_what_b_lacks(
    serve: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOTES_TOKEN", TOKEN)
    a = new_store()
    url_a = serve(a)
    out = io.StringIO()
    stop = threading.Event()
    probes = Probes.model_validate(PROBES)
    config = {"base_url": url_a, "host": "notes.test", "rate": 40, "probes": probes.model_dump(mode="json")}
    started = time.monotonic()
    run_load(config, out, stop, duration=1.5)
    assert time.monotonic() - started < 5
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    run = events[0]["run"]
    acks = [e for e in events if e["event"] == "ack"]
    assert len(acks) >= 20 and not [e for e in events if e["event"] == "error"]
    uploads = [e for e in acks if e["kind"] == "upload"]
    assert uploads and all(e["seq"] % 3 == 2 for e in uploads)
    assert len(a["notes"]) == len(acks) and len(a["blobs"]) == len(uploads)
    assert TOKEN not in out.getvalue()  # the header secret is sent, never recorded

    # B: a copy of A without two notes and without one upload's blob (its note is there).
    b: dict[str, Any] = {"ids": itertools.count(10_000), "notes": dict(a["notes"]), "blobs": dict(a["blobs"])}
    gone = [acks[0], acks[5]]
    for ack in gone:
        del b["notes"][ack["values"]["id"]]
    kept_upload = next(u for u in uploads if u not in gone)
    del b["blobs"][kept_upload["values"]["blob"]]
    checked = read_back(probes, acks, base_url=serve(b), host="notes.test", run=run)
    assert sorted(e["seq"] for e in checked.lost) == sorted(e["seq"] for e in gone)
    assert kept_upload in checked.uploads_lost
    assert checked.errors.get("HTTP 404", 0) >= 3

    # A note whose text differs on B (not the write that was acknowledged) is lost too.
    b["notes"][acks[1]["values"]["id"]] = {"id": acks[1]["values"]["id"], "text": "something else"}
    rechecked = read_back(probes, acks[:3], base_url=serve(b), host="notes.test", run=run)
    assert [e["seq"] for e in rechecked.lost] == [acks[0]["seq"], acks[1]["seq"]]


def test_a_target_that_is_down_shows_as_errors_not_silence(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTES_TOKEN", TOKEN)
    config = {"base_url": f"http://{free_loopback_address()}:9", "rate": 20, "probes": PROBES}
    out = tmp_path / "load.jsonl"
    with out.open("a") as fh:
        run_load(config, fh, threading.Event(), duration=0.5)
    events = read_events(out)
    errors = [e for e in events if e["event"] == "error"]
    assert errors and all(e["kind"] == "setup" and e["error"].startswith("setup 1:") for e in errors)


def test_templates() -> None:
    values = {"seq": 7, "token": "t", "run": "r"}
    assert render({"n": "{seq}", "s": "#{seq}-{token}", "l": ["{{literal}}"]}, values) == {
        "n": 7,
        "s": "#7-t",
        "l": ["{literal}"],
    }
    with pytest.raises(InputError, match=r"no value \{id\}"):
        render_string("/posts/{id}", values)
    with pytest.raises(InputError, match="headers only"):
        render_string("{env:HOME}", values)
    assert json_path({"a": [{"b": 3}]}, "$.a[0].b") == 3
    with pytest.raises(KeyError):
        json_path({"a": []}, "$.a[0]")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"write": {"path": "/x", "body": {"t": "{env:SECRET}"}, "capture": {"id": "$.id"}}}, "headers only"),
        ({"write": {"path": "/x"}}, "created object's id"),
        ({"write": {"path": "x", "capture": {"id": "$.id"}}}, "must start with /"),
        ({"write": {"path": "/x", "capture": {"id": "id"}}}, "not a JSON path"),
        ({"upload": {"path": "/x"}}, "sends a file"),
    ],
)
def test_bad_probes_are_refused_with_the_reason(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Probes.model_validate({**PROBES, **change})


def test_the_runner_gets_only_the_variables_its_headers_name(monkeypatch: pytest.MonkeyPatch) -> None:
    from migrate.failover.drill_actions import _runner_env
    from migrate.spec.loader import load_spec
    from tests.conftest import CHIRP_SPEC

    spec = load_spec(CHIRP_SPEC)
    spec.probes = Probes.model_validate(PROBES)
    monkeypatch.setenv("NOTES_TOKEN", TOKEN)
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "state-passphrase")
    env = _runner_env(spec)
    assert env["NOTES_TOKEN"] == TOKEN and "PULUMI_CONFIG_PASSPHRASE" not in env and "PATH" in env
