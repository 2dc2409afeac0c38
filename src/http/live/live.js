// Klaxon's live page: refreshes the panels from the server every 1.5 s and sends replays.
// The server renders (and escapes) all HTML; this script only swaps it in.
(function () {
  "use strict";
  var PERIOD_MS = 1500;
  var panels = document.getElementById("panels");
  var status = document.getElementById("status");
  var last = null;
  var busy = false;

  function setStatus(kind, text) {
    status.className = "status status-" + kind;
    status.textContent = text;
  }

  function swap(html) {
    // Keep open attempt logs open across the swap.
    var open = [];
    panels.querySelectorAll("details[open][id]").forEach(function (d) { open.push(d.id); });
    panels.innerHTML = html;
    open.forEach(function (id) {
      var d = document.getElementById(id);
      if (d) { d.open = true; }
    });
  }

  function refresh() {
    if (busy) { return Promise.resolve(); }
    busy = true;
    return fetch("/live/panels", { credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (response.status === 401 || response.status === 403) {
          setStatus("error", "not signed in: open this page as /?token=<KLAXON_API_TOKEN>");
          return;
        }
        if (!response.ok) {
          setStatus("error", "the server answered " + response.status + "; retrying");
          return;
        }
        return response.text().then(function (html) {
          if (html !== last) { swap(html); last = html; }
          setStatus("ok", "live · updated " + new Date().toLocaleTimeString());
        });
      })
      .catch(function () { setStatus("error", "cannot reach Klaxon; retrying"); })
      .then(function () { busy = false; });
  }

  function replay(button) {
    var id = button.getAttribute("data-delivery-id");
    button.disabled = true;
    button.textContent = "Replaying…";
    fetch("/v1/deliveries/" + encodeURIComponent(id) + "/replay", {
      method: "POST",
      credentials: "same-origin"
    })
      .then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (body) {
          if (response.ok) {
            button.textContent = "Queued";
          } else {
            button.disabled = false;
            button.textContent = "Replay";
            setStatus("error", "replay refused: " +
              ((body.error && body.error.message) || ("status " + response.status)));
          }
        });
      })
      .catch(function () {
        button.disabled = false;
        button.textContent = "Replay";
        setStatus("error", "cannot reach Klaxon to replay");
      })
      .then(refresh);
  }

  panels.addEventListener("click", function (event) {
    var button = event.target.closest("button.replay");
    if (button && !button.disabled) { replay(button); }
  });

  setStatus("ok", "live");
  refresh();
  setInterval(refresh, PERIOD_MS);
})();
