"""The web UI as a browser without JavaScript sees it: pages, links, forms and sign-in, through
the app in process. (tests/ui/test_browser.py drives the same pages in Chromium.)"""

from __future__ import annotations

import re
from html import unescape

import pytest
from fastapi.testclient import TestClient

HTML = "text/html; charset=utf-8"


# ---- helpers ------------------------------------------------------------------------------------

def register(client: TestClient, headers: dict[str, str] | None = None, **fields) -> dict:
    body = {"name": "fraud_model", "algorithm": "xgboost", **fields}
    response = client.post("/api/v1/models", json=body, headers=headers or {})
    assert response.status_code == 201, response.text
    return response.json()


def derive(client: TestClient, model_id: str, headers: dict[str, str] | None = None, **fields) -> dict:
    response = client.post(f"/api/v1/models/{model_id}/versions", json=fields, headers=headers or {})
    assert response.status_code == 201, response.text
    return response.json()


def token(page: str) -> str:
    """The form token a page's forms carry."""
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "the page has no form token"
    return found.group(1)


def text_of(page: str) -> str:
    """The page's visible text, roughly: tags dropped, spaces folded."""
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", page))).strip()


def row_ids(page: str) -> list[str]:
    return re.findall(r'<tr data-model-id="([0-9a-f]{24})"', page)


def write_forms(page: str) -> list[str]:
    return re.findall(r'<form method="post" action="(/ui/models/[0-9a-f]{24}/[a-z]+)"', page)


@pytest.fixture
def three(client: TestClient) -> list[dict]:
    """fraud_model v1 → v2 → v3, with metrics and hyperparameters that differ."""
    first = register(client, metrics={"accuracy": 0.91, "f1_score": 0.80, "val_loss": 0.40},
                     hyperparameters={"max_depth": 6, "eta": 0.3, "optimizer": {"name": "adam"}},
                     tags=["fraud", "baseline"], dataset_info={"rows": 120000, "source": "s3://fraud/2026-10"},
                     description="First try")
    second = derive(client, first["model_id"], metrics={"accuracy": 0.94, "f1_score": 0.86, "val_loss": 0.31},
                    hyperparameters={"max_depth": 8, "eta": 0.3, "optimizer": {"name": "adam"}})
    third = derive(client, second["model_id"], metrics={"accuracy": 0.93, "f1_score": 0.88, "val_loss": 0.35},
                   hyperparameters={"max_depth": 8, "eta": 0.1, "optimizer": {"name": "sgd"}})
    return [first, second, third]


# ---- reading ------------------------------------------------------------------------------------

def test_browsers_asking_for_the_root_are_sent_to_the_ui_and_api_clients_get_the_index(client):
    page = client.get("/", headers={"Accept": "text/html,application/xhtml+xml"}, follow_redirects=False)
    assert page.status_code == 307 and page.headers["location"] == "/ui"
    assert client.get("/").json()["ui"] == "/ui"


@pytest.mark.usefixtures("three")
@pytest.mark.parametrize("path", ["/ui", "/ui/models", "/ui/compare"])
def test_every_page_is_html_with_its_own_content_security_policy(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == HTML
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert response.headers["cache-control"] == "no-store"
    assert '<html lang="en">' in response.text and "<title>" in response.text


def test_the_static_files_are_served_and_may_be_cached(client):
    page = client.get("/ui").text
    css = re.search(r'href="(/ui/static/app\.css\?v=[^"]+)"', page).group(1)
    script = re.search(r'src="(/ui/static/app\.js\?v=[^"]+)"', page).group(1)
    for url, kind in ((css, "text/css"), (script, "javascript")):
        response = client.get(url)
        assert response.status_code == 200 and kind in response.headers["content-type"]
        assert response.headers["cache-control"] == "public, max-age=86400"


def test_the_dashboard_shows_the_figures_charts_and_recent_and_popular_versions(client, three):
    client.post(f"/api/v1/models/{three[1]['model_id']}/upload", files={"file": ("m.bin", b"x" * 100)})
    for _ in range(3):
        assert client.get(f"/api/v1/models/{three[1]['model_id']}/download").status_code == 200
    page = client.get("/ui").text
    assert re.search(r'data-figure="total_models">3<', page)
    assert re.search(r'data-figure="total_downloads">3<', page)
    assert "Versions per algorithm: xgboost 3" in unescape(page)
    assert "Versions per status: active 3" in unescape(page)
    downloads = re.search(r"Downloads per day over the last 30 days, (\d+) in all", page)
    assert downloads and downloads.group(1) == "3"
    assert len(re.findall(r'<rect [^>]*class="bar bar-0"><title>\d{4}-\d\d-\d\d: \d+ downloads', page)) == 30
    popular = page.split('id="popular-title"')[1]
    assert f'/ui/models/{three[1]["model_id"]}' in popular and "3 downloads" in popular
    recent = page.split('id="recent-title"')[1].split("</section>")[0]
    assert recent.index(three[2]["model_id"]) < recent.index(three[0]["model_id"])  # newest first


def test_the_models_list_searches_filters_and_sorts_like_the_api(client, three):
    register(client, name="churn_model", algorithm="lightgbm", metrics={"f1_score": 0.99}, tags=["churn"])
    ids = [model["model_id"] for model in three]
    page = client.get("/ui/models", params={"filter": "metrics.f1_score >= 0.85 AND name = 'fraud_model'",
                                            "sort": "-metrics.f1_score"}).text
    assert row_ids(page) == [ids[2], ids[1]]
    assert "Versions 1–2 of" in text_of(page)
    by_name = row_ids(client.get("/ui/models", params={"sort": "name,-version"}).text)
    api = client.get("/api/v1/models", params={"sort": "name,-version"}).json()["models"]
    assert by_name == [model["id"] for model in api]
    assert row_ids(client.get("/ui/models", params={"q": "churn"}).text) == [api[0]["id"]]
    for params in ({"algorithm": "lightgbm", "tags": "churn"}, {"tags": "churn,baseline", "status": "active"},
                   {"created_by": "anonymous", "min_accuracy": "0.92"}):
        api_ids = [model["id"] for model in client.get("/api/v1/models", params=params).json()["models"]]
        assert row_ids(client.get("/ui/models", params=params).text) == api_ids


def test_sort_headers_toggle_and_keep_the_query(client, three):
    page = client.get("/ui/models", params={"q": "fraud", "sort": "-metrics.f1_score"}).text
    header = re.search(r'<th scope="col" class="num" aria-sort="descending">'
                       r'<a href="([^"]+)" data-sort="metrics.f1_score"', page)
    assert header, "the sorted metric's column says it is sorted, descending"
    toggled = unescape(header.group(1))
    assert "sort=metrics.f1_score" in toggled and "q=fraud" in toggled
    assert row_ids(client.get(toggled).text) == [three[0]["model_id"], three[1]["model_id"], three[2]["model_id"]]


@pytest.mark.usefixtures("three")
def test_facets_count_versions_and_toggle_a_filter(client):
    register(client, name="churn_model", algorithm="lightgbm", tags=["churn"])
    page = client.get("/ui/models").text
    link = re.search(r'<a href="([^"]+)" data-facet="algorithm">lightgbm <span class="count">1</span>', page)
    assert link, "the algorithm facet lists lightgbm with its count"
    filtered = client.get(unescape(link.group(1))).text
    assert len(row_ids(filtered)) == 1
    active = re.search(r'<a href="([^"]+)" data-facet="algorithm" aria-current="true" class="active">lightgbm',
                       filtered)
    assert active, "the chosen facet is marked"
    assert len(row_ids(client.get(unescape(active.group(1))).text)) == 4  # clicking it again removes it


def test_paging_links_walk_the_whole_list_once(client):
    made = {register(client, name=f"model_{n:02d}")["model_id"] for n in range(45)}
    seen: list[str] = []
    url: str | None = "/ui/models"
    while url:
        page = client.get(url).text
        seen += row_ids(page)
        following = re.search(r'<a href="([^"]+)" rel="next">', page)
        url = unescape(following.group(1)) if following else None
    assert len(seen) == 45 and set(seen) == made
    last = client.get("/ui/models", params={"page": 3}).text
    assert "Versions 41–45 of 45" in text_of(last) and 'aria-current="page" class="current">3<' in last


@pytest.mark.usefixtures("three")
def test_a_filter_that_does_not_parse_is_a_400_page_saying_where(client):
    response = client.get("/ui/models", params={"filter": "metrics.f1_score >>= 1"})
    assert response.status_code == 400 and response.headers["content-type"] == HTML
    assert re.search(r'role="alert"><strong>Error:</strong>[^<]*position', response.text)
    assert 'value="metrics.f1_score &gt;&gt;= 1"' in response.text  # the expression stays in the box to fix
    bad_page = client.get("/ui/models", params={"page": "two"})
    assert bad_page.status_code == 400 and "page" in text_of(bad_page.text)


@pytest.mark.usefixtures("three")
def test_the_results_alone_for_the_script(client):
    response = client.get("/ui/models", params={"sort": "name"}, headers={"X-UI-Partial": "results"})
    assert response.status_code == 200 and "<html" not in response.text
    assert len(row_ids(response.text)) == 3 and 'data-partial="#list"' in response.text


def test_a_version_page_shows_metadata_file_lineage_aliases_and_history(client, three):
    first, second, _ = (model["model_id"] for model in three)
    client.post(f"/api/v1/models/{second}/upload", files={"file": ("model.pkl", b"\x80\x04K\x01.")})
    client.put("/api/v1/models/by-name/fraud_model/aliases/production", json={"version": three[0]["version"]})
    client.put("/api/v1/models/by-name/fraud_model/aliases/production", json={"version": three[1]["version"]})
    client.put(f"/api/v1/models/{first}", json={"status": "deprecated"})
    page = client.get(f"/ui/models/{second}").text
    text = text_of(page)
    assert f"fraud_model {three[1]['version']}" in text and "@production" in text
    assert "max_depth 8" in text and "optimizer.name adam" in text  # nested parameters flattened
    assert "source s3://fraud/2026-10" in text
    assert "SHA-256" in text and "Scan safe" in text and f'/ui/models/{second}/download"' in page
    timeline = page.split('id="timeline-title"')[1].split("</section>")[0]
    assert [re.sub(r"\D", "", v) for v in re.findall(r'data-version="([^"]+)"', timeline)] == \
           [re.sub(r"\D", "", three[n]["version"]) for n in (2, 1, 0)]
    assert f"derived from {three[0]['version']} → {three[1]['version']}" in text_of(timeline)
    history = text_of(page.split('id="history-title"')[1].split("</section>")[0])
    assert f"@production: {three[0]['version']} → {three[1]['version']}" in history
    assert f"@production: unset → {three[0]['version']}" in history
    assert f"{three[0]['version']} status active → deprecated" in history
    assert history.index("deprecated") < history.index("unset")  # newest first
    download = client.get(f"/ui/models/{second}/download")
    assert download.status_code == 200 and download.content == b"\x80\x04K\x01."


def test_an_unknown_version_or_page_is_an_html_404(client):
    for path in ("/ui/models/0123456789abcdef01234567", "/ui/nothing-here"):
        response = client.get(path)
        assert response.status_code == 404 and response.headers["content-type"] == HTML
        assert 'role="alert"' in response.text


def test_compare_marks_the_best_metric_and_the_differing_hyperparameters(client, three):
    ids = [model["model_id"] for model in three]
    page = client.get("/ui/compare", params={"ids": ",".join(ids)}).text

    def best_column(metric: str) -> int:
        row = re.search(rf'<tr data-metric="{metric}"[^>]*>(.*?)</tr>', page, re.DOTALL).group(1)
        cells = re.findall(r"<td class=\"num( best)?\"", row)
        assert [cell for cell in cells if cell] == [" best"], f"one best value of {metric}"
        return [bool(cell) for cell in cells].index(True)

    assert best_column("f1_score") == 2 and best_column("accuracy") == 1
    assert best_column("val_loss") == 1  # lower is better for a loss
    assert re.search(r'<tr data-param="eta" class="differs">', page)
    assert re.search(r'<tr data-param="optimizer.name" class="differs">', page) is None  # nested: one row per key
    assert re.search(r'<tr data-param="optimizer" class="differs">', page)
    assert len(re.findall(r'<figure class="metric-chart">', page)) == 3


@pytest.mark.parametrize("count", [1, 7])
def test_compare_takes_two_to_six_versions(client, count):
    ids = [register(client, name=f"m{n}")["model_id"] for n in range(count)]
    response = client.get("/ui/compare", params=[("ids", model_id) for model_id in ids])
    assert response.status_code == 400 and "Pick 2 to 6 versions" in response.text


# ---- changing, with authentication off --------------------------------------------------------

def post_form(client: TestClient, model_id: str, action: str, fields: dict[str, str], **kwargs):
    page = client.get(f"/ui/models/{model_id}").text
    return client.post(f"/ui/models/{model_id}/{action}", data={"csrf": token(page), **fields},
                       follow_redirects=False, **kwargs)


def test_edit_description_and_tags_then_status(client, three):
    model_id = three[0]["model_id"]
    done = post_form(client, model_id, "edit", {"description": "Retrained on October", "tags": "fraud, gold ,"})
    assert done.status_code == 303 and done.headers["location"] == f"/ui/models/{model_id}?done=updated"
    model = client.get(f"/api/v1/models/{model_id}").json()
    assert model["description"] == "Retrained on October" and model["tags"] == ["fraud", "gold"]
    assert post_form(client, model_id, "status", {"status": "archived"}).status_code == 303
    assert client.get(f"/api/v1/models/{model_id}").json()["status"] == "archived"
    assert "Status changed." in client.get(f"/ui/models/{model_id}?done=status").text


def test_a_refused_edit_shows_the_reason_and_keeps_what_was_typed(client, three):
    model_id = three[0]["model_id"]
    response = post_form(client, model_id, "edit", {"description": "ok", "tags": "x" * 65})
    assert response.status_code == 422 and 'role="alert"' in response.text
    assert "x" * 65 in response.text
    assert client.get(f"/api/v1/models/{model_id}").json()["description"] == "First try"
    bad_status = post_form(client, model_id, "status", {"status": "gone"})
    assert bad_status.status_code == 422 and "Unknown status" in bad_status.text


def test_forms_without_the_token_or_from_another_site_change_nothing(client, three):
    model_id = three[0]["model_id"]
    client.get("/ui")  # the browser has its token cookie
    no_token = client.post(f"/ui/models/{model_id}/edit", data={"description": "pwned", "tags": ""},
                           follow_redirects=False)
    assert no_token.status_code == 403 and no_token.headers["content-type"] == HTML
    other_site = post_form(client, model_id, "edit", {"description": "pwned", "tags": ""},
                           headers={"Origin": "https://evil.example"})
    assert other_site.status_code == 403
    assert client.get(f"/api/v1/models/{model_id}").json()["description"] == "First try"


def test_moving_an_alias_asks_first_and_refuses_if_it_moved_meanwhile(client, three):
    first, second = three[0]["model_id"], three[1]["model_id"]
    client.put("/api/v1/models/by-name/fraud_model/aliases/production", json={"version": three[0]["version"]})
    ask = post_form(client, second, "alias", {"alias": "production"})
    assert ask.status_code == 200
    assert f"points at {three[0]['version']} now. It will point at {three[1]['version']}" in text_of(ask.text)
    confirmation = dict(re.findall(r'<input type="hidden" name="([a-z]+)" value="([^"]*)">', ask.text))
    assert confirmation["confirm"] == "yes" and confirmation["expected"] == three[0]["version"]
    assert client.get("/api/v1/models/by-name/fraud_model/aliases/production").json()["model_id"] == first

    moved = client.post(f"/ui/models/{second}/alias", data=confirmation, follow_redirects=False)
    assert moved.status_code == 303
    assert client.get("/api/v1/models/by-name/fraud_model/aliases/production").json()["model_id"] == second

    stale = client.post(f"/ui/models/{three[2]['model_id']}/alias", data=confirmation, follow_redirects=False)
    assert stale.status_code == 409 and 'role="alert"' in stale.text
    assert client.get("/api/v1/models/by-name/fraud_model/aliases/production").json()["model_id"] == second


def test_removing_an_alias_asks_first(client, three):
    model_id = three[0]["model_id"]
    client.put("/api/v1/models/by-name/fraud_model/aliases/staging", json={"version": three[0]["version"]})
    ask = post_form(client, model_id, "alias", {"alias": "staging", "action": "remove"})
    assert ask.status_code == 200 and "it will point at nothing" in text_of(ask.text)
    fields = dict(re.findall(r'<input type="hidden" name="([a-z]+)" value="([^"]*)">', ask.text))
    assert client.post(f"/ui/models/{model_id}/alias", data=fields, follow_redirects=False).status_code == 303
    assert client.get("/api/v1/models/by-name/fraud_model/aliases/staging").status_code == 404


def test_uploading_a_file_to_a_version_without_one(client, three):
    model_id = three[2]["model_id"]
    page = client.get(f"/ui/models/{model_id}").text
    assert f'action="/ui/models/{model_id}/upload" enctype="multipart/form-data"' in page
    content = bytes(range(256)) * 4000  # 1 MB: more than a form field may hold
    done = client.post(f"/ui/models/{model_id}/upload", data={"csrf": token(page)},
                       files={"file": ("weights.onnx", content)}, follow_redirects=False)
    assert done.status_code == 303, done.text
    info = client.get(f"/api/v1/models/{model_id}/info").json()
    assert info["file_metadata"]["size_bytes"] == len(content) and info["file_metadata"]["format"] == "onnx"
    again = client.get(f"/ui/models/{model_id}").text
    assert "/upload" not in again and "Download" in again
    twice = client.post(f"/ui/models/{model_id}/upload", data={"csrf": token(page)}, files={"file": ("x.onnx", b"x")},
                        follow_redirects=False)
    assert twice.status_code == 409


def test_an_upload_without_the_token_stores_nothing(client, three):
    model_id = three[2]["model_id"]
    client.get("/ui")
    response = client.post(f"/ui/models/{model_id}/upload", files={"file": ("weights.onnx", b"abc")},
                           follow_redirects=False)
    assert response.status_code == 403
    assert client.get(f"/api/v1/models/{model_id}").json()["file_metadata"] is None


# ---- more pages ----------------------------------------------------------------------------------

def test_the_compare_page_without_versions_offers_the_newest_to_pick(client, three):
    page = client.get("/ui/compare").text
    boxes = re.findall(r'<input type="checkbox" name="ids" value="([0-9a-f]{24})"', page)
    assert boxes == [model["model_id"] for model in reversed(three)]
    assert 'role="alert"' not in page


def test_figures_are_reused_until_they_expire():
    from model_service.server.ui.figures import Expiring

    now, computed = [0.0], []
    figures = Expiring(lambda: computed.append(now[0]) or len(computed), seconds=10, clock=lambda: now[0])
    assert [figures.get(), figures.get()] == [1, 1]
    now[0] = 9.9
    assert figures.get() == 1
    now[0] = 10.0
    assert figures.get() == 2 and computed == [0.0, 10.0]


@pytest.mark.usefixtures("three")
def test_the_dashboard_figures_lag_writes_by_at_most_their_lifetime(client):
    assert re.search(r'data-figure="total_models">3<', client.get("/ui").text)
    register(client, name="another")
    assert re.search(r'data-figure="total_models">3<', client.get("/ui").text)  # reused
    assert len(row_ids(client.get("/ui/models").text)) == 4  # lists are never cached
    for cached in (client.app.state.ui_figures.dashboard, client.app.state.ui_figures.facets):
        cached.clock = lambda: float("inf")  # their lifetime has passed
    assert re.search(r'data-figure="total_models">4<', client.get("/ui").text)
