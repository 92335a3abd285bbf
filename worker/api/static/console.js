// The reviewer console's keys and highlights. No dependencies; served by the app.
(() => {
  "use strict";
  const $ = (s, r = document) => r.querySelector(s);
  const $$ = (s, r = document) => Array.from(r.querySelectorAll(s));
  const help = $("#keys");
  const toggleHelp = (show) => { if (help) help.hidden = show === undefined ? !help.hidden : !show; };
  $$("[data-keys]").forEach((b) => b.addEventListener("click", () => toggleHelp()));
  if (help) help.addEventListener("click", (e) => { if (e.target === help) toggleHelp(false); });

  // Evidence: a row and its numbered box light up together (hover or focus).
  const light = (n, on) => $$(`[data-n="${n}"]`).forEach((el) => el.classList.toggle("hl", on));
  $$("[data-n]").forEach((el) => {
    const n = el.dataset.n;
    el.addEventListener("mouseenter", () => light(n, true));
    el.addEventListener("mouseleave", () => light(n, false));
    el.addEventListener("focus", () => light(n, true));
    el.addEventListener("blur", () => light(n, false));
  });

  // Zoom: the image at its own size, scrollable, and back.
  const zoom = (fig) => fig.classList.toggle("zoomed");
  $$("[data-zoom] .stage").forEach((st) => st.addEventListener("click", () => zoom(st.closest("[data-zoom]"))));

  // Queue rows: click anywhere opens; j/k move the selection.
  const rows = $$(".row[data-href]");
  let at = Math.max(0, rows.findIndex((r) => r.classList.contains("selected")));
  const select = (i) => {
    if (!rows.length) return;
    at = Math.max(0, Math.min(rows.length - 1, i));
    rows.forEach((r, k) => r.classList.toggle("selected", k === at));
    rows[at].scrollIntoView({ block: "nearest" });
  };
  rows.forEach((r, k) => r.addEventListener("click", (e) => {
    if (e.target.closest("a")) return;
    select(k); window.location.assign(r.dataset.href);
  }));

  const form = $("form.decide");
  const note = $("[data-note]");
  const go = (sel) => { const a = $(sel); if (a) window.location.assign(a.getAttribute("href")); };
  const press = (key) => { const b = form && $(`button[data-key="${key}"]`, form); if (b) b.click(); return !!b; };

  document.addEventListener("keydown", (e) => {
    if (e.altKey || e.metaKey) return;
    const t = e.target;
    const typing = t && (t.tagName === "TEXTAREA" || t.tagName === "INPUT" || t.tagName === "SELECT" || t.isContentEditable);
    if (typing) {
      if (e.key === "Escape") t.blur();
      else if (e.key === "Enter" && e.ctrlKey && t === note) { e.preventDefault(); press("a"); }
      return;
    }
    if (e.ctrlKey) return;
    const k = e.key;
    if (k === "?") { toggleHelp(); e.preventDefault(); return; }
    if (k === "Escape") { toggleHelp(false); return; }
    if (rows.length) {
      if (k === "j") { select(at + 1); e.preventDefault(); }
      else if (k === "k") { select(at - 1); e.preventDefault(); }
      else if (k === "Enter" || k === "o") { window.location.assign(rows[at].dataset.href); e.preventDefault(); }
      return;
    }
    if (k === "j") { go("a[rel=next]"); e.preventDefault(); }
    else if (k === "k") { go("a[rel=prev]"); e.preventDefault(); }
    else if (k === "u") { go("a[data-up]"); e.preventDefault(); }
    else if (k === "a" || k === "p" || k === "r") {
      // A reviewer pressing the key of the machine decision confirms it.
      if (!press(k)) press("a");
      e.preventDefault();
    } else if (k === "n" && note) { note.focus(); e.preventDefault(); }
    else if (k === "z") { const f = $("[data-zoom]"); if (f) zoom(f); e.preventDefault(); }
  });
})();
