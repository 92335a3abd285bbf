// The reviewer console's keys, highlights, claims and batch selection. No dependencies;
// served by the app.
(() => {
  "use strict";
  const $ = (s, r = document) => r.querySelector(s);
  const $$ = (s, r = document) => Array.from(r.querySelectorAll(s));
  const help = $("#keys");
  const toggleHelp = (show) => { if (help) help.hidden = show === undefined ? !help.hidden : !show; };
  $$("[data-keys]").forEach((b) => b.addEventListener("click", () => toggleHelp()));
  if (help) help.addEventListener("click", (e) => { if (e.target === help) toggleHelp(false); });

  // Evidence: a row and its numbered box light up together (hover or focus); the rest
  // of the image dims, and focusing a row brings its box into view on long pages.
  const light = (n, on) => {
    $$(`[data-n="${n}"]`).forEach((el) => el.classList.toggle("hl", on));
    $$(".stage").forEach((st) => st.classList.toggle("dim", on && !!$(`.box[data-n="${n}"]`, st)));
  };
  const reveal = (n) => {
    const box = $(`.box[data-n="${n}"]`);
    if (box) box.scrollIntoView({ block: "center", inline: "nearest" });
  };
  $$(".hit[data-n]").forEach((el) => {
    const n = el.dataset.n;
    el.addEventListener("mouseenter", () => light(n, true));
    el.addEventListener("mouseleave", () => light(n, false));
    el.addEventListener("focus", () => { light(n, true); reveal(n); el.scrollIntoView({ block: "nearest" }); });
    el.addEventListener("blur", () => light(n, false));
    el.addEventListener("click", () => el.focus());
  });
  $$(".box[data-n]").forEach((el) => {
    const n = el.dataset.n;
    el.addEventListener("mouseenter", () => light(n, true));
    el.addEventListener("mouseleave", () => light(n, false));
  });

  // Narrow screens: the filters fold away unless some are in use.
  const filterBox = $("details.filter-box");
  if (filterBox && window.innerWidth < 820 && !filterBox.hasAttribute("data-keep-open")) filterBox.open = false;

  // Zoom: the image at its own size, scrollable, and back.
  const zoom = (fig) => fig.classList.toggle("zoomed");
  $$("[data-zoom] .stage").forEach((st) => st.addEventListener("click", () => zoom(st.closest("[data-zoom]"))));

  // Queue rows: click anywhere opens; j/k move the selection; x selects for a batch.
  const rows = $$(".row[data-href]");
  const fromHash = rows.findIndex((r) => location.hash === `#${r.id}`);
  let at = fromHash >= 0 ? fromHash : Math.max(0, rows.findIndex((r) => r.classList.contains("selected")));
  const select = (i) => {
    if (!rows.length) return;
    at = Math.max(0, Math.min(rows.length - 1, i));
    rows.forEach((r, k) => r.classList.toggle("selected", k === at));
    rows[at].scrollIntoView({ block: "nearest" });
  };
  if (fromHash >= 0) select(fromHash);
  rows.forEach((r, k) => r.addEventListener("click", (e) => {
    if (e.target.closest("a, input, button, label")) return;
    select(k); window.location.assign(r.dataset.href);
  }));
  const batch = $("[data-batch]");
  const picks = $$("[data-pick]");
  const counted = () => {
    const n = picks.filter((p) => p.checked).length;
    const label = $("[data-selected-count]");
    if (label) label.textContent = label.textContent.replace(/\d+/, String(n));
    $$("[data-batch] button").forEach((b) => { b.disabled = n === 0; });
    rows.forEach((r) => { const p = $("[data-pick]", r); r.classList.toggle("picked", !!(p && p.checked)); });
  };
  picks.forEach((p) => p.addEventListener("change", counted));
  if (batch) counted();

  // Decisions: one press only; the claim of an open item is renewed while it is open.
  const form = $("form.decide");
  const note = $("[data-note]");
  $$("form").forEach((f) => f.addEventListener("submit", () => {
    setTimeout(() => $$("button[type=submit]", f).forEach((b) => { b.disabled = true; }), 0);
  }));
  const article = $("article.item-view[data-claim-url]");
  const csrf = $("input[name=csrf]");
  if (article && csrf && form) {
    const renew = () => fetch(article.dataset.claimUrl, {
      method: "POST", credentials: "same-origin",
      body: new URLSearchParams({ csrf: csrf.value }),
    }).catch(() => undefined);
    setInterval(renew, 60000);
  }

  const go = (sel) => {
    const a = $(sel);
    if (a) window.location.assign(a.getAttribute("href"));
  };
  const press = (sel) => { const b = form && $(sel, form); if (b && !b.disabled) b.click(); return !!b; };

  document.addEventListener("keydown", (e) => {
    if (e.altKey || e.metaKey) return;
    const t = e.target;
    const typing = t && (t.tagName === "TEXTAREA" || (t.tagName === "INPUT" && t.type !== "checkbox") || t.tagName === "SELECT" || t.isContentEditable);
    if (typing) {
      if (e.key === "Escape") t.blur();
      else if (e.key === "Enter" && e.ctrlKey && t === note) { e.preventDefault(); press("button[data-primary]"); }
      return;
    }
    if (e.ctrlKey) return;
    const k = e.key;
    if (k === "?") { toggleHelp(); e.preventDefault(); return; }
    if (k === "Escape") { toggleHelp(false); return; }
    if (rows.length) {
      if (k === "j") { select(at + 1); e.preventDefault(); }
      else if (k === "k") { select(at - 1); e.preventDefault(); }
      else if (k === "x") {
        const p = $("[data-pick]", rows[at]);
        if (p) { p.checked = !p.checked; counted(); }
        e.preventDefault();
      } else if (k === "Enter" || k === "o") { window.location.assign(rows[at].dataset.href); e.preventDefault(); }
      return;
    }
    if (k === "j") { go("a[rel=next]"); e.preventDefault(); }
    else if (k === "k") { go("a[rel=prev]"); e.preventDefault(); }
    else if (k === "u") { go("a[data-up]"); e.preventDefault(); }
    else if (k === "a") { press("button[data-primary]"); e.preventDefault(); }
    else if (k === "p" || k === "r") { press(`button[data-key="${k}"]`); e.preventDefault(); }
    else if (k === "n" && note) { note.focus(); e.preventDefault(); }
    else if (k === "z") { const f = $("[data-zoom]"); if (f) zoom(f); e.preventDefault(); }
  });
})();
