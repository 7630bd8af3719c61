// The service worker: the app shell, her country's directory and the directory pages she
// opened, for searching without a connection. Only what the allow-list names is kept: never a
// case, a referral, consent or settings.
"use strict";
var SHELL = __SHELL__;
var CACHE = "waymark-" + __VERSION__;
var OFFLINE_PAGE = "/offline";
var OFFLINE_SEARCH = __OFFLINE_SEARCH__;
var OWN_DIRECTORY = __OWN_DIRECTORY__;
var SERVICE_PAGE = /^\/services\/[0-9a-f-]{36}$/;
var KEEP_DIRECTORY_MS = 60 * 60 * 1000; // fetched again after an hour online

function isDirectoryPage(url) {
  // A search made for a case or a referral names them: it stays out of the cache.
  if (url.searchParams.has("for_case") || url.searchParams.has("for_referral")) { return false; }
  return url.pathname === "/services" || SERVICE_PAGE.test(url.pathname);
}

// Her country's directory and the page that searches it, fetched again when an hour old.
function keepOwnDirectory() {
  return caches.open(CACHE).then(function (cache) {
    return cache.match(OWN_DIRECTORY).then(function (kept) {
      var keptAt = kept ? Date.parse(kept.headers.get("date") || "") : NaN;
      if (Date.now() - keptAt < KEEP_DIRECTORY_MS) { return undefined; }
      return Promise.all([OWN_DIRECTORY, OFFLINE_SEARCH].map(function (path) {
        return fetch(path, { credentials: "same-origin" }).then(function (response) {
          // Signed out, the page answers with the sign-in page: nothing is kept.
          if (response.ok && !response.redirected) { return cache.put(path, response); }
          return undefined;
        });
      }));
    });
  }).catch(function () { return undefined; });
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
  }).then(function () { return self.clients.claim(); }).then(keepOwnDirectory));
});

function networkFirst(event) {
  return fetch(event.request).then(function (response) {
    // A redirect (to sign in) or an error page is not a directory page.
    if (response.ok && response.type === "basic" && !response.redirected) {
      var copy = response.clone();
      event.waitUntil(caches.open(CACHE).then(function (cache) {
        return cache.put(event.request, copy);
      }).then(keepOwnDirectory));
    }
    return response;
  }).catch(function () {
    // Offline: the page as she saw it, else the search over her country's directory.
    return caches.open(CACHE).then(function (cache) {
      return cache.match(event.request, { ignoreVary: true }).then(function (kept) {
        return kept || cache.match(OFFLINE_SEARCH);
      }).then(function (found) { return found || cache.match(OFFLINE_PAGE); });
    });
  });
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  var url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) { return; }
  if (isDirectoryPage(url)) {
    event.respondWith(networkFirst(event));
  } else if (url.pathname === OWN_DIRECTORY) {
    event.respondWith(caches.match(OWN_DIRECTORY).then(function (kept) {
      return kept || fetch(request);
    }));
  } else if (SHELL.indexOf(url.pathname) >= 0) {
    event.respondWith(caches.match(request).then(function (kept) { return kept || fetch(request); }));
  } else if (request.mode === "navigate") {
    // Any other page needs a connection; without one she is told so, never shown old content.
    event.respondWith(fetch(request).then(function (response) {
      if (response.ok) { event.waitUntil(keepOwnDirectory()); }
      return response;
    }).catch(function () { return caches.match(OFFLINE_PAGE); }));
  }
});
