/* Campaign Status tab: live counters.
 *
 * The campaign's WebSocket (ws/campaigns/<id>/) sends the whole status snapshot on
 * connect and again whenever it changes (coalesced on the server). While the socket is
 * down the page polls GET /api/v1/campaigns/<id>/status/ every 2 s and reconnects with
 * exponential backoff (live-socket.js). Both deliver the same object, rendered by render().
 * When the campaign's status changes, the banner/buttons and the health panel are
 * fetched again (server-rendered partials), so every status looks as it does on load.
 */
(function () {
  "use strict";

  var root = document.getElementById("campaign-status");
  if (!root || !root.hasAttribute("data-status-live")) return;

  var POLL_MS = 2000;
  var PANEL_REFRESH_MS = 5000;
  var COUNTERS = ["selected", "queued", "sent", "delivered", "failed", "opted_out", "replied"];

  var status = root.dataset.status;
  var timeZone = root.dataset.timezone || undefined;
  var numbers = new Intl.NumberFormat();

  function each(name, fn) {
    root.querySelectorAll('[data-field="' + name + '"]').forEach(fn);
  }

  function clockTime(date) {
    try {
      return date.toLocaleTimeString([], { hour: "numeric", minute: "2-digit", timeZone: timeZone });
    } catch (err) {
      return date.toLocaleTimeString([], { hour: "numeric", minute: "2-digit" });
    }
  }

  function describeEta(iso) {
    if (!iso) return "—";
    var at = new Date(iso);
    if (isNaN(at.getTime())) return "—";
    var seconds = Math.round((at.getTime() - Date.now()) / 1000);
    var clock = clockTime(at);
    if (seconds < 60) return "under a minute (" + clock + ")";
    var minutes = Math.round(seconds / 60);
    if (minutes < 90) return "about " + minutes + " min (" + clock + ")";
    return "about " + (minutes / 60).toFixed(1) + " h (" + clock + ")";
  }

  function render(snapshot) {
    if (!snapshot || typeof snapshot !== "object" || !("selected" in snapshot)) return;
    COUNTERS.forEach(function (name) {
      var text = numbers.format(snapshot[name] || 0);
      each(name, function (el) {
        if (el.textContent !== text) el.textContent = text;
      });
    });
    // Floor, so 99.6% never reads "100%" while a message is still waiting.
    var percent = Math.floor((snapshot.progress || 0) * 100);
    each("progress", function (el) { el.textContent = percent + "%"; });
    var bar = root.querySelector("[data-progress-bar]");
    if (bar) bar.style.width = percent + "%";
    var meter = root.querySelector("[data-progress]");
    if (meter) meter.setAttribute("aria-valuenow", String(percent));
    each("eta", function (el) {
      el.dataset.eta = snapshot.eta || "";
      el.textContent = describeEta(snapshot.eta);
    });
    root.dataset.updatedAt = String(Date.now());
    if (snapshot.status && snapshot.status !== status) statusChanged(snapshot.status);
    refreshPanelsSoon(snapshot);
  }

  // The health panel and the recipients table follow the counters, at most every
  // PANEL_REFRESH_MS; the table never under someone typing a search (same URL, filters
  // and page: the rows keep their place).
  var lastCounts = null;
  var panelTimer = null;
  var panelsRefreshedAt = Date.now();
  function refreshPanelsSoon(snapshot) {
    var counts = COUNTERS.map(function (name) { return snapshot[name]; }).join(",");
    if (lastCounts === null || counts === lastCounts) {
      lastCounts = counts;
      return;
    }
    lastCounts = counts;
    if (panelTimer) return;
    var wait = Math.max(0, PANEL_REFRESH_MS - (Date.now() - panelsRefreshedAt));
    panelTimer = setTimeout(function () {
      panelTimer = null;
      panelsRefreshedAt = Date.now();
      load(root.dataset.healthUrl, "#status-health");
      var search = document.getElementById("status-search");
      if (search && document.activeElement === search) return;
      load(window.location.pathname + window.location.search, "#status-messages");
    }, wait);
  }

  function load(url, selector) {
    var target = root.querySelector(selector);
    if (!target || !url) return;
    if (window.htmx) {
      window.htmx.ajax("GET", url, { target: target, swap: "innerHTML" });
      return;
    }
    fetch(url, { credentials: "same-origin", headers: { "HX-Request": "true", "HX-Target": target.id } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) { if (html !== null) target.innerHTML = html; })
      .catch(function () {});
  }

  function statusChanged(next) {
    status = next;
    root.dataset.status = next;
    load(root.dataset.stateUrl, "#status-state");
    load(root.dataset.healthUrl, "#status-health");
  }

  // The banner partial says which status it shows: keep the header badge in step.
  function adoptState(container) {
    var state = container && container.querySelector("[data-state]");
    if (!state) return;
    status = state.dataset.state;
    root.dataset.status = status;
    var badge = document.querySelector("[data-campaign-badge]");
    if (badge) {
      badge.className = "badge badge-" + status;
      badge.textContent = state.dataset.stateLabel || status;
    }
  }

  function setConnection(state, text) {
    var el = root.querySelector("[data-conn]");
    if (!el) return;
    el.dataset.conn = state;
    el.textContent = text;
    root.dataset.conn = state;
  }

  function poll() {
    fetch(root.dataset.pollUrl, {
      credentials: "same-origin",
      headers: { Accept: "application/json", "X-Account": root.dataset.account || "" },
    })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(render)
      .catch(function () {});
  }

  document.body.addEventListener("htmx:beforeSwap", function (event) {
    // Refused actions (403 role, 409 wrong state) come back as the banner with the
    // reason: show it instead of dropping the response.
    var code = event.detail.xhr && event.detail.xhr.status;
    if ((code === 403 || code === 409) && root.contains(event.detail.target)) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
  document.body.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail.target;
    if (target && target.id === "status-state") {
      var before = status;
      adoptState(target);
      if (status !== before) {
        load(root.dataset.healthUrl, "#status-health");
        poll();  // the counters' view of the new status, without waiting for a push
      }
    }
  });
  each("eta", function (el) { el.textContent = describeEta(el.dataset.eta); });
  A2PLiveSocket({
    path: root.dataset.wsPath,
    pollMs: POLL_MS,
    pollAtOnce: true,
    onFrame: render,
    poll: poll,
    setConnection: setConnection,
  });
})();
