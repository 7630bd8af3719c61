// The service worker: the app shell and directory pages for searching without a connection.
// Only pages the allow-list names are kept: never a case, a referral, consent or settings.
"use strict";
var SHELL = __SHELL__;
var CACHE = "waymark-" + __VERSION__;
var OFFLINE_PAGE = "/offline";
var OWN_DIRECTORY = "/offline/directory";
var SERVICE_PAGE = /^\/services\/[0-9a-f-]{36}$/;

function isDirectoryPage(url) {
  // A search made for a case or a referral names them: it stays out of the cache.
  if (url.searchParams.has("for_case") || url.searchParams.has("for_referral")) { return false; }
  return url.pathname === "/services" || SERVICE_PAGE.test(url.pathname);
}

self.addEventListener("install", function (event) {
  event.waitUntil(caches.open(CACHE).then(function (cache) {
    return cache.addAll(SHELL);
  }).then(function () { return self.skipWaiting(); }));
});

self.addEventListener("activate", function (event) {
  event.waitUntil(caches.keys().then(function (names) {
    return Promise.all(names.filter(function (name) { return name !== CACHE; })
      .map(function (name) { return caches.delete(name); }));
  }).then(function () { return self.clients.claim(); }));
});

// The directory of her own country, kept once per session (the server redirects to it).
function keepOwnDirectory(cache) {
  return cache.match(OWN_DIRECTORY).then(function (kept) {
    if (kept) { return undefined; }
    return fetch(OWN_DIRECTORY, { credentials: "same-origin" }).then(function (response) {
      var landed = new URL(response.url);
      if (response.ok && landed.pathname === "/services") { return cache.put(OWN_DIRECTORY, response); }
      return undefined;
    });
  }).catch(function () { return undefined; });
}

function networkFirst(event, url) {
  return fetch(event.request).then(function (response) {
    // A redirect (to sign in) or an error page is not a directory page.
    if (response.ok && response.type === "basic") {
      var copy = response.clone();
      event.waitUntil(caches.open(CACHE).then(function (cache) {
        return cache.put(event.request, copy).then(function () { return keepOwnDirectory(cache); });
      }));
    }
    return response;
  }).catch(function () {
    return caches.open(CACHE).then(function (cache) {
      return cache.match(event.request, { ignoreVary: true }).then(function (kept) {
        if (kept) { return kept; }
        return cache.match(url.pathname === "/services" ? OWN_DIRECTORY : OFFLINE_PAGE)
          .then(function (fallback) { return fallback || cache.match(OFFLINE_PAGE); });
      });
    });
  });
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  var url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) { return; }
  if (isDirectoryPage(url)) {
    event.respondWith(networkFirst(event, url));
  } else if (SHELL.indexOf(url.pathname) >= 0) {
    event.respondWith(caches.match(request).then(function (kept) { return kept || fetch(request); }));
  } else if (request.mode === "navigate") {
    // Any other page needs a connection; without one she is told so, never shown old content.
    event.respondWith(fetch(request).catch(function () { return caches.match(OFFLINE_PAGE); }));
  }
});
