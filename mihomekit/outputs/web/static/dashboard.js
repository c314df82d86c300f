// The Mi Dashboard's one script: live widget updates (Server-Sent Events), ages that count
// up, and the bind-key check while typing. The pages work without it, just not live.
"use strict";
(function () {
  const csrf = document.body.dataset.csrf || "";

  function ageText(seconds) {
    seconds = Math.max(0, seconds);
    if (seconds < 90) return Math.floor(seconds) + " s ago";
    if (seconds < 5400) return Math.floor(seconds / 60) + " min ago";
    if (seconds < 172800) return Math.floor(seconds / 3600) + " h ago";
    return Math.floor(seconds / 86400) + " d ago";
  }
  function tick() {
    const now = Date.now() / 1000;
    for (const el of document.querySelectorAll("[data-seen]")) {
      const seen = Number(el.dataset.seen);
      if (seen > 0) el.textContent = ageText(now - seen);
    }
    for (const el of document.querySelectorAll(".uptime[data-start]")) {
      el.textContent = Math.floor(now - Number(el.dataset.start)) + " s";
    }
  }
  setInterval(tick, 1000);
  tick();

  const widgets = document.getElementById("widgets");
  if (widgets && window.EventSource) {
    const source = new EventSource("/events");
    source.onopen = function () { document.body.dataset.live = "open"; };
    source.onerror = function () { document.body.dataset.live = "closed"; };
    source.addEventListener("widget", function (event) {
      const cut = event.data.indexOf("\n");
      const old = document.getElementById("w-" + event.data.slice(0, cut));
      if (!old) { location.reload(); return; }
      old.outerHTML = event.data.slice(cut + 1);
    });
    source.addEventListener("summary", function (event) {
      const data = JSON.parse(event.data);
      for (const key of Object.keys(data)) {
        const el = document.getElementById("s-" + key);
        if (el) el.textContent = data[key];
      }
    });
    source.addEventListener("devices", function () { location.reload(); });
  }

  // Switch buttons are in widgets shared by every browser: the token is added on submit.
  document.addEventListener("submit", function (event) {
    const field = event.target.elements && event.target.elements.csrf;
    if (field && !field.value) field.value = csrf;
  });

  let checkSeq = 0;
  async function checkKey(input) {
    const form = input.form;
    const out = form.querySelector(".keycheck");
    const mac = form.elements.mac.value;
    const key = input.value.trim();
    out.className = "keycheck";
    if (!key) { out.textContent = ""; return; }
    if (!/^[0-9a-fA-F]{24}([0-9a-fA-F]{8})?$/.test(key)) {
      out.textContent = "a bind key has 32 hex digits"; return;
    }
    const seq = ++checkSeq;
    out.textContent = "checking…";
    try {
      const reply = await fetch("/api/check-key", {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify({ mac: mac, key: key }),
      });
      const data = await reply.json();
      if (seq !== checkSeq) return;
      out.textContent = data.message;
      out.className = "keycheck " + (data.result === "works" ? "ok" :
        data.result === "wrong" ? "bad" : "");
      out.dataset.result = data.result;
    } catch (err) {
      out.textContent = "could not check the key";
    }
  }
  for (const input of document.querySelectorAll("input.bindkey")) {
    input.addEventListener("input", function () { checkKey(input); });
  }
})();
