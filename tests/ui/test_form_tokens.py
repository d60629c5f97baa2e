"""The web UI's form token is bound to the browser's session: an HMAC, with a server secret, of
the session id (and of the signed-in key), checked in constant time. So a token an attacker
chose, planted in a cookie and sent in the form (the double-submit pattern's weakness: a
sibling site or a network attacker can set cookies), is refused, and so is a real token from
another session, even with that session's cookie planted beside it. Through the app in process;
tests/ui/test_browser_writes.py drives the real flow in Chromium."""

from __future__ import annotations

import copy
import logging
import re
import stat
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from model_service.config import SettingsError, load_settings
from model_service.server.app import create_app
from model_service.server.ui.session import load_secret
from tests.api.auth_helpers import BOOTSTRAP, issue
from tests.conftest import make_settings

from .test_pages import register, token
from .test_pages_signed_in import sign_in

FORGED = "A" * 43  # what the attacker puts in the cookie and in the form alike
SECRET = "s" * 40
COOKIES = ("ms_csrf", "ms_session", "__Host-ms_session")  # every name a form token was or is kept under


def plant(client: TestClient, host: str, value: str) -> None:
    """The attacker's cookies in the victim's browser, under every name the UI reads, as a sibling
    site or a man in the middle of plain HTTP can set them (``host``: as the cookie jar names the
    site; a name without a dot, ``testserver``, is ``testserver.local`` to it)."""
    for name in COOKIES:
        client.cookies.set(name, value, domain=host, path="/ui" if not name.startswith("__Host-") else "/")


def description(client: TestClient, model_id: str) -> str:
    return client.get(f"/api/v1/models/{model_id}", headers={"X-API-Key": BOOTSTRAP}).json()["description"]


def edit(client: TestClient, model_id: str, form_token: str, text: str = "pwned"):
    return client.post(f"/ui/models/{model_id}/edit", data={"csrf": form_token, "description": text, "tags": ""},
                       follow_redirects=False)


# ---- authentication off --------------------------------------------------------------------------

def test_a_forged_token_pair_is_refused(client):
    model_id = register(client, description="as it was")["model_id"]
    plant(client, "testserver.local", FORGED)  # the browser never got a page of its own: the attacker's cookie only
    forged = edit(client, model_id, FORGED)
    assert forged.status_code == 403 and "The form has expired" in forged.text
    assert description(client, model_id) == "as it was"

    client.get("/ui")  # a page gives the browser a session of its own: the forged token is refused still
    plant(client, "testserver.local", FORGED)
    assert edit(client, model_id, FORGED).status_code == 403
    assert description(client, model_id) == "as it was"


def test_the_real_token_of_the_session_passes(client):
    model_id = register(client, description="as it was")["model_id"]
    page = client.get(f"/ui/models/{model_id}").text
    assert edit(client, model_id, token(page), "changed").status_code == 303
    assert description(client, model_id) == "changed"


def test_over_http_the_session_cookie_is_scoped_to_the_ui(client):
    response = client.get(f"/ui/models/{register(client)['model_id']}")
    cookie = next(value for name, value in response.headers.multi_items()
                  if name == "set-cookie" and value.startswith("ms_session="))
    flags = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite=strict", "path=/ui"} <= flags and not any(f.startswith("domain") for f in flags)
    assert re.fullmatch(r"ms_session=[A-Za-z0-9_-]{43}", cookie.split(";")[0])
    assert cookie.split(";")[0].split("=", 1)[1] != token(response.text)  # the form gets the HMAC, not the id


# ---- authentication on, over HTTPS ----------------------------------------------------------------

@pytest.fixture
def secured(tmp_path: Path) -> Iterator[Callable[[], TestClient]]:
    """Browsers (clients with cookies of their own) of one app with ENABLE_AUTH on, over HTTPS."""
    app = create_app(make_settings(tmp_path / "secured", enable_auth=True, bootstrap_admin_key=BOOTSTRAP))
    with ExitStack() as stack:
        yield lambda: stack.enter_context(TestClient(app, base_url="https://registry.example"))


def test_over_https_the_session_cookie_is_host_prefixed(secured):
    response = secured().get("/ui/login")
    cookie = next(value for name, value in response.headers.multi_items()
                  if name == "set-cookie" and value.startswith("__Host-ms_session="))
    flags = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "secure", "samesite=strict", "path=/"} <= flags
    assert not any(flag.startswith("domain") for flag in flags)


def test_a_forged_token_pair_is_refused_to_a_signed_in_writer(secured):
    victim = secured()
    writer = issue(victim.app, "alice", "read", "write")
    model_id = register(victim, headers={"X-API-Key": BOOTSTRAP}, description="as it was")["model_id"]
    assert sign_in(victim, writer).status_code == 303
    plant(victim, "registry.example", FORGED)
    refused = edit(victim, model_id, FORGED)
    assert refused.status_code == 403 and "The form has expired" in refused.text
    assert description(victim, model_id) == "as it was"


def test_a_token_from_another_session_is_refused_even_with_its_cookie(secured):
    """The attacker signs in with a key of their own (read is enough) and takes their session's
    real token and cookie; planted in a signed-in writer's browser, they change nothing."""
    attacker, victim = secured(), secured()
    reader, writer = issue(attacker.app, "mallory", "read"), issue(attacker.app, "alice", "read", "write")
    model_id = register(victim, headers={"X-API-Key": BOOTSTRAP}, description="as it was")["model_id"]
    sign_in(attacker, reader)
    stolen = token(attacker.get("/ui/login").text)
    sign_in(victim, writer)
    for cookie in attacker.cookies.jar:
        if cookie.name != "ms_key":  # the attacker's session cookies, not their key
            victim.cookies.jar.set_cookie(copy.copy(cookie))
    refused = edit(victim, model_id, stolen)
    assert refused.status_code == 403
    assert description(victim, model_id) == "as it was"

    own = token(victim.get(f"/ui/models/{model_id}").text)  # the victim's own page still works
    assert edit(victim, model_id, own, "changed").status_code == 303
    assert description(victim, model_id) == "changed"


def test_signing_in_starts_a_new_session(secured):
    browser = secured()
    before = token(browser.get("/ui/login").text)
    sign_in(browser, issue(browser.app, "alice", "read", "write"))
    after = token(browser.get("/ui").text)
    assert before != after
    response = browser.post("/ui/logout", data={"csrf": before}, follow_redirects=False)
    assert response.status_code == 403  # the token of the session before signing in is gone with it


# ---- the server secret -----------------------------------------------------------------------------

def two_replicas(tmp_path: Path, **overrides) -> tuple[TestClient, TestClient]:
    """Two servers on one database and one blob store, each with a DATA_DIR of its own (as pods
    with an emptyDir each)."""
    shared = {"database_url": f"sqlite:///{tmp_path / 'shared.db'}", "blob_store_url": str(tmp_path / "blobs")}
    return tuple(TestClient(create_app(make_settings(tmp_path / name, **shared, **overrides)))
                 for name in ("one", "two"))


def test_replicas_with_one_ui_session_secret_accept_each_others_forms(tmp_path):
    one, two = two_replicas(tmp_path, ui_session_secret=SECRET)
    with one, two:
        model_id = register(one, description="as it was")["model_id"]
        form_token = token(one.get(f"/ui/models/{model_id}").text)
        two.cookies = one.cookies  # a load balancer sends the browser's next request to the other replica
        assert edit(two, model_id, form_token, "changed").status_code == 303
        assert description(two, model_id) == "changed"


def test_replicas_with_secrets_of_their_own_refuse_each_others_forms(tmp_path):
    one, two = two_replicas(tmp_path)  # no UI_SESSION_SECRET: each keeps one in its DATA_DIR
    with one, two:
        model_id = register(one, description="as it was")["model_id"]
        form_token = token(one.get(f"/ui/models/{model_id}").text)
        two.cookies = one.cookies
        assert edit(two, model_id, form_token).status_code == 403
        assert description(two, model_id) == "as it was"
        kept = tmp_path / "one" / "ui-session.secret"
        assert stat.S_IMODE(kept.stat().st_mode) == 0o600 and len(kept.read_text().strip()) >= 43


def test_without_a_place_to_keep_it_each_process_has_a_secret_of_its_own_and_says_so(tmp_path, caplog):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")  # DATA_DIR is a file: no secret can be kept in it
    settings = make_settings(blocker)
    with caplog.at_level(logging.WARNING, logger="model_service.server"):
        first, second = load_secret(settings), load_secret(settings)
    assert first != second and len(first) == 32
    assert "set UI_SESSION_SECRET" in caplog.text


def test_a_short_ui_session_secret_is_refused_at_start_up():
    with pytest.raises(SettingsError, match="UI_SESSION_SECRET"):
        load_settings(ui_session_secret="CHANGE-ME")  # the Kubernetes example's placeholder
