"use strict";
const $ = (id) => document.getElementById(id);
async function refresh() {
  try {
    const w = await api("/creator/drive/watch");
    $("watch-state").textContent = `Watching “${w.folder_name}”` + (w.paused_reason ? " · paused" : "");
  } catch (e) {
    $("watch-state").textContent = e.status === 404 ? "Not watching a folder yet." : e.message;
  }
  const files = await api("/creator/jobs");
  $("files").replaceChildren(...files.map((f) => el("li.photo", {}, el("span.photo-name", { text: f.name }),
    el("span.badge." + f.status, { text: f.status }))));
}
async function loadChoices() {
  try {
    const folders = await api("/creator/drive/folders");
    $("folder").replaceChildren(...folders.map((f) => new Option(f.name, f.id)));
  } catch (e) { $("folder").replaceChildren(new Option("Google Drive is not available", "")); }
  const presets = await api("/creator/presets");
  $("preset").replaceChildren(...presets.map((p) => new Option(p.title, p.name)));
}
$("watch").addEventListener("click", (e) => busy(e.currentTarget, async () => {
  try { await api("/creator/drive/watch", { method: "POST", body: { folder_id: $("folder").value, preset: $("preset").value } }); }
  catch (err) { toast(err.message, "bad"); }
  refresh();
}));
$("sync").addEventListener("click", (e) => busy(e.currentTarget, async () => {
  try { await api("/creator/sync-now", { method: "POST" }); toast("Syncing now"); } catch (err) { toast(err.message, "bad"); }
}));
loadChoices(); refresh();
