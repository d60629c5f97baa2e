// TensorFleet Model Service web UI: the models list's results are swapped in place (search, sort,
// facets, pages) instead of reloading the page. Every link and form also works without this file.
"use strict";
(function () {
  const PARTIAL = { "X-UI-Partial": "results" };
  const here = () => window.location.pathname + window.location.search;
  let shown = here(); // the query the results on screen are for

  function cleanUrl(form) {
    const params = new URLSearchParams();
    for (const [key, value] of new FormData(form)) {
      if (typeof value === "string" && value.trim() !== "") params.append(key, value);
    }
    const query = params.toString();
    return form.action.split("?")[0] + (query ? "?" + query : "");
  }

  async function load(root, url, push) {
    const focused = document.activeElement && document.activeElement.id;
    root.setAttribute("data-loading", "");
    try {
      const response = await fetch(url, { headers: PARTIAL, credentials: "same-origin" });
      const type = response.headers.get("content-type") || "";
      if (!type.startsWith("text/html") || response.redirected) { window.location.assign(url); return; }
      root.innerHTML = await response.text();
      if (push) history.pushState({ partial: true }, "", url);
      shown = here();
      const again = focused && document.getElementById(focused);
      if (again) again.focus(); else root.querySelector(".summary")?.focus?.();
    } catch (error) {
      window.location.assign(url);
    } finally {
      root.removeAttribute("data-loading");
    }
  }

  document.addEventListener("submit", (event) => {
    const form = event.target;
    const root = form.dataset.partial && document.querySelector(form.dataset.partial);
    if (form.method.toLowerCase() === "get" && form.id === "compare-form") {
      // ids=a,b,c: the comparison's own URL form.
      const ids = [...document.querySelectorAll('input[name="ids"][form="compare-form"]:checked')].map((box) => box.value);
      event.preventDefault();
      window.location.assign("/ui/compare" + (ids.length ? "?ids=" + ids.join(",") : ""));
      return;
    }
    if (!root) return;
    event.preventDefault();
    load(root, cleanUrl(form), true);
  });

  document.addEventListener("click", (event) => {
    const link = event.target.closest("a[href]");
    const root = link && link.closest("[data-partial-root]");
    if (!root || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
    const url = new URL(link.href, window.location.href);
    if (url.origin !== window.location.origin || url.pathname !== window.location.pathname) return;
    event.preventDefault();
    load(root, url.toString(), true);
  });

  window.addEventListener("popstate", () => {
    // Back or forward to another query; a jump to an anchor (#main) also fires this, and changes nothing.
    const root = document.querySelector("[data-partial-root]");
    if (root && here() !== shown) load(root, window.location.href, false);
  });
})();
