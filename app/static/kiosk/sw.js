// The kiosk's service worker: the shell (page, scripts, style, manifest) from the network
// when it answers, from this cache when it does not, so that a reload with the service
// down still opens the kiosk. The form and the queue live in IndexedDB (the page's own),
// which is why the queue works without this worker too. API calls pass through untouched.
const CACHE = "skm-kiosk-shell-v1";
const SHELL = [
  "/kiosk/", "/kiosk/kiosk.js", "/kiosk/queue.js", "/kiosk/manifest.webmanifest", "/kiosk/icon.svg",
  "/static/common/i18n.js", "/static/common/survey.js", "/static/common/style.css",
];
const TIMEOUT_MS = 4000; // a port that drops packets: fall back on the cache in time

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((names) => Promise.all(names.filter((n) => n !== CACHE).map((n) => caches.delete(n))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== location.origin || !SHELL.includes(url.pathname)) return;
  event.respondWith(networkFirst(event.request, url.pathname));
});

async function networkFirst(request, path) { // a navigation cannot be re-sent with options: by URL
  const cache = await caches.open(CACHE);
  try {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
    const answer = await fetch(request.url, { signal: controller.signal });
    clearTimeout(timer);
    if (answer.ok) await cache.put(path, answer.clone());
    return answer;
  } catch (error) {
    const cached = await cache.match(path);
    if (cached) return cached;
    throw error;
  }
}
