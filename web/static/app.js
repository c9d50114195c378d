// Shared by every page: fetch with the session's CSRF token, server-sent events, small DOM helpers. No build step.
"use strict";

const csrfToken = () => document.querySelector('meta[name="csrf-token"]')?.content || "";

class ApiError extends Error {
  constructor(message, status, code, details) {
    super(message);
    this.status = status; this.code = code; this.details = details;
  }
}

// api(path, {method, body}): JSON in and out; state-changing calls carry X-CSRF-Token. Errors throw ApiError with
// the server's plain message.
async function api(path, { method = "GET", body } = {}) {
  const headers = { "Accept": "application/json" };
  if (method !== "GET" && method !== "HEAD") headers["X-CSRF-Token"] = csrfToken();
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, { method, headers, credentials: "same-origin",
                                   body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new ApiError("Could not reach the server. Check your connection and try again.", 0, "network");
  }
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) {
    const error = data && data.error;
    throw new ApiError((error && error.message) || "Something went wrong. Try again.", response.status,
                       error && error.code, error && error.details);
  }
  return data;
}

// sse(path, {event: handler, ...}): an EventSource that reconnects by itself (the browser's own retry); returns it.
function sse(path, handlers) {
  const source = new EventSource(path, { withCredentials: true });
  for (const [name, handler] of Object.entries(handlers)) {
    source.addEventListener(name, (event) => handler(JSON.parse(event.data), event));
  }
  return source;
}

// el("tag.class", {attr: value}, ...children): a small element builder; text children are text nodes.
function el(spec, attrs = {}, ...children) {
  const [tag, ...classes] = spec.split(".");
  const node = document.createElement(tag);
  if (classes.length) node.className = classes.join(" ");
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === false || value === null || value === undefined) continue;
    if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function toast(message, kind) {
  const box = document.getElementById("toast");
  if (!box) return;
  box.textContent = message;
  box.className = "toast" + (kind ? " " + kind : "");
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { box.hidden = true; }, 6000);
}

// busy(button, promiseFn): the button shows it is working and cannot be pressed twice.
async function busy(button, work) {
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  try { return await work(); }
  finally { button.removeAttribute("aria-busy"); button.disabled = false; }
}

function when(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  const seconds = Math.round((date - Date.now()) / 1000);
  const format = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
  const abs = Math.abs(seconds);
  if (abs < 60) return format.format(seconds, "second");
  if (abs < 3600) return format.format(Math.round(seconds / 60), "minute");
  if (abs < 86400) return format.format(Math.round(seconds / 3600), "hour");
  return date.toLocaleString();
}

document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-sign-out]");
  if (!button) return;
  event.preventDefault();
  try { await api("/creator/auth/logout", { method: "POST" }); } catch (e) { /* signed out either way */ }
  window.location.assign("/creator/");
});
