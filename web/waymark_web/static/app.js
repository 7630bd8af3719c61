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

  // Offline, the search page the worker answered with finds the results in the directory it
  // kept: each word of the query starts a word of the service, and every filter holds.
  function plain(text) {
    return (text || "").normalize("NFKD").replace(/\p{M}/gu, "").toLowerCase()
      .replace(/[^\p{L}\p{N}]+/gu, " ").trim();
  }
  function matches(service, query, directory) {
    var words = " " + service.words;
    var found = plain(query.get("q")).split(" ").every(function (word) {
      return !word || words.indexOf(" " + word) >= 0;
    });
    var lists = { category: "categories", language: "languages", migration_stage: "migration_stages" };
    Object.keys(lists).forEach(function (name) {
      var wanted = query.get(name);
      if (wanted && service[lists[name]].indexOf(wanted) < 0) { found = false; }
    });
    var population = query.get("population");
    if (population && service.populations.indexOf(population) < 0 &&
        service.populations.indexOf("all_migrants") < 0) { found = false; }
    if (query.get("accepts_referrals") === "true" && !service.accepts_referrals) { found = false; }
    var country = query.get("country");
    return found && (!country || country === directory.country);
  }
  function fill(list, texts) {
    texts.forEach(function (text) {
      var item = document.createElement("li");
      item.textContent = text;
      list.appendChild(item);
    });
  }
  function card(template, service) {
    var shown = template.content.firstElementChild.cloneNode(true);
    function field(name) { return shown.querySelector("[data-field='" + name + "']"); }
    field("name").textContent = service.name;
    field("name").href = "/services/" + service.id;
    field("description").textContent = service.description;
    if (service.lang) { field("name").lang = service.lang; field("description").lang = service.lang; }
    field("organization").textContent = service.organization;
    field("verified").hidden = !service.verified;
    field("stale").hidden = !service.stale;
    fill(field("facts"), service.facts);
    fill(field("contact"), service.contact);
    return shown;
  }
  function searchOffline(directory) {
    var query = new URLSearchParams(location.search);
    var opened = /^\/services\/([0-9a-f-]{36})$/.exec(location.pathname);
    var form = document.querySelector("form.search");
    query.forEach(function (value, name) {
      var input = form.elements.namedItem(name);
      if (input && input.type === "checkbox") { input.checked = value === "true"; } else if (input) { input.value = value; }
    });
    var notice = document.getElementById("offline-notice");
    notice.textContent = directory.notice;
    notice.hidden = false;
    document.getElementById("offline-elsewhere").hidden =
      !query.get("country") || query.get("country") === directory.country;
    document.getElementById("offline-near").hidden = !query.get("near");
    var found = directory.services.filter(function (service) {
      return opened ? service.id === opened[1] : matches(service, query, directory);
    });
    var results = document.getElementById("offline-results");
    var template = document.getElementById("offline-card");
    found.forEach(function (service) { results.appendChild(card(template, service)); });
    document.getElementById("offline-count").textContent = found.length.toLocaleString(document.documentElement.lang);
    document.getElementById("results").hidden = false;
  }
  document.addEventListener("DOMContentLoaded", function () {
    var area = document.getElementById("offline-search");
    if (!area) { return; }
    fetch(area.dataset.directory, { credentials: "same-origin" }).then(function (response) {
      if (!response.ok || response.redirected) { throw new Error("not kept"); }
      return response.json();
    }).then(searchOffline).catch(function () {
      document.getElementById("offline-missing").hidden = false;
    });
  });
}());
