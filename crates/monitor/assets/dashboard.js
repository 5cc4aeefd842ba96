// The dashboard's auto-refresh: every data-refresh seconds it fetches /api/dashboard with
// the page's own query (so the range in the URL drives it) and swaps <main>. The pause
// button stops it; the state is kept in the URL (paused=1) so a shared link keeps it too.
(function () {
  "use strict";
  var body = document.body;
  var every = Math.max(1, parseInt(body.getAttribute("data-refresh") || "30", 10)) * 1000;
  var button = document.getElementById("pause");
  var updated = document.getElementById("updated");
  var params = new URLSearchParams(location.search);
  var paused = params.get("paused") === "1";
  var timer = null;

  function show() {
    button.textContent = paused ? "Resume auto-refresh" : "Pause auto-refresh";
    button.setAttribute("aria-pressed", paused ? "true" : "false");
    body.setAttribute("data-paused", paused ? "1" : "0");
  }

  function stamp(when, note) {
    updated.textContent = (paused ? "paused · " : "auto-refresh every " + every / 1000 + " s · ") + "updated " + when + (note ? " · " + note : "");
  }

  function refresh() {
    var q = new URLSearchParams(location.search);
    q.delete("paused");
    fetch("/api/dashboard?" + q.toString(), { headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.json(); })
      .then(function (data) {
        if (paused) { return; }
        document.getElementById("main").innerHTML = data.html;
        body.setAttribute("data-refreshes", String(parseInt(body.getAttribute("data-refreshes") || "0", 10) + 1));
        stamp(new Date(data.generated_at).toLocaleTimeString());
      })
      .catch(function (e) { stamp(new Date().toLocaleTimeString(), "refresh failed: " + e.message); });
  }

  function schedule() {
    if (timer) { clearInterval(timer); timer = null; }
    if (!paused) { timer = setInterval(refresh, every); }
  }

  button.addEventListener("click", function () {
    paused = !paused;
    var q = new URLSearchParams(location.search);
    if (paused) { q.set("paused", "1"); } else { q.delete("paused"); }
    history.replaceState(null, "", location.pathname + (q.toString() ? "?" + q.toString() : ""));
    show();
    schedule();
    stamp(new Date().toLocaleTimeString());
  });

  show();
  stamp(new Date().toLocaleTimeString());
  schedule();
})();
