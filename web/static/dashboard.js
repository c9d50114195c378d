// The dashboard: first-run setup (folder, look), the watched folder and its syncs, the month's quota, and every
// photo with live status over server-sent events.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const state = { show: "all", page: 1, pages: 1, watching: !$("watching").hidden, running: false,
                  paused: $("sync").disabled };
  // With Drive to reconnect, the alert at the top (with its link) says it: the paused note would repeat it.
  const reconnect = $("paused").dataset.reconnect === "1";

  // --- setup: folder picker and look ---------------------------------------------------------------------------
  const folderSelect = $("folder");
  const watchButton = $("watch");

  function selectedPreset() {
    const checked = document.querySelector('input[name="preset"]:checked');
    return checked ? checked.value : "";
  }
  function updateWatchButton() {
    watchButton.disabled = !folderSelect.value || !selectedPreset();
  }
  document.querySelectorAll('input[name="preset"]').forEach((input) => input.addEventListener("change", () => {
    document.querySelectorAll(".preset-card").forEach((card) => card.classList.toggle("selected",
      card.contains(input) && input.checked));
    updateWatchButton();
  }));
  folderSelect.addEventListener("change", updateWatchButton);

  async function loadFolders() {
    const current = folderSelect.dataset.current;
    try {
      const folders = await api("/creator/drive/folders");
      if (!folders.length) {
        folderSelect.replaceChildren(new Option("No folders in your Google Drive yet: make one there first", ""));
        folderSelect.disabled = true;
      } else {
        const options = folders.map((f) => new Option(f.path, f.id, false, f.id === current));
        if (!current) options.unshift(new Option("Choose a folder…", "", true, true));
        folderSelect.replaceChildren(...options);
        folderSelect.disabled = false;
      }
    } catch (e) {
      folderSelect.replaceChildren(new Option("Your folders could not be loaded", ""));
      folderSelect.disabled = true;
      if (!reconnect) showWatchError(e.message);
    }
    updateWatchButton();
  }

  function showWatchError(message) {
    const box = $("watch-error");
    box.textContent = message;
    box.hidden = !message;
  }

  watchButton.addEventListener("click", () => busy(watchButton, async () => {
    showWatchError("");
    try {
      const watch = await api("/creator/drive/watch", { method: "POST",
        body: { folder_id: folderSelect.value, preset: selectedPreset() } });
      folderSelect.dataset.current = watch.folder_id;
      showWatch(watch);
      $("onboarding").hidden = true;
      $("watching").hidden = false;
      state.watching = true;
      toast(`Watching “${watch.folder_name}”. New photos there are edited with ${watch.preset_title}.`);
      loadPhotos();
    } catch (e) { showWatchError(e.message); }
  }).then(updateWatchButton));

  const change = $("change");
  if (change) change.addEventListener("click", () => {
    $("onboarding").hidden = false;
    $("onboarding").scrollIntoView({ behavior: "smooth", block: "start" });
    folderSelect.focus();
  });
  const cancel = $("cancel-change");
  if (cancel) cancel.addEventListener("click", () => { $("onboarding").hidden = true; });

  // --- the watched folder and its syncs --------------------------------------------------------------------------
  function showWatch(watch) {
    $("watch-folder").textContent = watch.folder_name;
    $("watch-preset").textContent = watch.preset_title;
    $("watch-output").textContent = watch.output_folder_name;
    state.paused = Boolean(watch.paused_reason);
    $("paused").textContent = watch.paused_reason || "";
    $("paused").hidden = !watch.paused_reason || reconnect;
    $("sync").disabled = state.paused || state.running;
    if (watch.schedule) showSync(watch.schedule);
  }

  function syncButton(busyNow) {
    const sync = $("sync");
    if (busyNow) {
      sync.setAttribute("aria-busy", "true");
      sync.disabled = true;
      sync.textContent = "Syncing…";
    } else {
      sync.removeAttribute("aria-busy");
      sync.textContent = "Sync now";
      sync.disabled = state.paused;
    }
  }

  function showSync(schedule) {
    state.running = Boolean(schedule.running);
    $("last-sync").textContent = schedule.last_run_at ? when(schedule.last_run_at) : "Not yet";
    $("next-sync").textContent = schedule.paused ? "Paused" : (schedule.next_run_at ? when(schedule.next_run_at) : "–");
    // A sync asked for is done once the schedule reports a run newer than the one before the click, ended.
    const asked = state.asked;
    const done = asked && !state.running && schedule.last_run_at && schedule.last_run_at !== asked.lastRun;
    if (state.running) {
      syncButton(true);
      $("sync-state").textContent = "Looking for new photos in your folder…";
    } else if (!asked || done || Date.now() - asked.at > 120000) {
      state.asked = null;
      syncButton(false);
      $("sync-state").textContent = schedule.last_run_at ? `Last sync ${when(schedule.last_run_at)}.` : "";
    }
    state.lastRun = schedule.last_run_at;
  }

  $("sync").addEventListener("click", async () => {
    syncButton(true);
    $("sync-state").textContent = "Sync started: new photos appear below as they are found.";
    state.asked = { at: Date.now(), lastRun: state.lastRun };
    try {
      await api("/creator/sync-now", { method: "POST" });
    } catch (e) {
      state.asked = null;
      syncButton(false);
      $("sync-state").textContent = "";
      toast(e.message, "bad");
    }
  });

  async function loadWatch() {
    try { showWatch(await api("/creator/drive/watch")); } catch (e) { /* not watching, or shown on next event */ }
  }

  // --- photos ------------------------------------------------------------------------------------------------
  const list = $("photos");
  const EMPTY = {
    all: ["No photos yet", "Drop photos into your watched folder in Google Drive, then press “Sync now” (or wait for the next sync)."],
    in_progress: ["Nothing in progress", "Photos being edited show here."],
    edited: ["No edited photos yet", "Edited photos show here, with a link to each in your Drive."],
    failed: ["No failed photos", "Good news: every edit so far worked."],
    skipped: ["Nothing skipped", "Files that are not photos are left alone and listed here."],
    waiting_for_quota: ["Nothing waiting", "Photos past this month's plan wait here until it renews or you upgrade."],
  };

  function placeholder() { return el("span.thumb.placeholder", { "aria-hidden": "true" }); }
  function thumb(src, label) {
    if (!src) return placeholder();
    const img = el("img.thumb", { src, alt: label, width: 88, height: 88, loading: "lazy" });
    img.addEventListener("error", () => img.replaceWith(placeholder()), { once: true });
    return img;
  }

  function photoItem(p) {
    const details = el("div", {},
      el("div.photo-name", { text: p.name }),
      el("div.row", {}, el("span.badge." + p.status, { text: p.label }),
        el("span.muted.small", { text: when(p.updated_at) })));
    if (p.status === "processing") {
      const percent = Math.round((p.progress || 0) * 100);
      details.append(el("div.progress-line", {},
        el("progress", { max: 100, value: percent, "aria-label": `Editing ${p.name}` }),
        el("span.small.muted", { text: `${percent}%` })));
    }
    if (p.reason) details.append(el("p.photo-reason", { text: p.reason }));
    const actions = el("div.row");
    if (p.output_link) actions.append(el("a", { href: p.output_link, target: "_blank", rel: "noopener" },
      `Open ${p.output_name || "the edited photo"}`));
    if (p.can_retry) actions.append(el("button.small", { type: "button", "data-retry": p.id,
      "aria-label": `Retry ${p.name}` }, "Retry"));
    if (actions.childNodes.length) details.append(actions);
    return el("li.photo", { "data-photo": p.id, "data-status": p.status },
      el("div.thumbs", {}, thumb(p.before_thumb, `${p.name} before`), thumb(p.after_thumb, `${p.name} after`)), details);
  }

  function inFilter(p) {
    const groups = { all: null, in_progress: ["waiting", "processing", "reconnect"], edited: ["edited"],
                     failed: ["failed"], skipped: ["skipped"], waiting_for_quota: ["waiting_for_quota"] };
    return !groups[state.show] || groups[state.show].includes(p.status);
  }

  function showCounts(counts) {
    for (const [key, n] of Object.entries(counts)) {
      const span = document.querySelector(`[data-count="${key}"]`);
      if (span) span.textContent = `(${n})`;
    }
  }

  function showQuota(quota) {
    $("quota-used").textContent = quota.used.toLocaleString();
    $("quota-included").textContent = quota.included.toLocaleString();
    $("quota-meter").value = quota.used;
    $("quota-meter").max = quota.included;
    $("quota-full").hidden = quota.used < quota.included;
  }

  function showEmpty() {
    const empty = !list.children.length;
    const box = $("photos-empty");
    box.hidden = !empty;
    if (empty) {
      const [title, text] = EMPTY[state.show];
      box.replaceChildren(el("h3", { text: title }), el("p", { text }));
    }
  }

  async function loadPhotos() {
    list.setAttribute("aria-busy", "true");
    try {
      const page = await api(`/creator/photos?show=${state.show}&page=${state.page}`);
      state.pages = page.pages;
      list.replaceChildren(...page.items.map(photoItem));
      showCounts(page.counts);
      showQuota(page.quota);
      $("pager").hidden = page.pages <= 1;
      $("page-label").textContent = `Page ${page.page} of ${page.pages}`;
      $("prev").disabled = page.page <= 1;
      $("next").disabled = page.page >= page.pages;
    } catch (e) {
      toast(e.message, "bad");
    } finally {
      list.setAttribute("aria-busy", "false");
      showEmpty();
    }
  }

  function photoChanged(p) {
    const existing = list.querySelector(`[data-photo="${p.id}"]`);
    if (!inFilter(p)) { if (existing) existing.remove(); showEmpty(); return; }
    const item = photoItem(p);
    if (existing) existing.replaceWith(item);
    else if (state.page === 1) list.prepend(item);
    showEmpty();
  }

  document.querySelectorAll("[data-show]").forEach((button) => button.addEventListener("click", () => {
    document.querySelectorAll("[data-show]").forEach((b) => b.setAttribute("aria-pressed", String(b === button)));
    state.show = button.dataset.show;
    state.page = 1;
    loadPhotos();
  }));
  $("prev").addEventListener("click", () => { state.page = Math.max(1, state.page - 1); loadPhotos(); });
  $("next").addEventListener("click", () => { state.page = Math.min(state.pages, state.page + 1); loadPhotos(); });

  list.addEventListener("click", (event) => {
    const button = event.target.closest("[data-retry]");
    if (!button) return;
    busy(button, async () => {
      try {
        await api(`/creator/photos/${button.dataset.retry}/retry`, { method: "POST" });
        toast("Trying that photo again.");
      } catch (e) { toast(e.message, "bad"); }
    });
  });

  // --- live ----------------------------------------------------------------------------------------------------
  function live() {
    sse("/creator/events", {
      photo: photoChanged,
      counts: (data) => { showCounts(data.counts); showQuota(data.quota); },
      sync: showSync,
    });
  }

  loadFolders();
  if (state.watching) { loadWatch(); loadPhotos(); }
  live();
})();
