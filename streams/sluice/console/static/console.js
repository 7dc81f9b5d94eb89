// sluice review console: live queue updates and Ed25519 decision signing (WebCrypto).
// The private key is made (non-extractable) or imported here and kept in IndexedDB; it
// never leaves the browser. Signing bytes are built exactly as sluice.gate.signatures
// canonical_bytes: "sluice.decision.v1\n" + per field a 4-byte big-endian length + UTF-8.
"use strict";

(function () {
  const FIELDS = ["decision_id", "event_id", "verdict", "reviewer_id", "reason",
    "decided_at", "key_id", "content_hash"];
  const DOMAIN_TAG = "sluice.decision.v1\n";
  const enc = new TextEncoder();

  function canonicalBytes(d) {
    const parts = [enc.encode(DOMAIN_TAG)];
    for (const name of FIELDS) {
      const v = d[name];
      if (name === "decided_at") {
        if (!Number.isSafeInteger(v)) throw new Error("decided_at must be an integer");
      } else if (typeof v !== "string") {
        throw new Error("field " + name + " must be a string");
      }
      const raw = enc.encode(name === "decided_at" ? String(v) : v);
      const len = new Uint8Array(4);
      new DataView(len.buffer).setUint32(0, raw.length, false);
      parts.push(len, raw);
    }
    const total = parts.reduce((n, p) => n + p.length, 0);
    const out = new Uint8Array(total);
    let pos = 0;
    for (const p of parts) { out.set(p, pos); pos += p.length; }
    return out;
  }

  function b64encode(bytes) {
    let s = "";
    for (const b of new Uint8Array(bytes)) s += String.fromCharCode(b);
    return btoa(s);
  }
  function b64decode(text) {
    const s = atob(text);
    const out = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
    return out;
  }
  function hex(bytes) {
    return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
  }

  // -- key storage (IndexedDB) ------------------------------------------------------
  function db() {
    return new Promise((resolve, reject) => {
      const req = indexedDB.open("sluice-console", 1);
      req.onupgradeneeded = () => req.result.createObjectStore("keys");
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
  }
  async function storeKey(record) {
    const d = await db();
    return new Promise((resolve, reject) => {
      const tx = d.transaction("keys", "readwrite");
      tx.objectStore("keys").put(record, "current");
      tx.oncomplete = () => resolve();
      tx.onerror = () => reject(tx.error);
    });
  }
  async function loadKey() {
    const d = await db();
    return new Promise((resolve, reject) => {
      const req = d.transaction("keys").objectStore("keys").get("current");
      req.onsuccess = () => resolve(req.result || null);
      req.onerror = () => reject(req.error);
    });
  }

  async function createKey(reviewerId, keyId) {
    const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
    const pub = b64encode(await crypto.subtle.exportKey("raw", pair.publicKey));
    const record = { reviewer_id: reviewerId, key_id: keyId, privateKey: pair.privateKey,
      public_key: pub };
    await storeKey(record);
    return record;
  }

  // A `sluice keys new` file: YAML lines `name: value` (values may be JSON strings).
  function parseKeyFile(text) {
    const out = {};
    for (const line of text.split(/\r?\n/)) {
      const m = /^([a-z_]+):\s*(.*)$/.exec(line.trim());
      if (!m) continue;
      let v = m[2].trim();
      if (v.startsWith('"')) v = JSON.parse(v);
      out[m[1]] = v;
    }
    if (out.format !== "sluice.ed25519.v1") throw new Error("not a sluice key file");
    for (const n of ["reviewer_id", "key_id", "private_key"]) {
      if (!out[n]) throw new Error("key file has no " + n);
    }
    return out;
  }

  async function importKey(text) {
    const f = parseKeyFile(text);
    const seed = b64decode(f.private_key);
    if (seed.length !== 32) throw new Error("private_key must be 32 bytes");
    const prefix = [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70,
      0x04, 0x22, 0x04, 0x20];
    const pkcs8 = new Uint8Array(48);
    pkcs8.set(prefix, 0); pkcs8.set(seed, 16);
    // Once extractable to learn the public half, then kept non-extractable.
    const tmp = await crypto.subtle.importKey("pkcs8", pkcs8, { name: "Ed25519" }, true, ["sign"]);
    const jwk = await crypto.subtle.exportKey("jwk", tmp);
    const privateKey = await crypto.subtle.importKey("pkcs8", pkcs8, { name: "Ed25519" }, false,
      ["sign"]);
    const pub = b64encode(b64decode(jwk.x.replace(/-/g, "+").replace(/_/g, "/") + "="));
    const record = { reviewer_id: f.reviewer_id, key_id: f.key_id, privateKey, public_key: pub };
    await storeKey(record);
    return record;
  }

  async function signDecision(decision, privateKey) {
    const sig = await crypto.subtle.sign({ name: "Ed25519" }, privateKey, canonicalBytes(decision));
    return b64encode(sig);
  }

  async function verifyDecision(decision, signatureB64, publicKeyB64) {
    const pub = await crypto.subtle.importKey("raw", b64decode(publicKeyB64), { name: "Ed25519" },
      false, ["verify"]);
    return crypto.subtle.verify({ name: "Ed25519" }, pub, b64decode(signatureB64),
      canonicalBytes(decision));
  }

  function registryEntry(k) {
    const q = JSON.stringify;
    return "- id: " + q(k.reviewer_id) + "\n  roles: []  # the roles this reviewer may decide for\n" +
      "  keys:\n    - id: " + q(k.key_id) + "\n      public_key: " + q(k.public_key) +
      "\n      revoked: false\n";
  }

  const csrf = () => document.querySelector('meta[name="csrf-token"]').content;
  const byId = (id) => document.getElementById(id);

  // -- pages ------------------------------------------------------------------------
  async function showKey() {
    const k = await loadKey();
    const box = byId("current-key");
    if (!box) return;
    if (!k) return;
    box.textContent = "";
    const p = document.createElement("p");
    p.textContent = "Key in this browser: reviewer " + k.reviewer_id + ", key id " + k.key_id;
    const code = document.createElement("code");
    code.id = "public-key";
    code.textContent = k.public_key;
    box.append(p, "Public key: ", code);
    byId("registry-entry").textContent = registryEntry(k);
  }

  function keysPage() {
    byId("newkey").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      try {
        await createKey(byId("reviewer-id").value.trim(), byId("key-id").value.trim());
        byId("key-status").textContent = "Key created.";
        await showKey();
      } catch (e) { byId("key-status").textContent = "Could not create a key: " + e.message; }
    });
    byId("importkey").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      try {
        const file = byId("key-file").files[0];
        if (!file) throw new Error("choose a key file");
        await importKey(await file.text());
        byId("key-status").textContent = "Key imported.";
        await showKey();
      } catch (e) { byId("key-status").textContent = "Could not import: " + e.message; }
    });
    showKey();
  }

  async function decidePage(form) {
    const status = byId("decide-status");
    const k = await loadKey();
    if (k) byId("signer").textContent = "Signing as " + k.reviewer_id + " (key " + k.key_id + ").";
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const verdict = ev.submitter ? ev.submitter.value : "APPROVE";
      try {
        const key = await loadKey();
        if (!key) throw new Error("no key in this browser");
        const shown = byId("content-hash").textContent;
        const held = await crypto.subtle.digest("SHA-256", b64decode(form.dataset.held));
        if (hex(held) !== form.dataset.contentHash || shown !== form.dataset.contentHash) {
          throw new Error("the content shown is not the content hash to sign; not signing");
        }
        const decision = {
          decision_id: crypto.randomUUID(), event_id: form.dataset.eventId, verdict,
          reviewer_id: key.reviewer_id, reason: byId("reason").value.trim(),
          decided_at: Date.now(), key_id: key.key_id, content_hash: form.dataset.contentHash,
        };
        decision.signature = await signDecision(decision, key.privateKey);
        const resp = await fetch(location.pathname + "/decide", {
          method: "POST", credentials: "same-origin",
          headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
          body: JSON.stringify(decision),
        });
        const text = await resp.text();
        let out; try { out = JSON.parse(text); } catch (e) { out = { error: text }; }
        if (!resp.ok) throw new Error(out.error || resp.statusText);
        status.textContent = "Published " + verdict.toLowerCase() + " " + out.decision_id +
          (out.warning ? " (warning: " + out.warning + ")" : "");
        status.dataset.decisionId = out.decision_id;
      } catch (e) { status.textContent = "Not published: " + e.message; }
    });
  }

  // Live sections (the queue, a detail page's facts): reloaded from their data-live URL
  // on every server-sent change. Keyboard focus inside survives the reload.
  function live(sections) {
    if (!window.EventSource || !sections.length) return;
    const source = new EventSource("/events");
    let busy = false;
    source.onmessage = async () => {
      if (busy) return;
      busy = true;
      try {
        for (const section of sections) {
          const resp = await fetch(section.dataset.live, { credentials: "same-origin" });
          if (!resp.ok) continue;
          const focused = section.contains(document.activeElement) ?
            document.activeElement.getAttribute("href") : null;
          // Server-rendered, escaped HTML from our own origin (see sluice.console.render).
          section.innerHTML = await resp.text();
          section.dataset.version = String((Number(section.dataset.version) || 0) + 1);
          if (focused) {
            const again = Array.from(section.querySelectorAll("a[href]"))
              .find((a) => a.getAttribute("href") === focused);
            if (again) again.focus();
          }
        }
      } finally { busy = false; }
    };
  }

  async function loadInto(section) {
    try {
      const resp = await fetch(section.dataset.src, { credentials: "same-origin" });
      // Server-rendered, escaped HTML from our own origin (see sluice.console.trace).
      if (resp.ok) section.innerHTML = await resp.text();
    } catch (e) { /* the trace link still works */ }
  }

  window.sluiceConsole = { canonicalBytes, b64encode, b64decode, signDecision, verifyDecision,
    loadKey, createKey, importKey };

  document.addEventListener("DOMContentLoaded", () => {
    if (byId("newkey")) keysPage();
    const form = byId("decide");
    if (form) decidePage(form);
    live(["queue", "facts"].map(byId).filter(Boolean));
    const audit = byId("audit");
    if (audit && audit.dataset.src) loadInto(audit);
  });
})();
