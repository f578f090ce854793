// Progressive enhancement only: every page works without this script.
(function () {
  "use strict";
  var root = document.documentElement;
  var stored = null;
  try { stored = localStorage.getItem("hanabi-theme"); } catch (e) { /* storage off */ }
  if (stored === "light" || stored === "dark") { root.dataset.theme = stored; }

  document.addEventListener("DOMContentLoaded", function () {
    var toggle = document.getElementById("theme-toggle");
    if (toggle) {
      toggle.hidden = false;
      toggle.addEventListener("click", function () {
        var dark = root.dataset.theme ? root.dataset.theme === "dark"
          : window.matchMedia("(prefers-color-scheme: dark)").matches;
        root.dataset.theme = dark ? "light" : "dark";
        try { localStorage.setItem("hanabi-theme", root.dataset.theme); } catch (e) { /* storage off */ }
      });
    }
    // Ask before destructive actions (forms or buttons with data-confirm).
    document.addEventListener("submit", function (event) {
      var submitter = event.submitter;
      var text = (submitter && submitter.dataset.confirm) || event.target.dataset.confirm;
      if (text && !window.confirm(text)) { event.preventDefault(); }
    });
  });
})();
