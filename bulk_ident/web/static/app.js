// The page's only script besides htmx: live progress over server-sent events, and one-line
// error messages for requests htmx does not swap. No inline scripts (the page's CSP forbids them).
(function () {
  "use strict";
  var source = null;

  function connect(box) {
    if (source !== null || box.dataset.running !== "yes") {
      return;
    }
    source = new EventSource(box.dataset.events);
    source.addEventListener("progress", function (event) {
      box.innerHTML = event.data;
    });
    source.addEventListener("end", function () {
      source.close();
      source = null;
      // The run is over: draw the step again (buttons, the last run's link).
      htmx.ajax("GET", window.location.pathname, { target: "body", swap: "innerHTML" });
    });
    source.onerror = function () {
      // The server went away (or restarted): stop retrying; the page shows the last state.
      if (source !== null) {
        source.close();
        source = null;
      }
    };
  }

  function scan(root) {
    var box = (root.querySelector ? root : document).querySelector("[data-events]");
    if (box === null && root.matches && root.matches("[data-events]")) {
      box = root;
    }
    if (box !== null) {
      connect(box);
    }
  }

  document.addEventListener("htmx:load", function (event) {
    scan(event.detail.elt);
  });
  document.addEventListener("DOMContentLoaded", function () {
    scan(document);
  });
  document.addEventListener("htmx:beforeSwap", function (event) {
    // A new page replaces the progress box: let it connect again.
    if (event.detail.target === document.body && source !== null) {
      source.close();
      source = null;
    }
  });
  document.addEventListener("htmx:responseError", function (event) {
    var flash = document.getElementById("flash");
    var xhr = event.detail.xhr;
    if (flash !== null && xhr && !event.detail.shouldSwap) {
      var text = (xhr.responseText || xhr.statusText || "the request failed").split("\n")[0];
      flash.textContent = text.length > 300 ? text.slice(0, 300) + "..." : text;
      flash.className = "error";
    }
  });
  document.addEventListener("htmx:sendError", function () {
    var flash = document.getElementById("flash");
    if (flash !== null) {
      flash.textContent = "the page's server does not answer: is `bulk-ident ui` still running?";
      flash.className = "error";
    }
  });
})();
