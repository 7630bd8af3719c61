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
  // Signed in, the app works offline for the directory; on the sign-in page whatever an
  // earlier session kept (one that ended without signing out) is dropped (shared devices).
  function keepOrForget() {
    if (!("serviceWorker" in navigator)) { return; }
    if (document.querySelector("form.sign-out")) {
      navigator.serviceWorker.register("/sw.js", { scope: "/" });
    } else if (document.querySelector("form[action='/sign-in']")) {
      navigator.serviceWorker.getRegistrations().then(function (registrations) {
        registrations.forEach(function (registration) { registration.unregister(); });
      });
      if (window.caches) {
        caches.keys().then(function (names) { names.forEach(function (name) { caches.delete(name); }); });
      }
    }
  }
  document.addEventListener("DOMContentLoaded", keepOrForget);
}());
