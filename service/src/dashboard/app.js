// The nexus dashboard: signs in with a tenant's token (kept for this tab
// only), lists the tenant's projects with live progress over the event
// stream, shows a project's files and archive, the agents, usage and the
// host's counters. Everything a tenant or a model wrote is shown as text.
"use strict";

const AGENTS = ["orchestrator", "backend", "frontend", "integration", "qa", "security", "devops"];
const state = { token: sessionStorage.getItem("nexus-token") || "", selected: null, streams: new Map(), steps: new Map() };
const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k === "style") e.style.cssText = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

async function api(path, options = {}) {
  const headers = Object.assign({ Authorization: `Bearer ${state.token}` }, options.headers || {});
  const res = await fetch(path, Object.assign({}, options, { headers }));
  if (res.status === 401) { signOut("Your token is no longer valid."); throw new Error("unauthorized"); }
  return res;
}

async function json(path, options) {
  const res = await api(path, options);
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body.error || `${res.status}`);
  return body;
}

function when(seconds) {
  return seconds ? new Date(seconds * 1000).toLocaleString() : "";
}

function size(bytes) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (bytes >= 1024 && i < units.length - 1) { bytes /= 1024; i++; }
  return `${bytes.toFixed(i ? 1 : 0)} ${units[i]}`;
}

// Sign in and out.

async function signIn(token) {
  state.token = token;
  const res = await fetch("/v1/usage", { headers: { Authorization: `Bearer ${token}` } });
  if (!res.ok) {
    const body = await res.json().catch(() => ({}));
    throw new Error(body.error || "That token is not valid.");
  }
  sessionStorage.setItem("nexus-token", token);
  const usage = await res.json();
  $("tenant").textContent = usage.tenant;
  $("login").hidden = true;
  $("app").hidden = false;
  $("nav").hidden = false;
  showUsage(usage);
  await Promise.all([refresh(), loadAgents(), loadHost()]);
}

function signOut(message) {
  sessionStorage.removeItem("nexus-token");
  state.token = "";
  for (const s of state.streams.values()) s.abort();
  state.streams.clear();
  $("app").hidden = true;
  $("nav").hidden = true;
  $("login").hidden = false;
  const error = $("login-error");
  error.hidden = !message;
  error.textContent = message || "";
}

// Usage.

function showUsage(u) {
  const box = $("usage");
  box.replaceChildren();
  const stat = (value, label) => box.append(el("div", { class: "stat" }, el("div", { class: "value" }, value), el("div", { class: "label" }, label)));
  stat(`${u.projects.running} / ${u.limits.max_projects}`, "running now");
  stat(`${u.projects.queued} / ${u.limits.max_queued}`, "queued");
  stat(u.projects.done, "done");
  stat(u.tokens.limit ? `${u.tokens.last_24h} / ${u.tokens.limit}` : u.tokens.last_24h, "LLM tokens, 24 h");
  stat(u.disk.limit ? `${size(u.disk.bytes)} / ${size(u.disk.limit)}` : size(u.disk.bytes), "disk");
  const refused = Object.values(u.refusals || {}).reduce((a, b) => a + b, 0);
  stat(refused, "refused by quota");
}

async function loadUsage() {
  try { showUsage(await json("/v1/usage")); } catch (_) { /* shown on the next refresh */ }
}

// Projects.

function progress(id, status) {
  const steps = state.steps.get(id) || new Map();
  const done = [...steps.values()].filter((s) => s === "done").length;
  const pct = status === "done" ? 100 : Math.round((done / AGENTS.length) * 100);
  const cls = status === "done" ? "done" : (status === "failed" || status === "cancelled") ? "failed" : "";
  return el("div", { class: "bar-track", title: `${done} of ${AGENTS.length} agents done` },
    el("div", { class: `bar-fill ${cls}`, style: `width:${pct}%` }));
}

async function refresh() {
  const page = await json("/v1/projects?limit=100");
  const body = $("projects").querySelector("tbody");
  body.replaceChildren();
  $("no-projects").hidden = page.projects.length > 0;
  for (const p of page.projects) {
    const row = el("tr", { "data-id": p.id, onclick: () => select(p.id) },
      el("td", {}, el("div", { class: "title" }, p.name || p.id.slice(0, 8)), el("div", { class: "desc", title: p.description }, p.description)),
      el("td", {}, el("span", { class: `badge ${p.status}`, "data-status": p.status }, p.status)),
      el("td", {}, progress(p.id, p.status)),
      el("td", { class: "muted" }, when(p.created)));
    if (p.id === state.selected) row.classList.add("selected");
    body.append(row);
    if ((p.status === "running" || p.status === "queued") && !state.streams.has(p.id)) follow(p.id);
  }
  if (state.selected) await showDetail(state.selected);
}

// Follows a project's Server-Sent Events over fetch (which, unlike
// EventSource, can send the token), and redraws as steps move on.
async function follow(id) {
  const abort = new AbortController();
  state.streams.set(id, abort);
  const steps = state.steps.get(id) || new Map();
  state.steps.set(id, steps);
  try {
    const res = await api(`/v1/projects/${id}/events`, { signal: abort.signal });
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        let name = "message", data = "";
        for (const line of block.split("\n")) {
          if (line.startsWith("event:")) name = line.slice(6).trim();
          else if (line.startsWith("data:")) data += line.slice(5).trim();
        }
        if (!data) continue;
        const event = JSON.parse(data);
        if (name === "agent") steps.set(event.agent, event.step);
        const row = document.querySelector(`tr[data-id="${id}"]`);
        if (row) row.children[2].replaceChildren(progress(id, name === "done" ? "done" : ""));
        if (state.selected === id) drawSteps(id);
        if (name === "done" || name === "failed" || name === "started") {
          await refresh();
          await loadUsage();
          await loadHost();
        }
      }
    }
  } catch (_) {
    // Aborted, or the connection dropped: the next refresh follows again.
  } finally {
    state.streams.delete(id);
  }
}

function drawSteps(id) {
  const steps = state.steps.get(id) || new Map();
  $("detail-steps").replaceChildren(...AGENTS.map((a) => el("li", { class: steps.get(a) || "" }, `${a}${steps.get(a) ? ` · ${steps.get(a)}` : ""}`)));
}

async function select(id) {
  state.selected = id;
  for (const row of document.querySelectorAll("#projects tbody tr")) row.classList.toggle("selected", row.dataset.id === id);
  $("viewer").hidden = true;
  await showDetail(id);
}

async function showDetail(id) {
  let p;
  try { p = await json(`/v1/projects/${id}`); } catch (_) { $("detail").hidden = true; return; }
  $("detail").hidden = false;
  $("detail-title").textContent = p.name || p.id;
  const badge = $("detail-status");
  badge.textContent = p.status;
  badge.className = `badge ${p.status}`;
  $("detail-summary").textContent = p.summary || p.description;
  const steps = state.steps.get(id) || new Map();
  for (const phase of Array.isArray(p.phases) ? p.phases : []) {
    if (phase && typeof phase.agent === "string" && !steps.has(phase.agent)) steps.set(phase.agent, phase.passed === false ? "failed" : "done");
  }
  state.steps.set(id, steps);
  drawSteps(id);
  const active = p.status === "running" || p.status === "queued";
  $("cancel").hidden = !active;
  $("archive").hidden = active;
  $("files-box").hidden = active;
  if (!active) {
    const list = await json(`/v1/projects/${id}/files`).catch(() => ({ files: [] }));
    $("files").replaceChildren(...list.files.map((f) =>
      el("li", { "data-path": f.path, onclick: () => openFile(id, f.path) }, el("span", {}, f.path), el("span", { class: "muted" }, size(f.size)))));
  }
}

async function openFile(id, path) {
  const res = await api(`/v1/projects/${id}/files/${path.split("/").map(encodeURIComponent).join("/")}`);
  $("viewer").hidden = false;
  $("viewer-path").textContent = path;
  $("viewer-text").textContent = res.ok ? await res.text() : `(${res.status})`;
}

async function download(id) {
  const res = await api(`/v1/projects/${id}/archive`);
  if (!res.ok) return;
  const url = URL.createObjectURL(await res.blob());
  const a = el("a", { href: url, download: `${$("detail-title").textContent}.tar.gz` });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

// Agents and the host.

async function loadAgents() {
  const list = await json("/v1/agents").catch(() => ({ agents: [] }));
  $("agents").replaceChildren(...list.agents.map((a) =>
    el("li", {}, el("details", {}, el("summary", {}, `${a.name} `, el("span", { class: "muted" }, a.source)), el("pre", {}, a.policy || "")))));
}

async function loadHost() {
  const res = await fetch("/metrics");
  if (!res.ok) return;
  const text = await res.text();
  const sum = (name) => text.split("\n").filter((l) => l.startsWith(name)).reduce((a, l) => a + Number(l.split(" ").pop() || 0), 0);
  const rows = [
    ["tasks run", sum("nexus_task_duration_seconds_count")],
    ["task failures", sum("nexus_task_failures_total")],
    ["model calls", sum("nexus_llm_call_duration_seconds_count")],
    ["messages pending", sum("nexus_bus_pending_messages")],
    ["dead letters", sum("nexus_bus_dead_letters")],
    ["projects running (all tenants)", text.split("\n").filter((l) => l.startsWith("nexus_projects{") && l.includes('state="running"')).reduce((a, l) => a + Number(l.split(" ").pop()), 0)],
  ];
  $("host").replaceChildren(...rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
}

// Wiring.

$("login-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  $("login-error").hidden = true;
  try { await signIn($("token").value.trim()); } catch (err) {
    $("login-error").hidden = false;
    $("login-error").textContent = err.message;
  }
});

$("logout").addEventListener("click", () => signOut(""));

$("new-project").addEventListener("submit", async (e) => {
  e.preventDefault();
  const error = $("submit-error");
  error.hidden = true;
  const body = { description: $("description").value.trim() };
  if ($("name").value.trim()) body.name = $("name").value.trim();
  const res = await api("/v1/projects", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  const answer = await res.json().catch(() => ({}));
  if (!res.ok) {
    error.hidden = false;
    const retry = res.headers.get("Retry-After");
    error.textContent = answer.error + (retry ? ` (try again in ${retry} s)` : "");
    return;
  }
  $("description").value = "";
  $("name").value = "";
  state.selected = answer.id;
  await refresh();
  await loadUsage();
});

$("cancel").addEventListener("click", async () => {
  if (!state.selected) return;
  await api(`/v1/projects/${state.selected}/cancel`, { method: "POST" });
  await refresh();
});

$("delete").addEventListener("click", async () => {
  if (!state.selected || !confirm("Delete this project and its files?")) return;
  await api(`/v1/projects/${state.selected}`, { method: "DELETE" });
  state.selected = null;
  $("detail").hidden = true;
  await refresh();
  await loadUsage();
});

$("archive").addEventListener("click", () => state.selected && download(state.selected));

setInterval(() => { if (state.token) loadHost(); }, 10000);

if (state.token) signIn(state.token).catch(() => signOut(""));
