"""Changing the registry from the web UI in Chromium, signed in with a write key, each change
checked through the JSON API: move an alias (after its confirmation), upload a file to a version
without one, edit description and tags, change a status; and signing out. (A module of its own:
its changes would otherwise show in the reading tests' seeded registry.)"""

from __future__ import annotations

import re

import pytest

from .test_browser import sign_in


def test_move_an_alias_after_confirming(page, live_server, write_key, read_key, seeded, screenshot):
    target = seeded.id("fraud_model", "v1.1")
    assert seeded.aliases["fraud_model"]["staging"] == "v2.0"
    sign_in(page, write_key, f"/ui/models/{target}")
    page.get_by_label("Point an alias at v1.1").fill("staging")
    page.get_by_role("button", name="Move alias…").click()

    question = page.get_by_role("alertdialog")
    question.wait_for()
    assert "points at v2.0 now. It will point at v1.1" in re.sub(r"\s+", " ", question.inner_text())
    screenshot(page, "confirm-alias-move")
    with live_server.client(read_key) as client:  # nothing moved yet
        assert client.get("/api/v1/models/by-name/fraud_model/aliases/staging").json()["version"] == "v2.0"

    page.get_by_role("button", name="Move @staging").click()
    page.wait_for_url(f"**/ui/models/{target}?done=alias")
    assert page.get_by_role("status").inner_text() == "Alias moved."
    assert "@staging" in page.locator("h1").inner_text()
    with live_server.client(read_key) as client:
        alias = client.get("/api/v1/models/by-name/fraud_model/aliases/staging").json()
        moves = client.get("/api/v1/models/by-name/fraud_model/history", params={"alias": "staging"}).json()
    assert (alias["version"], alias["model_id"]) == ("v1.1", target)
    assert moves["events"][-1]["actor"] == "ui-writer"
    assert "@staging: v2.0 → v1.1" in page.locator("table.history").inner_text()


def test_cancelling_an_alias_move_changes_nothing(page, live_server, write_key, read_key, seeded):
    target = seeded.id("fraud_model", "v1.0")
    sign_in(page, write_key, f"/ui/models/{target}")
    page.get_by_label("Point an alias at v1.0").fill("production")
    page.get_by_role("button", name="Move alias…").click()
    page.get_by_role("link", name="Cancel").click()
    page.wait_for_url(f"**/ui/models/{target}")
    with live_server.client(read_key) as client:
        assert client.get("/api/v1/models/by-name/fraud_model/aliases/production").json()["version"] == "v1.2"


def test_upload_a_file_to_a_version_without_one(page, live_server, write_key, read_key, seeded, tmp_path, screenshot):
    target = seeded.id(*seeded.without_file)
    weights = tmp_path / "model.txt"
    weights.write_bytes(b"tree\nversion=v3\n" + b"Tree=1\n" * 5000)
    sign_in(page, write_key, f"/ui/models/{target}")
    page.get_by_label("Model file").set_input_files(weights)
    page.get_by_role("button", name="Upload").click()
    page.wait_for_url(f"**/ui/models/{target}?done=uploaded")
    assert page.get_by_role("status").inner_text() == "File uploaded."
    screenshot(page, "model-after-upload")
    with live_server.client(read_key) as client:
        info = client.get(f"/api/v1/models/{target}/info").json()["file_metadata"]
    assert info["size_bytes"] == weights.stat().st_size and info["filename"] == "model.txt"
    assert page.locator("code.hash").inner_text() == info["file_id"]
    assert page.locator('form[data-action="upload"]').count() == 0


def test_edit_description_tags_and_status(page, live_server, write_key, read_key, seeded):
    target = seeded.id("recommender", "v1.1")
    sign_in(page, write_key, f"/ui/models/{target}")
    page.get_by_label("Description").fill("Two-tower recommender, bigger embeddings")
    page.get_by_label("Tags").fill("ranking, embeddings, candidate")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url("**?done=updated")
    page.get_by_label("Status", exact=True).select_option("deprecated")
    page.get_by_role("button", name="Change status").click()
    page.wait_for_url("**?done=status")
    with live_server.client(read_key) as client:
        model = client.get(f"/api/v1/models/{target}").json()
    assert model["description"] == "Two-tower recommender, bigger embeddings"
    assert model["tags"] == ["ranking", "embeddings", "candidate"]
    assert model["status"] == "deprecated"
    assert [a.inner_text() for a in page.locator("p.tags a").all()] == ["ranking", "embeddings", "candidate"]


def test_a_refused_change_shows_why(page, live_server, write_key, read_key, seeded):
    target = seeded.id("churn_model", "v1.1")
    sign_in(page, write_key, f"/ui/models/{target}")
    page.get_by_label("Tags").fill("ok, " + "x" * 80)  # tags are at most 64 characters
    page.get_by_role("button", name="Save").click()
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert "64" in alert.inner_text()
    assert page.get_by_label("Tags").input_value() == "ok, " + "x" * 80  # kept, to be fixed
    with live_server.client(read_key) as client:
        assert client.get(f"/api/v1/models/{target}").json()["tags"] == ["churn", "tabular", "production"]


@pytest.mark.usefixtures("seeded")
def test_signing_out_ends_the_session(page, write_key):
    sign_in(page, write_key)
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/ui/login\?reason=signed_out$"))
    assert page.context.cookies() and all(cookie["name"] != "ms_key" for cookie in page.context.cookies())
    page.goto("/ui/models")
    assert "/ui/login" in page.url
