"""The web UI with authentication on, through the app in process: signing in and out, what each
kind of key sees and may do on every page, and anonymous reads. (tests/ui/test_pages.py: the pages
with authentication off.)"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from model_service.server.app import create_app
from tests.api.auth_helpers import BOOTSTRAP, issue, revoked
from tests.conftest import make_settings

from .test_pages import HTML, register, text_of, token, write_forms

# ---- signing in, with authentication on -------------------------------------------------------

@pytest.fixture
def secured(tmp_path: Path) -> Iterator[Callable[..., TestClient]]:
    """Clients of one app with ENABLE_AUTH on, as a browser on an HTTPS site (cookies kept)."""
    app = create_app(make_settings(tmp_path / "secured", enable_auth=True, bootstrap_admin_key=BOOTSTRAP))
    clients: list[TestClient] = []

    def browser() -> TestClient:
        client = TestClient(app, base_url="https://registry.example")
        clients.append(client.__enter__())
        return client

    yield browser
    for client in clients:
        client.__exit__(None, None, None)


def sign_in(client: TestClient, key: str, target: str = "/ui"):
    page = client.get("/ui/login", params={"next": target})
    return client.post("/ui/login", data={"csrf": token(page.text), "key": key, "next": target},
                       follow_redirects=False)


def test_without_a_session_pages_send_the_browser_to_sign_in(secured):
    browser = secured()
    response = browser.get("/ui/models?sort=name", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/login?next=%2Fui%2Fmodels%3Fsort%3Dname"


def test_signing_in_keeps_the_key_in_a_secure_http_only_cookie(secured):
    browser = secured()
    writer = issue(browser.app, "ci", "read", "write")
    response = sign_in(browser, writer, "/ui/models?sort=name")
    assert response.status_code == 303 and response.headers["location"] == "/ui/models?sort=name"
    cookie = next(value for name, value in response.headers.multi_items()
                  if name == "set-cookie" and value.startswith("ms_key="))
    flags = {part.strip().lower() for part in cookie.split(";")}
    assert {"httponly", "secure", "samesite=strict", "path=/ui"} <= flags
    assert browser.get("/ui/models").status_code == 200
    assert "ci" in text_of(browser.get("/ui").text)


def test_a_wrong_key_is_refused_at_sign_in(secured):
    browser = secured()
    response = sign_in(browser, "tfk_nope_" + "x" * 40)
    assert response.status_code == 401 and 'role="alert"' in response.text
    assert "ms_key" not in browser.cookies


def test_sign_in_only_sends_the_browser_back_into_the_ui(secured):
    browser = secured()
    key = issue(browser.app, "ci", "read")
    for target in ("https://evil.example/", "//evil.example/ui", "/api/v1/keys", "/ui\\@evil.example"):
        assert sign_in(browser, key, target).headers["location"] == "/ui"


def test_the_api_never_accepts_the_ui_cookie(secured):
    browser = secured()
    sign_in(browser, BOOTSTRAP)
    assert browser.get("/ui/models").status_code == 200
    assert browser.get("/api/v1/models").status_code == 401


def test_a_read_only_key_sees_no_write_controls_and_cannot_post(secured):
    admin = secured()
    model = register(admin, headers={"X-API-Key": BOOTSTRAP})
    reader, writer = secured(), secured()
    sign_in(reader, issue(admin.app, "viewer", "read"))
    sign_in(writer, issue(admin.app, "ci", "read", "write"))
    page = reader.get(f"/ui/models/{model['model_id']}").text
    assert write_forms(page) == [] and "Move alias" not in page
    assert sorted(write_forms(writer.get(f"/ui/models/{model['model_id']}").text)) == sorted(
        f"/ui/models/{model['model_id']}/{action}" for action in ("edit", "status", "alias", "upload"))
    refused = reader.post(f"/ui/models/{model['model_id']}/status", data={"csrf": token(page), "status": "archived"},
                          follow_redirects=False)
    assert refused.status_code == 403 and refused.headers["content-type"] == HTML
    assert admin.get(f"/api/v1/models/{model['model_id']}", headers={"X-API-Key": BOOTSTRAP}).json()["status"] == \
           "active"


def test_a_key_limited_to_a_prefix_sees_write_controls_only_inside_it(secured):
    admin = secured()
    ours = register(admin, headers={"X-API-Key": BOOTSTRAP}, name="team_a_model")
    theirs = register(admin, headers={"X-API-Key": BOOTSTRAP}, name="team_b_model")
    browser = secured()
    sign_in(browser, issue(admin.app, "team-a", "read", "write", prefix="team_a_"))
    assert write_forms(browser.get(f"/ui/models/{ours['model_id']}").text)
    assert write_forms(browser.get(f"/ui/models/{theirs['model_id']}").text) == []


def test_writes_through_the_ui_are_audited_as_the_signed_in_key(secured):
    admin = secured()
    model = register(admin, headers={"X-API-Key": BOOTSTRAP})
    browser = secured()
    sign_in(browser, issue(admin.app, "release-bot", "read", "write"))
    page = browser.get(f"/ui/models/{model['model_id']}").text
    changed = browser.post(f"/ui/models/{model['model_id']}/status", data={"csrf": token(page), "status": "deprecated"},
                           follow_redirects=False)
    assert changed.status_code == 303, changed.text
    records = admin.get("/api/v1/audit", params={"action": "model.update"}, headers={"X-API-Key": BOOTSTRAP}).json()
    assert [(r["actor"], r["details"].get("status")) for r in records["records"]] == [("release-bot", "deprecated")]


def test_a_revoked_key_signs_the_browser_out(secured):
    browser = secured()
    key = revoked(browser.app, "leaked", "read")
    browser.cookies.set("ms_key", key, domain="registry.example", path="/ui")
    response = browser.get("/ui", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].endswith("&reason=expired")
    assert 'ms_key=""' in response.headers["set-cookie"] or "Max-Age=0" in response.headers["set-cookie"]


def test_signing_out_forgets_the_key(secured):
    browser = secured()
    sign_in(browser, BOOTSTRAP)
    page = browser.get("/ui").text
    out = browser.post("/ui/logout", data={"csrf": token(page)}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/ui/login?reason=signed_out"
    assert browser.get("/ui", follow_redirects=False).status_code == 303


# ---- every page × every kind of browser -------------------------------------------------------

UI_ROUTES = {  # (method, path template) → the scope the auth table pins (tests/api/test_auth_routes.py)
    ("GET", "/ui"): "read", ("GET", "/ui/models"): "read", ("GET", "/ui/models/{id}"): "read",
    ("GET", "/ui/models/{id}/download"): "read", ("GET", "/ui/compare"): "read",
    ("POST", "/ui/models/{id}/edit"): "write", ("POST", "/ui/models/{id}/status"): "write",
    ("POST", "/ui/models/{id}/alias"): "write", ("POST", "/ui/models/{id}/upload"): "write",
}


@pytest.mark.parametrize("who", ["nobody", "revoked", "read", "write"])
def test_each_page_answers_each_kind_of_browser_as_its_scope_says(secured, who):
    admin = secured()
    model = register(admin, headers={"X-API-Key": BOOTSTRAP})
    admin.post(f"/api/v1/models/{model['model_id']}/upload", content=b"weights",
               headers={"X-API-Key": BOOTSTRAP, "Content-Type": "application/octet-stream"})
    browser = secured()
    leaked = revoked(admin.app, "leaked", "admin")
    if who not in ("nobody", "revoked"):
        sign_in(browser, issue(admin.app, who, *({"read": ["read"], "write": ["read", "write"]}[who])))
    form_token = token(browser.get("/ui/login").text)
    outcomes = {}
    for method, template in UI_ROUTES:
        if who == "revoked":  # each answer signs the browser out: present the key again
            browser.cookies.set("ms_key", leaked, domain="registry.example", path="/ui")
        url = template.replace("{id}", model["model_id"])
        if method == "POST":
            response = browser.post(url, data={"csrf": form_token, "status": "active", "alias": "production",
                                               "description": "", "tags": ""}, follow_redirects=False)
        else:
            response = browser.get(url, params={"ids": f"{model['model_id']},{model['model_id']}"}
                                   if url.endswith("/compare") else None, follow_redirects=False)
        assert response.status_code < 500, (url, response.text[:300])
        location = response.headers.get("location", "")
        if response.status_code == 303 and location.startswith("/ui/login"):
            outcomes[(method, template)] = "sign in" + (" (expired)" if "reason=expired" in location else "")
        else:
            outcomes[(method, template)] = "forbidden" if response.status_code == 403 else "served"
            assert response.status_code != 401
    expected = {
        "nobody": lambda _scope: "sign in",
        "revoked": lambda _scope: "sign in (expired)",
        "read": lambda scope: "served" if scope == "read" else "forbidden",
        "write": lambda _scope: "served",
    }[who]
    assert outcomes == {route: expected(scope) for route, scope in UI_ROUTES.items()}


def test_with_anonymous_reads_the_pages_need_no_sign_in_and_show_no_write_controls(tmp_path: Path):
    app = create_app(make_settings(tmp_path / "open", enable_auth=True, allow_anonymous_read=True,
                                   bootstrap_admin_key=BOOTSTRAP))
    with TestClient(app, base_url="https://registry.example") as browser:
        model = register(browser, headers={"X-API-Key": BOOTSTRAP})
        page = browser.get(f"/ui/models/{model['model_id']}", follow_redirects=False)
        assert page.status_code == 200 and write_forms(page.text) == []
        assert 'href="/ui/login?next=' in page.text  # a way to sign in for writing
        refused = browser.post(f"/ui/models/{model['model_id']}/status",
                               data={"csrf": token(browser.get("/ui/login").text), "status": "archived"},
                               follow_redirects=False)
        assert refused.status_code == 303 and refused.headers["location"].startswith("/ui/login")
