/* Conversations: live inbox list, thread and the Dashboard's recent replies.
 *
 * One WebSocket per page (ws/conversations/) carries small events
 * {"events": [{"id", "kind"}], "refresh": bool}; every live region on the page
 * ([data-live-inbox]) decides whether an event concerns it and then re-fetches its own
 * server-rendered partial (the same one the page rendered on load), debounced.
 * While the socket is down every region is refreshed every 5 s, and the socket
 * reconnects with exponential backoff (live-socket.js).
 *
 * Regions:
 *  - data-live-inbox="list": the inbox list; its URL is the filter form's current state.
 *    Checked rows stay checked across refreshes.
 *  - data-live-inbox="thread" data-conversation="<id>": the bubbles; the newest page is
 *    fetched and merged by bubble id (status changes replace, new ones append), and
 *    scrolling to the top (or "Load older") prepends the previous page.
 *  - data-live-inbox="feed": the Dashboard's recent replies (new messages only).
 */
(function () {
  "use strict";

  var regions = Array.prototype.slice.call(document.querySelectorAll("[data-live-inbox]"));
  if (!regions.length) return;

  var POLL_MS = 5000;
  var DEBOUNCE_MS = 250;

  function fetchHtml(url, target) {
    return fetch(url, {
      credentials: "same-origin",
      headers: { "HX-Request": "true", "HX-Target": target || "" },
    }).then(function (r) { return r.ok ? r.text() : null; });
  }

  function parse(html) {
    var box = document.createElement("div");
    box.innerHTML = html;
    return box;
  }

  // --- list -------------------------------------------------------------------------
  function listUrl(region) {
    var form = region.dataset.form && document.getElementById(region.dataset.form);
    var base = region.dataset.url;
    if (!form) return base;
    var params = new URLSearchParams(new FormData(form));
    return base + (base.indexOf("?") >= 0 ? "&" : "?") + params.toString();
  }

  function refreshList(region) {
    var checked = {};
    region.querySelectorAll("input[name=conversation]:checked").forEach(function (box) {
      checked[box.value] = true;
    });
    return fetchHtml(listUrl(region), region.id).then(function (html) {
      if (html === null) return;
      region.innerHTML = html;
      region.querySelectorAll("input[name=conversation]").forEach(function (box) {
        if (checked[box.value]) box.checked = true;
      });
      if (window.htmx) window.htmx.process(region);
      region.dataset.updatedAt = String(Date.now());
    });
  }

  // --- thread -----------------------------------------------------------------------
  function nearBottom(scroller) {
    return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 120;
  }

  function bubbles(region) {
    return region.querySelector("[data-bubbles]");
  }

  function refreshThread(region) {
    var list = bubbles(region);
    if (!list) return Promise.resolve();
    var wasAtBottom = nearBottom(region);
    return fetchHtml(region.dataset.url, region.id).then(function (html) {
      if (html === null) return;
      var incoming = parse(html).querySelectorAll("[data-message]");
      incoming.forEach(function (bubble) {
        var existing = list.querySelector('[data-message="' + bubble.dataset.message + '"]');
        if (existing) {
          if (existing.outerHTML !== bubble.outerHTML) existing.replaceWith(bubble);
        } else {
          list.appendChild(bubble);
        }
      });
      if (wasAtBottom) region.scrollTop = region.scrollHeight;
      region.dataset.updatedAt = String(Date.now());
      var header = region.dataset.headerUrl && document.getElementById(region.dataset.header);
      if (header) {
        fetchHtml(region.dataset.headerUrl, header.id).then(function (h) {
          if (h !== null && !header.contains(document.activeElement)) {
            header.innerHTML = h;
            if (window.htmx) window.htmx.process(header);
          }
        });
      }
    });
  }

  var loadingOlder = false;
  function loadOlder(region) {
    var list = bubbles(region);
    var more = region.querySelector("[data-older-url]");
    if (!list || !more || loadingOlder) return;
    loadingOlder = true;
    var before = region.scrollHeight - region.scrollTop;
    fetchHtml(more.dataset.olderUrl, region.id)
      .then(function (html) {
        if (html === null) return;
        var page = parse(html);
        var nextMore = page.querySelector("[data-older-url]");
        var incoming = page.querySelectorAll("[data-message]");
        var first = list.firstElementChild;
        incoming.forEach(function (bubble) {
          if (!list.querySelector('[data-message="' + bubble.dataset.message + '"]')) {
            list.insertBefore(bubble, first);
          }
        });
        if (nextMore) more.replaceWith(nextMore);
        else more.remove();
        region.scrollTop = region.scrollHeight - before;  // keep the reader's place
      })
      .finally(function () { loadingOlder = false; });
  }

  // --- feed -------------------------------------------------------------------------
  function refreshFeed(region) {
    return fetchHtml(region.dataset.url, region.id).then(function (html) {
      if (html === null) return;
      region.innerHTML = html;
      region.dataset.updatedAt = String(Date.now());
    });
  }

  var REFRESH = { list: refreshList, thread: refreshThread, feed: refreshFeed };

  function concerns(region, frame) {
    if (frame.refresh) return true;
    var kind = region.dataset.liveInbox;
    return (frame.events || []).some(function (e) {
      if (kind === "thread") return String(e.id) === region.dataset.conversation;
      if (kind === "feed") return e.kind === "new_message";
      return true;
    });
  }

  var timers = new Map();
  function refreshSoon(region) {
    if (timers.has(region)) return;
    timers.set(region, setTimeout(function () {
      timers.delete(region);
      REFRESH[region.dataset.liveInbox](region);
    }, DEBOUNCE_MS));
  }

  function handle(frame) {
    if (!frame || typeof frame !== "object") return;
    regions.forEach(function (region) {
      if (concerns(region, frame)) refreshSoon(region);
    });
  }

  // --- connection -------------------------------------------------------------------
  function setConnection(state, text) {
    document.querySelectorAll("[data-inbox-conn]").forEach(function (el) {
      el.dataset.conn = state;
      el.textContent = text;
    });
    document.body.dataset.inboxSocket = state;
  }

  function poll() {
    regions.forEach(function (region) { REFRESH[region.dataset.liveInbox](region); });
  }

  regions.forEach(function (region) {
    if (region.dataset.liveInbox !== "thread") return;
    region.scrollTop = region.scrollHeight;  // a phone's thread opens at the newest
    region.addEventListener("scroll", function () {
      if (region.scrollTop < 80) loadOlder(region);
    });
    region.addEventListener("click", function (event) {
      if (event.target.closest("[data-older-url]")) {
        event.preventDefault();
        loadOlder(region);
      }
    });
  });

  // After a reply is sent (htmx swaps the composer), show it at once.
  document.body.addEventListener("inbox:sent", function () {
    regions.forEach(function (region) {
      if (region.dataset.liveInbox === "thread") refreshThread(region).then(function () {
        region.scrollTop = region.scrollHeight;
      });
    });
  });

  // "Select all" on the inbox list.
  document.body.addEventListener("change", function (event) {
    if (!event.target.matches("[data-select-all]")) return;
    var on = event.target.checked;
    document.querySelectorAll("input[name=conversation]").forEach(function (box) { box.checked = on; });
  });

  A2PLiveSocket({
    path: "/ws/conversations/",
    pollMs: POLL_MS,
    onFrame: handle,
    poll: poll,
    setConnection: setConnection,
  });
})();
