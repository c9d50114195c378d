// The developer console (/creator/developers): API keys, usage per key per day, webhook secrets, the playground
// and recent jobs. The console's own calls go through api() (session cookie + CSRF token); the playground calls
// the Developer API itself with the API key given, exactly as the curl and Python samples it shows.
"use strict";
const $ = (id) => document.getElementById(id);
const DATA = JSON.parse($("console-data").textContent);
const CONSOLE = "/creator/developers";
const SVG = "http://www.w3.org/2000/svg";
const PALETTE = ["#3b2fc9", "#0f7b6c", "#b3491b", "#8a2a8f", "#1d5fa8", "#6b6b10", "#b0203f", "#3d3d4f"];
const STATE_TEXT = { active: "Active", expired: "Expired", revoked: "Revoked" };
const STATUS_TEXT = { queued: "Queued", running: "Running", succeeded: "Succeeded", failed: "Failed",
                      cancelled: "Cancelled" };
const TERMINAL = ["succeeded", "failed", "cancelled"];
const state = { keys: [], jobsCursor: null, jobsTimer: null, webhookKey: null, revokeKey: null };

const dateText = (iso) => new Date(iso).toLocaleDateString(undefined, { year: "numeric", month: "short",
                                                                        day: "numeric" });
const dayText = (day) => new Date(day + "T00:00:00Z").toLocaleDateString(undefined, { month: "short",
                                                                                       day: "numeric",
                                                                                       timeZone: "UTC" });
const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;

// A console call that failed: a session that ended shows the sign-in page; anything else is said in a toast.
function failed(err) {
  if (err.status === 401) window.location.reload();
  else toast(err.message, "bad");
}

function showError(box, message, field) {
  box.textContent = message;
  box.hidden = !message;
  if (field) field.focus();
}

// --- copy buttons -----------------------------------------------------------------------------------------------

document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const source = $(button.dataset.copy);
  const text = "value" in source && source.tagName === "INPUT" ? source.value : source.textContent;
  try {
    await navigator.clipboard.writeText(text);
    toast("Copied to the clipboard");
  } catch (e) {
    if (source.select) source.select();
    toast("Select the text and copy it with your keyboard", "bad");
  }
});

// --- keys -------------------------------------------------------------------------------------------------------

function cell(label, ...content) {
  return el("td", { "data-label": label }, ...content);
}

function renderKeys() {
  const keys = state.keys;
  const filter = $("jobs-key"), chosen = filter.value;
  filter.replaceChildren(new Option("All keys", ""), ...keys.map((key) => new Option(key.name, key.id)));
  filter.value = keys.some((key) => key.id === chosen) ? chosen : "";
  $("keys-table").hidden = keys.length === 0;
  $("keys-empty").hidden = keys.length !== 0;
  $("keys").replaceChildren(...keys.map((key) => el("tr." + key.state, {},
    cell("Name", el("strong", { text: key.name })),
    cell("Key", el("code", { text: key.prefix + "…" })),
    cell("Scopes", key.scopes.join(", ")),
    cell("Created", dateText(key.created_at)),
    cell("Expires", key.expires_at ? dateText(key.expires_at) : "Never"),
    cell("Last used", key.last_used_at ? when(key.last_used_at) : "Never"),
    cell("State", el("span.badge." + key.state, { text: STATE_TEXT[key.state] })),
    el("td.actions", {},
      el("button.small", { type: "button", onclick: () => openWebhook(key) },
         "Webhook secret", el("span.sr-only", { text: ` of ${key.name}` })),
      key.state === "revoked" ? null : el("button.small", { type: "button", onclick: () => confirmRevoke(key) },
                                          "Revoke", el("span.sr-only", { text: ` ${key.name}` }))))));
}

async function loadKeys() {
  try {
    state.keys = (await api(`${CONSOLE}/keys`)).data;
    renderKeys();
  } catch (err) { failed(err); }
}

$("create-key").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  const error = $("create-key-error");
  const name = $("key-name").value.trim();
  const scopes = [...form.querySelectorAll("input[name=scopes]:checked")].map((box) => box.value);
  if (!name) return showError(error, "Give the key a name, so you can tell it apart later.", $("key-name"));
  if (!scopes.length) return showError(error, "Choose at least one scope.", form.querySelector("input[name=scopes]"));
  showError(error, "");
  const expiry = $("key-expiry").value;
  busy(event.submitter || form.querySelector("button[type=submit]"), async () => {
    try {
      const created = await api(`${CONSOLE}/keys`, { method: "POST", body: {
        name, scopes, expires_in_days: expiry ? Number(expiry) : null } });
      $("new-secret-name").textContent = created.key.name;
      $("new-secret-value").value = created.secret;
      $("new-secret").hidden = false;
      $("pg-key").value = created.secret;  // for the playground; kept in this page only
      $("key-name").value = "";
      $("new-secret-value").focus();
      $("new-secret-value").select();
      await loadKeys();
      loadUsage();
    } catch (err) {
      if (err.status === 401) failed(err); else showError(error, err.message);
    }
  });
});

function confirmRevoke(key) {
  state.revokeKey = key;
  $("revoke-name").textContent = key.name;
  $("revoke-dialog").showModal();
}

$("revoke-dialog").addEventListener("close", async () => {
  const key = state.revokeKey;
  state.revokeKey = null;
  if ($("revoke-dialog").returnValue !== "revoke" || !key) return;
  try {
    await api(`${CONSOLE}/keys/${encodeURIComponent(key.id)}/revoke`, { method: "POST" });
    toast(`“${key.name}” is revoked: requests with it are refused from now on`);
  } catch (err) { failed(err); }
  $("revoke-dialog").returnValue = "";
  await loadKeys();
  loadUsage();
});

// --- webhook secret ---------------------------------------------------------------------------------------------

const MASK = "••••••••••••••••";

function resetWebhook() {
  $("webhook-value").type = "password";
  $("webhook-value").value = MASK;
  $("webhook-copy").disabled = true;
  $("webhook-reveal").textContent = "Reveal";
  $("webhook-rotate").textContent = "Rotate secret";
  $("webhook-rotate").dataset.armed = "";
  $("webhook-note").hidden = true;
}

function showWebhookSecret(secret) {
  $("webhook-value").type = "text";
  $("webhook-value").value = secret;
  $("webhook-copy").disabled = false;
  $("webhook-reveal").textContent = "Hide";
}

function openWebhook(key) {
  state.webhookKey = key;
  $("webhook-name").textContent = key.name;
  $("webhook-rotate").hidden = key.state === "revoked";
  resetWebhook();
  $("webhook-dialog").showModal();
}

$("webhook-reveal").addEventListener("click", (event) => busy(event.currentTarget, async () => {
  if ($("webhook-value").type === "text") return resetWebhook();
  try {
    const answer = await api(`${CONSOLE}/keys/${encodeURIComponent(state.webhookKey.id)}/webhook-secret`);
    showWebhookSecret(answer.webhook_secret);
  } catch (err) { failed(err); }
}));

$("webhook-rotate").addEventListener("click", (event) => {
  const button = event.currentTarget;
  const note = $("webhook-note");
  if (!button.dataset.armed) {  // the first press says what rotating does; the second rotates
    button.dataset.armed = "yes";
    button.textContent = "Rotate now";
    note.textContent = "The current secret stops verifying deliveries at once: update your receiver right after. "
      + "Press “Rotate now” to go on.";
    note.hidden = false;
    return;
  }
  busy(button, async () => {
    try {
      const answer = await api(`${CONSOLE}/keys/${encodeURIComponent(state.webhookKey.id)}/webhook-secret/rotate`,
                               { method: "POST" });
      showWebhookSecret(answer.webhook_secret);
      note.textContent = "Rotated. Deliveries from now on are signed with this secret.";
    } catch (err) {
      note.textContent = err.message;
    }
    button.dataset.armed = "";
    button.textContent = "Rotate secret";
  });
});

$("webhook-close").addEventListener("click", () => $("webhook-dialog").close());
$("webhook-dialog").addEventListener("close", () => { resetWebhook(); state.webhookKey = null; });

// --- usage chart ------------------------------------------------------------------------------------------------

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

function niceMax(value) {
  if (value <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  return [1, 2, 2.5, 5, 10].map((step) => step * power).find((candidate) => candidate >= value);
}

const METRIC_TEXT = { images: ["image", "images"], gpu_seconds: ["GPU second", "GPU seconds"], jobs: ["job", "jobs"] };
const amount = (value, metric) => {
  const shown = metric === "gpu_seconds" ? Math.round(value * 10) / 10 : value;
  return `${shown} ${METRIC_TEXT[metric][shown === 1 ? 0 : 1]}`;
};

function renderUsage(usage) {
  const metric = $("usage-metric").value;
  const days = usage.days;
  const used = usage.keys.filter((key) => key.days.some((day) => day[metric] > 0));
  const colour = new Map(used.map((key, i) => [key.key_id, PALETTE[i % PALETTE.length]]));
  const totals = days.map((_, i) => used.reduce((sum, key) => sum + key.days[i][metric], 0));
  const chart = $("usage-chart");
  $("usage-details").hidden = !used.length;
  if (!used.length) {
    chart.replaceChildren(el("div.empty", {}, el("p", {
      text: "No usage in this period yet. The jobs of your keys count here once they finish." })));
    $("usage-legend").replaceChildren();
    $("usage-table").replaceChildren();
    return;
  }
  // Drawn at the width it is shown at, so its text stays readable on a phone.
  const width = Math.max(300, Math.round(chart.clientWidth || 720)), height = width < 500 ? 200 : 240;
  const left = 48, right = 8, top = 12, bottom = 30;
  const plotW = width - left - right, plotH = height - top - bottom;
  const top_ = niceMax(Math.max(...totals));
  const slot = plotW / days.length, bar = Math.max(2, slot * 0.7);
  const y = (value) => top + plotH - (value / top_) * plotH;
  const title = `${METRIC_TEXT[metric][1]} per day, last ${plural(days.length, "day", "days")}: `
    + `${amount(totals.reduce((a, b) => a + b, 0), metric)} in all`;
  const graph = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": title },
                    svg("title", {}, title));
  const whole = metric !== "gpu_seconds";
  for (const fraction of whole && top_ < 2 ? [0, 1] : [0, 0.5, 1]) {
    const value = top_ * fraction;
    graph.append(svg("line", { x1: left, x2: width - right, y1: y(value), y2: y(value),
                               class: fraction ? "grid-line" : "axis" }),
                 svg("text", { x: left - 6, y: y(value) + 4, "text-anchor": "end" },
                     metric === "gpu_seconds" ? Math.round(value * 10) / 10 : Math.round(value)));
  }
  const every = Math.ceil(days.length / (width < 500 ? 4 : 7));
  days.forEach((day, i) => {
    let base = 0;
    const x = left + i * slot + (slot - bar) / 2;
    for (const key of used) {
      const value = key.days[i][metric];
      if (!value) continue;
      graph.append(svg("rect", { x, width: bar, y: y(base + value), height: Math.max(1, y(base) - y(base + value)),
                                 fill: colour.get(key.key_id), "data-key": key.key_id, "data-day": day },
                       svg("title", {}, `${dayText(day)} · ${key.name}: ${amount(value, metric)}`)));
      base += value;
    }
    if ((days.length - 1 - i) % every === 0) {
      const last = i === days.length - 1;  // kept inside the chart's right edge
      graph.append(svg("text", { x: last ? width - right : left + i * slot + slot / 2, y: height - 10,
                                 "text-anchor": last ? "end" : "middle" }, dayText(day)));
    }
  });
  chart.replaceChildren(graph);
  $("usage-legend").replaceChildren(...used.map((key) => el("li", {},
    swatch(colour.get(key.key_id)),
    `${key.name}: ${amount(key.days.reduce((sum, day) => sum + day[metric], 0), metric)}`)));
  $("usage-table").replaceChildren(
    el("caption.sr-only", { text: title }),
    el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "Day" }),
                       ...used.map((key) => el("th", { scope: "col", text: key.name })))),
    el("tbody", {}, ...days.map((day, i) => totals[i] ? el("tr", {}, el("th", { scope: "row", text: dayText(day) }),
      ...used.map((key) => el("td", { text: amount(key.days[i][metric], metric) }))) : null)));
}

function swatch(colour) {
  const node = el("span.swatch", { "aria-hidden": "true" });
  node.style.background = colour;  // through CSSOM: the page's policy allows no inline style attribute
  return node;
}

let lastUsage = null;
async function loadUsage() {
  try {
    lastUsage = await api(`${CONSOLE}/usage?days=${encodeURIComponent($("usage-days").value)}`);
    renderUsage(lastUsage);
  } catch (err) { failed(err); }
}
$("usage-days").addEventListener("change", loadUsage);
$("usage-metric").addEventListener("change", () => lastUsage && renderUsage(lastUsage));
window.addEventListener("resize", () => lastUsage && renderUsage(lastUsage));

// --- playground -------------------------------------------------------------------------------------------------

const catalog = DATA.catalog;
const current = () => catalog[Number($("pg-source").value)];

function fillSources() {
  const groups = [["preset", "Presets"], ["workflow", "Workflow templates"]].map(([kind, label]) => {
    const group = el("optgroup", { label });
    catalog.forEach((entry, i) => { if (entry.kind === kind) group.append(new Option(entry.title, String(i))); });
    return group;
  });
  $("pg-source").replaceChildren(...groups);
  const preferred = catalog.findIndex((entry) => entry.name === DATA.default_preset);
  $("pg-source").value = String(Math.max(preferred, 0));
}

function paramInput(name, spec) {
  const id = `pg-param-${name}`;
  const bounds = spec.min !== undefined && spec.max !== undefined ? ` (${spec.min} to ${spec.max})` : "";
  const label = el("label", { for: id }, name, el("span.hint", { text: `${spec.type}${bounds}` }));
  let input;
  if (spec.choices) {
    input = el("select", { id, "data-param": name });
    input.append(...spec.choices.map((choice) => new Option(choice, choice)));
    input.value = spec.default;
  } else if (spec.type === "bool") {
    input = el("input", { id, type: "checkbox", "data-param": name, checked: spec.default ? true : null });
    return el("div.field", {}, el("label.choice", {}, input, name));
  } else if (spec.type === "string") {
    input = el((spec.max_length || 0) > 200 ? "textarea" : "input",
               { id, "data-param": name, maxlength: spec.max_length });
    input.value = spec.default ?? "";
  } else {
    input = el("input", { id, type: "number", "data-param": name, min: spec.min, max: spec.max, required: true,
                          step: spec.type === "int" ? (spec.multiple_of || 1) : "any" });
    input.value = spec.default;
  }
  return el("div.field", {}, label, input);
}

function renderPlayground() {
  const entry = current();
  $("pg-source-description").textContent = entry.description || "";
  $("pg-image-field").hidden = entry.images.length === 0;
  const names = Object.keys(entry.params);
  $("pg-params").hidden = names.length === 0;
  $("pg-param-fields").replaceChildren(...names.map((name) => paramInput(name, entry.params[name])));
  showError($("pg-error"), "");
  updateSamples();
}

// The parameters set to something other than their default, as the API takes them; null when one is invalid.
function collectParams(report) {
  const entry = current();
  const params = {};
  for (const input of $("pg-param-fields").querySelectorAll("[data-param]")) {
    const name = input.dataset.param, spec = entry.params[name];
    if (!input.checkValidity()) {
      if (report) showError($("pg-error"), `${name}: ${input.validationMessage}`, input);
      return null;
    }
    let value;
    if (spec.type === "bool") value = input.checked;
    else if (spec.type === "int" || spec.type === "float") {
      value = Number(input.value);
      if (spec.type === "int" && !Number.isSafeInteger(value)) {
        if (report) showError($("pg-error"), `${name}: use a whole number up to ${Number.MAX_SAFE_INTEGER} here`,
                              input);
        return null;
      }
    } else value = input.value;
    if (value !== spec.default) params[name] = value;
  }
  return params;
}

function shellQuote(text) {
  return "'" + text.replaceAll("'", "'\\''") + "'";
}

function pyValue(value) {
  if (typeof value === "boolean") return value ? "True" : "False";
  return JSON.stringify(value);
}

function imageName() {
  const file = $("pg-image").files[0];
  return file && /^[\w.-]+$/.test(file.name) ? file.name : "photo.png";
}

function jobBody(entry, params, uploadId) {
  const body = { [entry.kind]: entry.name };
  const image = { upload_id: uploadId || "<upload id>" };
  if (entry.kind === "preset") body.image = image;
  else if (entry.images.length) body.images = Object.fromEntries(entry.images.map((name) => [name, image]));
  if (Object.keys(params).length) body.params = params;
  return body;
}

function updateSamples(ids = {}) {
  const entry = current();
  const params = collectParams(false) || {};
  const base = DATA.api_base;
  const auth = '-H "Authorization: Bearer $COMFY_API_KEY"';
  const lines = ["export COMFY_API_KEY=sk_...   # your API key", ""];
  if (entry.images.length) {
    lines.push("# upload the input image: its \"id\" goes in the job", `curl -s -X POST ${base}/api/v1/uploads \\`,
               `  ${auth} \\`, `  -F "file=@${imageName()}"`, "");
  }
  lines.push("# start the job: 202 with its \"id\"", `curl -s -X POST ${base}/api/v1/jobs \\`, `  ${auth} \\`,
             "  -H \"Content-Type: application/json\" \\",
             `  -d ${shellQuote(JSON.stringify(jobBody(entry, params, ids.upload)))}`, "",
             "# follow it until it ends (the last event is the job, with its outputs' URLs)",
             `curl -sN ${base}/api/v1/jobs/${ids.job || "<job id>"}/events \\`,
             `  ${auth} -H "Accept: text/event-stream"`);
  $("pg-curl").textContent = lines.join("\n");

  const args = [`${entry.kind}=${JSON.stringify(entry.name)}`];
  if (entry.kind === "preset") args.push(`image=Path(${JSON.stringify(imageName())})`);
  else if (entry.images.length) {
    args.push(`images={${entry.images.map((n) => `${JSON.stringify(n)}: Path(${JSON.stringify(imageName())})`)
      .join(", ")}}`);
  }
  const names = Object.keys(params);
  if (names.length) args.push(`params={${names.map((n) => `${JSON.stringify(n)}: ${pyValue(params[n])}`).join(", ")}}`);
  $("pg-python").textContent = [
    "import asyncio", "import os", "from pathlib import Path", "", "from sdk import ComfyPlatformClient", "", "",
    "async def main():",
    `    async with ComfyPlatformClient(${JSON.stringify(base)}, os.environ["COMFY_API_KEY"]) as api:`,
    `        job = await api.create_job(${args.join(", ")})`,
    "        job = await api.wait(job[\"id\"])",
    "        print(job[\"status\"], await api.download_outputs(job, \"out/\"))", "", "",
    "asyncio.run(main())"].join("\n");
}

// A call to the Developer API with the playground's key (never the session cookie).
async function developerApi(path, key, { method = "GET", json, form } = {}) {
  const headers = { Authorization: `Bearer ${key}`, Accept: "application/json" };
  if (json !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, { method, headers, credentials: "omit",
                                   body: json !== undefined ? JSON.stringify(json) : form });
  } catch (e) {
    throw new ApiError("Could not reach the API. Check your connection and try again.", 0, "network");
  }
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const error = data && data.error;
    throw new ApiError((error && error.message) || "The API refused the request.", response.status,
                       error && error.code, error && error.details);
  }
  return data;
}

function showJob(job) {
  $("pg-result").hidden = false;
  const badge = $("pg-badge");
  badge.className = "badge " + job.status;
  badge.textContent = STATUS_TEXT[job.status] || job.status;
  $("pg-progress").value = job.status === "succeeded" ? 1 : (job.progress || 0);
  let text;
  if (job.status === "queued") {
    text = typeof job.queue_position === "number" ? `Queued: ${plural(job.queue_position, "job", "jobs")} ahead`
                                                  : "Queued";
  } else if (job.status === "running") text = `Running: ${Math.round((job.progress || 0) * 100)} %`;
  else if (job.status === "succeeded") text = `Done: ${plural((job.outputs || []).length, "output", "outputs")}`;
  else if (job.status === "failed") text = `Failed: ${job.error ? job.error.message : "the job did not finish"}`;
  else text = STATUS_TEXT[job.status] || job.status;
  $("pg-status").textContent = text;
  $("pg-outputs").replaceChildren(...(job.outputs || []).map((output, i) => el("figure", {},
    el("a", { href: output.url, target: "_blank", rel: "noopener" },
       el("img", { src: output.url, alt: `Output ${i + 1}: ${output.filename}`,
                   width: output.width, height: output.height })),
    el("figcaption", { text: `${output.filename} · ${output.width}×${output.height}` }))));
}

// Follows a job over the API's Server-Sent Events (fetch, since EventSource cannot send the key); falls back to
// reading the job once a second if the stream breaks. Resolves with the finished job.
async function follow(jobId, key) {
  try {
    const response = await fetch(`/api/v1/jobs/${encodeURIComponent(jobId)}/events`, {
      headers: { Authorization: `Bearer ${key}`, Accept: "text/event-stream" }, credentials: "omit" });
    if (!response.ok || !response.body) throw new Error("no stream");
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const message = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const kind = (message.match(/^event: (.*)$/m) || [])[1];
        const data = (message.match(/^data: (.*)$/m) || [])[1];
        if (!data) continue;
        const payload = JSON.parse(data);
        if (kind === "job") { showJob(payload); return payload; }
        showJob({ ...payload, outputs: [] });
      }
    }
  } catch (e) { /* read the job instead */ }
  for (;;) {
    const job = await developerApi(`/api/v1/jobs/${encodeURIComponent(jobId)}`, key);
    showJob(job);
    if (TERMINAL.includes(job.status)) return job;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

$("pg-source").addEventListener("change", renderPlayground);
$("playground").addEventListener("input", () => updateSamples());
$("playground").addEventListener("change", () => updateSamples());

$("playground").addEventListener("submit", (event) => {
  event.preventDefault();
  const error = $("pg-error");
  const key = $("pg-key").value.trim();
  const entry = current();
  const file = $("pg-image").files[0];
  if (!key) return showError(error, "Give an API key to run with: create one above and it is filled in here.",
                             $("pg-key"));
  if (entry.images.length && !file) return showError(error, "Choose an input image.", $("pg-image"));
  const params = collectParams(true);
  if (params === null) return;
  showError(error, "");
  busy($("pg-run"), async () => {
    const ids = {};
    try {
      $("pg-result").hidden = false;
      $("pg-outputs").replaceChildren();
      if (file) {
        $("pg-status").textContent = "Uploading the image…";
        const form = new FormData();
        form.append("file", file);
        ids.upload = (await developerApi("/api/v1/uploads", key, { method: "POST", form })).id;
      }
      const job = await developerApi("/api/v1/jobs", key, { method: "POST", json: jobBody(entry, params, ids.upload) });
      ids.job = job.id;
      updateSamples(ids);
      showJob(job);
      loadJobs();
      await follow(job.id, key);
    } catch (err) {
      $("pg-result").hidden = true;
      showError(error, err.message);
    }
    loadJobs();
    loadUsage();
    loadKeys();
  });
});

// --- recent jobs ------------------------------------------------------------------------------------------------

function jobItem(job) {
  const source = job.preset || job.workflow || "graph";
  return el("li.console-job", {},
    el("div.job-head", {},
       el("span.badge." + job.status, { text: STATUS_TEXT[job.status] || job.status }),
       el("strong", { text: source }),
       el("span.muted.small", { text: `with “${job.key_name}”` }),
       el("span.muted.small", { text: when(job.created_at) })),
    el("code.job-id", { text: job.id }),
    job.status === "running" ? el("progress", { max: 1, value: job.progress, "aria-label": `Progress of ${source}` })
                             : null,
    job.status === "failed" && job.error ? el("p.job-error", { text: job.error.message }) : null,
    job.outputs.length ? el("div.job-thumbs", {}, ...job.outputs.map((output, i) =>
      el("a", { href: output.url, target: "_blank", rel: "noopener" },
         el("img", { src: output.url, alt: `Output ${i + 1} of ${source}: ${output.filename}`, loading: "lazy" }))))
      : null,
    el("details", {}, el("summary", { text: `Events (${job.events.length})` }),
       el("ol", {}, ...job.events.map((event) => el("li", {},
         el("time", { datetime: event.at, text: new Date(event.at).toLocaleString() }), ` · ${event.text}`)))));
}

async function loadJobs(more = false) {
  clearTimeout(state.jobsTimer);
  try {
    const cursor = more && state.jobsCursor ? `&cursor=${encodeURIComponent(state.jobsCursor)}` : "";
    const key = $("jobs-key").value ? `&key_id=${encodeURIComponent($("jobs-key").value)}` : "";
    const page = await api(`${CONSOLE}/jobs?limit=10${key}${cursor}`);
    const items = page.data.map(jobItem);
    if (more) $("jobs").append(...items); else $("jobs").replaceChildren(...items);
    state.jobsCursor = page.next_cursor;
    $("jobs-more").hidden = !page.next_cursor;
    $("jobs-empty").hidden = $("jobs").children.length !== 0;
    if (!more && page.data.some((job) => !TERMINAL.includes(job.status))) {
      state.jobsTimer = setTimeout(() => loadJobs(), 3000);  // until every listed job has ended
    }
  } catch (err) { failed(err); }
}
$("jobs-key").addEventListener("change", () => loadJobs());
$("jobs-refresh").addEventListener("click", (event) => busy(event.currentTarget, () => loadJobs()));
$("jobs-more").addEventListener("click", (event) => busy(event.currentTarget, () => loadJobs(true)));

fillSources();
renderPlayground();
loadKeys();
loadUsage();
loadJobs();
