// The kiosk's durable queue and its settings, in IndexedDB (no library: a few requests).
// A response is written here, with strict durability, before anything is sent; it leaves
// only when the service has answered it `created` or `duplicate`. `invalid` and `conflict`
// answers set it aside for staff, never to be retried blindly.
const NAME = "skm-kiosk";
let opened;

function open() {
  opened ??= new Promise((resolve, reject) => {
    const request = indexedDB.open(NAME, 1);
    request.onupgradeneeded = () => {
      const db = request.result;
      db.createObjectStore("queue", { keyPath: "id" }).createIndex("state", "state");
      db.createObjectStore("meta");
    };
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  return opened;
}

/** Run `body(store)` in one transaction; resolves once it is committed (to disk, `strict`). */
async function run(store, mode, body) {
  const db = await open();
  return new Promise((resolve, reject) => {
    const tx = db.transaction(store, mode, { durability: "strict" });
    const request = body(tx.objectStore(store));
    tx.oncomplete = () => resolve(request ? request.result : undefined);
    tx.onabort = tx.onerror = () => reject(tx.error);
  });
}

export const enqueue = (item) =>
  run("queue", "readwrite", (s) => s.put({ id: item.id, item, state: "pending", queued_at: Date.now() }));

export const pending = (limit) =>
  run("queue", "readonly", (s) => s.index("state").getAll("pending", limit));

export const setAside = () => run("queue", "readonly", (s) => s.index("state").getAll("aside"));

export const count = (state) => run("queue", "readonly", (s) => s.index("state").count(state));

/** Apply a batch's outcomes to the records it carried, in one transaction. */
export const settle = (records, outcomes) =>
  run("queue", "readwrite", (s) => {
    outcomes.forEach((outcome, i) => {
      const record = records[outcome.index ?? i];
      if (!record) return;
      if (outcome.status === "created" || outcome.status === "duplicate") s.delete(record.id);
      else if (outcome.status === "invalid" || outcome.status === "conflict")
        s.put({ ...record, state: "aside", status: outcome.status, problem: outcome.problem });
    });
  });

export const getMeta = (key) => run("meta", "readonly", (s) => s.get(key));
export const setMeta = (key, value) => run("meta", "readwrite", (s) => s.put(value, key));
export const deleteMeta = (key) => run("meta", "readwrite", (s) => s.delete(key));
