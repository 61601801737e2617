// The filter builder (templates/tribes/_builder.html): condition rows <-> the JSON
// textarea that is posted. A filter with nested groups stays JSON-only.
(function () {
  "use strict";
  var NUMBER_FIELDS = { tribe: 1, replied_to_campaign: 1, messaged_within_hours: 1 };

  function typed(text, field) {
    var t = text.trim();
    if (NUMBER_FIELDS[field]) return /^-?\d+$/.test(t) ? parseInt(t, 10) : t;
    if (field.indexOf("custom.") === 0) {
      if (t === "true" || t === "false") return t === "true";
      if (/^-?\d+(\.\d+)?$/.test(t)) return parseFloat(t);
    }
    return t;
  }

  function shown(value) {
    if (Array.isArray(value)) return value.map(String).join(", ");
    return value === undefined || value === null ? "" : String(value);
  }

  function setup(root) {
    var ops = JSON.parse(root.dataset.ops);
    var rows = root.querySelector("[data-fb-rows]");
    var template = root.querySelector("[data-fb-row-template]");
    var combine = root.querySelector("[data-fb-combine]");
    var json = root.querySelector("[data-fb-json]");
    var csrf = root.querySelector("[name=csrfmiddlewaretoken]").value;

    function fieldOf(row) {
      var f = row.querySelector("[data-fb-field]").value;
      return f === "custom" ? "custom." + row.querySelector("[data-fb-custom]").value.trim() : f;
    }

    function fillOps(row, chosen) {
      var f = row.querySelector("[data-fb-field]").value;
      var select = row.querySelector("[data-fb-op]");
      select.innerHTML = "";
      (ops[f] || []).forEach(function (op) {
        var o = document.createElement("option");
        o.value = op;
        o.textContent = op.replace("_", " ");
        select.appendChild(o);
      });
      if (chosen) select.value = chosen;
      row.querySelector("[data-fb-custom]").hidden = f !== "custom";
    }

    function sync() {
      var items = [];
      rows.querySelectorAll("[data-fb-row]").forEach(function (row) {
        var field = fieldOf(row);
        var op = row.querySelector("[data-fb-op]").value;
        var raw = row.querySelector("[data-fb-value]").value;
        var cond = { field: field, op: op };
        if (op === "exists") cond.value = raw.trim() !== "false";
        else if (op === "in" || op === "not_in")
          cond.value = raw.split(",").filter(function (v) { return v.trim() !== ""; })
            .map(function (v) { return typed(v, field); });
        else cond.value = typed(raw, field);
        items.push(cond);
      });
      var filter = {};
      filter[combine.value] = items;
      json.value = JSON.stringify(filter);
    }

    function addRow(cond) {
      var row = template.content.firstElementChild.cloneNode(true);
      rows.appendChild(row);
      var fieldSelect = row.querySelector("[data-fb-field]");
      if (cond && cond.field && cond.field.indexOf("custom.") === 0) {
        fieldSelect.value = "custom";
        row.querySelector("[data-fb-custom]").value = cond.field.slice(7);
      } else if (cond && cond.field) {
        fieldSelect.value = cond.field;
      }
      fillOps(row, cond && cond.op);
      if (cond) row.querySelector("[data-fb-value]").value = shown(cond.value);
      fieldSelect.addEventListener("change", function () { fillOps(row); sync(); });
      row.addEventListener("input", sync);
      row.addEventListener("change", sync);
      row.querySelector("[data-fb-remove]").addEventListener("click", function () {
        row.remove();
        sync();
      });
    }

    // Start from the textarea: a flat filter becomes rows; a nested one stays JSON.
    var start = {};
    try { start = JSON.parse(json.value || "{}"); } catch (e) { start = {}; }
    var kind = start.any ? "any" : "all";
    var items = start[kind] || [];
    var flat = items.every(function (c) { return c && c.field; });
    combine.value = kind;
    if (flat) {
      items.forEach(addRow);
      if (!items.length) { addRow(null); sync(); }
    } else {
      root.querySelector(".fb-json").open = true;
    }

    combine.addEventListener("change", sync);
    root.querySelector("[data-fb-add]").addEventListener("click", function () { addRow(null); sync(); });

    function post(url, extra, out) {
      var body = new FormData();
      body.append("csrfmiddlewaretoken", csrf);
      body.append("filter", json.value);
      var modeInput = root.closest("form") && root.closest("form").querySelector("[name=mode]");
      body.append("mode", modeInput ? modeInput.value : root.dataset.mode || "cross");
      Object.keys(extra).forEach(function (k) { body.append(k, extra[k]); });
      fetch(url, { method: "POST", body: body, headers: { "X-CSRFToken": csrf }, credentials: "same-origin" })
        .then(function (r) { return r.text(); })
        .then(function (html) { out.innerHTML = html; });
    }

    root.querySelector("[data-fb-preview]").addEventListener("click", function () {
      post(root.dataset.previewUrl, {}, root.querySelector("[data-fb-preview-out]"));
    });
    var save = root.querySelector("[data-fb-save]");
    if (save) save.addEventListener("click", function () {
      post(root.dataset.saveUrl, { name: root.querySelector("[data-fb-save-name]").value },
        root.querySelector("[data-fb-save-out]"));
    });
  }

  function init() { document.querySelectorAll("[data-filter-builder]").forEach(function (root) {
    if (!root.dataset.fbReady) { root.dataset.fbReady = "1"; setup(root); }
  }); }
  document.addEventListener("DOMContentLoaded", init);
  document.addEventListener("htmx:afterSettle", init);
})();
