/* A page's live feed: a WebSocket with a polling fallback (status.js, inbox.js).
 *
 * A2PLiveSocket({path, pollMs, onFrame, poll, setConnection, pollAtOnce}) connects to
 * `path` on this host; each frame (JSON) goes to onFrame. While the socket is down,
 * poll() runs every pollMs (at once too when pollAtOnce), and the socket reconnects
 * with exponential backoff and jitter (no reconnect stampede after a deploy). When it
 * is back after polling, poll() runs once more to catch up. setConnection(state, text)
 * is told "live" or "polling" and a line for people. It stops when the page goes.
 */
(function () {
  "use strict";

  var FIRST_BACKOFF_MS = 1000;
  var MAX_BACKOFF_MS = 30000;

  window.A2PLiveSocket = function (opts) {
    var socket = null;
    var backoff = FIRST_BACKOFF_MS;
    var pollTimer = null;
    var retryTimer = null;
    var stopped = false;
    var every = "updating every " + Math.round(opts.pollMs / 1000) + " s";

    function startPolling() {
      if (pollTimer) return;
      if (opts.pollAtOnce) opts.poll();
      pollTimer = setInterval(opts.poll, opts.pollMs);
    }

    function stopPolling() {
      if (pollTimer) clearInterval(pollTimer);
      pollTimer = null;
    }

    function down() {
      opts.setConnection("polling", "Reconnecting… " + every);
      startPolling();
      scheduleReconnect();
    }

    function scheduleReconnect() {
      if (stopped) return;
      clearTimeout(retryTimer);
      var delay = backoff * (0.75 + Math.random() * 0.5);
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
      retryTimer = setTimeout(connect, delay);
    }

    function connect() {
      if (stopped) return;
      if (!("WebSocket" in window)) {
        opts.setConnection("polling", "U" + every.slice(1));
        startPolling();
        return;
      }
      var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
      var ws;
      try {
        ws = new WebSocket(scheme + window.location.host + opts.path);
      } catch (err) {
        down();
        return;
      }
      socket = ws;
      ws.onopen = function () {
        var wasPolling = pollTimer !== null;
        backoff = FIRST_BACKOFF_MS;
        stopPolling();
        opts.setConnection("live", "Live");
        if (wasPolling) opts.poll();  // whatever happened while we were away
      };
      ws.onmessage = function (event) {
        try {
          opts.onFrame(JSON.parse(event.data));
        } catch (err) { /* a malformed frame: the next one replaces it */ }
      };
      ws.onclose = function () {
        if (socket === ws) socket = null;
        if (stopped) return;
        down();
      };
    }

    window.addEventListener("pagehide", function () {
      stopped = true;
      stopPolling();
      clearTimeout(retryTimer);
      if (socket) socket.close();
    });

    connect();
  };
})();
