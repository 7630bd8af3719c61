// Small enhancements; every page works without this script.
(function () {
  "use strict";
  // A form sent on a slow connection is not sent twice by a second tap.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.getAttribute("method") !== "post") { return; }
    if (form.dataset.sending === "yes") { event.preventDefault(); return; }
    form.dataset.sending = "yes";
    form.setAttribute("aria-busy", "true");
  });
  // Say clearly when the connection is gone, and when it is back.
  function showConnection() {
    var banner = document.getElementById("offline");
    if (banner) { banner.hidden = navigator.onLine; }
  }
  window.addEventListener("online", showConnection);
  window.addEventListener("offline", showConnection);
  document.addEventListener("DOMContentLoaded", showConnection);
}());
