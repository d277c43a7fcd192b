// The operations dashboard: plain JavaScript over mintbean's GraphQL API (POST /graphql with
// the session cookie) and its subscription (graphql-ws at /graphql/ws) for live progress.
"use strict";

const $ = (selector, root = document) => root.querySelector(selector);
const esc = (value) =>
  String(value ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
const json = (value) => (value === null || value === undefined ? "" : JSON.stringify(value, null, 2));
const time = (iso) => (iso ? new Date(iso).toLocaleString() : "—");
const ago = (seconds) => (seconds === null || seconds === undefined ? "—" : seconds < 90 ? `${Math.round(seconds)} s` : seconds < 5400 ? `${Math.round(seconds / 60)} min` : `${Math.round(seconds / 3600)} h`);
const state = (name) => `<span class="state ${esc(name)}">${esc(name)}</span>`;

async function gql(query, variables = {}) {
  const response = await fetch("/graphql", {
    method: "POST",
    credentials: "same-origin",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json().catch(() => ({ errors: [{ message: `HTTP ${response.status}` }] }));
  if (body.errors && body.errors.length) {
    const error = new Error(body.errors.map((e) => e.message).join("; "));
    error.code = body.errors[0].extensions && body.errors[0].extensions.code;
    throw error;
  }
  return body.data;
}

function toast(message) {
  const box = $("#toast");
  box.textContent = message;
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => (box.hidden = true), 4000);
}

// ---- live updates: a minimal graphql-transport-ws client -------------------------------------

const live = {
  socket: null,
  ready: null,
  next: 1,
  handlers: new Map(),
  connect() {
    if (this.ready) return this.ready;
    const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/graphql/ws`;
    this.ready = new Promise((resolve, reject) => {
      const socket = new WebSocket(url, "graphql-transport-ws");
      this.socket = socket;
      socket.onopen = () => socket.send(JSON.stringify({ type: "connection_init", payload: {} }));
      socket.onmessage = (message) => {
        const data = JSON.parse(message.data);
        if (data.type === "connection_ack") resolve(socket);
        else if (data.type === "ping") socket.send(JSON.stringify({ type: "pong" }));
        else if (data.type === "next" && this.handlers.has(data.id)) this.handlers.get(data.id)(data.payload.data);
        // The stream ended (a followed job finished): nothing to resubscribe after a reconnect.
        else if (data.type === "complete") this.forget(data.id);
        else if (data.type === "error") console.warn("subscription error", data.payload);
      };
      socket.onclose = () => {
        this.ready = null;
        this.socket = null;
        reject(new Error("closed"));
        // Keep what is on screen live: reopen and resubscribe.
        if (this.handlers.size) setTimeout(() => this.resubscribe(), 1000);
      };
    });
    return this.ready;
  },
  subscriptions: new Map(),
  async subscribe(query, variables, onData) {
    const id = String(this.next++);
    this.handlers.set(id, onData);
    this.subscriptions.set(id, { query, variables });
    try {
      const socket = await this.connect();
      socket.send(JSON.stringify({ id, type: "subscribe", payload: { query, variables } }));
    } catch (e) {
      /* retried by resubscribe */
    }
    return id;
  },
  async resubscribe() {
    try {
      const socket = await this.connect();
      for (const [id, { query, variables }] of this.subscriptions) {
        socket.send(JSON.stringify({ id, type: "subscribe", payload: { query, variables } }));
      }
    } catch (e) {
      /* closed again: onclose retries */
    }
  },
  forget(id) {
    this.handlers.delete(id);
    this.subscriptions.delete(id);
  },
  stop(id) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify({ id, type: "complete" }));
    this.forget(id);
  },
  stopAll() {
    for (const id of [...this.handlers.keys()]) this.stop(id);
  },
};

const JOB_FIELDS = "id kind queue state priority args progress result lastError attempt maxAttempts runAt createdAt startedAt finishedAt cancelRequestedAt createdBy groupKey";
const FOLLOW = `subscription($id: ID!) { jobUpdates(id: $id) { ${JOB_FIELDS} } }`;

/// A progress bar for a job's `progress` JSON: {done,total}, {percent}, or a step.
function progressBar(job) {
  if (job.state !== "running" && !job.progress) return "";
  const p = job.progress || {};
  let percent = null;
  if (typeof p.percent === "number") percent = p.percent;
  else if (typeof p.done === "number" && typeof p.total === "number" && p.total > 0) percent = (100 * p.done) / p.total;
  else if (typeof p.done === "number" && p.total === 0) percent = 100;
  const label = typeof p.done === "number" ? `${p.done} / ${p.total}` : p.step ? esc(p.step) : job.state === "running" ? "running" : "";
  const bar =
    percent === null
      ? `<span class="progress indeterminate" role="progressbar" aria-label="progress"><span></span></span>`
      : `<span class="progress" role="progressbar" aria-valuemin="0" aria-valuemax="100" aria-valuenow="${Math.round(percent)}"><span style="width:${Math.min(100, percent).toFixed(1)}%"></span></span>`;
  return `${bar}<span class="progress-label">${label}</span>`;
}

// ---- views -------------------------------------------------------------------------------

let refresh = null;
const view = () => $("#view");

// Advanced by every navigation: a refresh whose answer arrives after the admin left its view
// must not paint over the new one.
let visits = 0;
function onThisView() {
  const visit = visits;
  return () => visit === visits;
}

function leave() {
  visits += 1;
  live.stopAll();
  clearInterval(refresh);
  refresh = null;
}

async function action(button, work, message) {
  button.disabled = true;
  try {
    await work();
    if (message) toast(message);
  } catch (e) {
    toast(e.message);
  } finally {
    button.disabled = false;
  }
}

function chart(activity, queue) {
  const now = Date.now();
  const bucket = 5 * 60 * 1000;
  const start = Math.floor(now / bucket) * bucket - 11 * bucket;
  const rows = activity.filter((a) => a.queue === queue);
  const slots = Array.from({ length: 12 }, (_, i) => {
    const at = start + i * bucket;
    const row = rows.find((a) => Math.abs(new Date(a.bucket).getTime() - at) < 1000) || { completed: 0, failed: 0 };
    return row;
  });
  const peak = Math.max(1, ...slots.map((s) => s.completed + s.failed));
  const bars = slots
    .map((s) => `<i title="${s.completed} completed, ${s.failed} failed"><b style="height:${(34 * s.completed) / peak}px"></b><b class="f" style="height:${(34 * s.failed) / peak}px"></b></i>`)
    .join("");
  const total = slots.reduce((n, s) => n + s.completed, 0);
  const failed = slots.reduce((n, s) => n + s.failed, 0);
  return `<span class="chart" aria-label="last hour: ${total} completed, ${failed} failed">${bars}</span> <span class="muted">${total} ok · ${failed} failed</span>`;
}

function queueRow(q, activity) {
  const paused = q.pausedUntil ? `${state("paused")} <span class="muted">until ${time(q.pausedUntil)}</span>` : "";
  return `<tr data-queue="${esc(q.name)}">
    <td><a href="#/jobs?queue=${encodeURIComponent(q.name)}">${esc(q.name)}</a> ${paused}</td>
    <td>${q.available}</td><td>${q.scheduled}</td><td><a href="#/jobs?queue=${encodeURIComponent(q.name)}&state=running">${q.running}</a></td>
    <td>${q.completed}</td><td><a href="#/jobs?queue=${encodeURIComponent(q.name)}&state=failed">${q.failed}</a></td><td>${q.discarded}</td><td>${q.cancelled}</td>
    <td>${ago(q.oldestWaitingSeconds)}</td><td>${chart(activity, q.name)}</td>
    <td class="actions">${
      q.pausedUntil
        ? `<button type="button" class="secondary" data-resume="${esc(q.name)}">Resume</button>`
        : `<select aria-label="pause ${esc(q.name)} for" data-for="${esc(q.name)}"><option value="300">5 min</option><option value="3600">1 h</option><option value="">until resumed</option></select>
           <button type="button" class="secondary" data-pause="${esc(q.name)}">Pause</button>`
    }</td></tr>`;
}

// The overview's frame, with the enqueue form: built once, so the refreshes every few seconds
// never wipe what an admin is typing.
function overviewFrame(jobKinds) {
  const kinds = jobKinds.map((k) => `<option>${esc(k)}</option>`).join("");
  view().innerHTML = `<h1>Queues</h1>
    <div class="card table-wrap"><table id="queues"><thead><tr><th>Queue</th><th>Waiting</th><th>Later</th><th>Running</th><th>Completed</th><th>Failed</th><th>Discarded</th><th>Cancelled</th><th>Oldest wait</th><th>Last hour</th><th></th></tr></thead>
    <tbody></tbody></table></div>
    <h2>Enqueue a job</h2>
    <form class="card" id="enqueue">
      <div class="inline"><label>Kind <select name="kind">${kinds}</select></label><label>Priority <input name="priority" type="number" value="1" min="-32768" max="32767"></label></div>
      <label>Arguments (JSON) <textarea name="args">{}</textarea></label>
      <button type="submit">Enqueue</button> <span class="error" id="enqueue-error" role="alert"></span>
    </form>`;
  $("#enqueue").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    $("#enqueue-error").textContent = "";
    let args;
    try {
      args = JSON.parse(form.args.value || "{}");
    } catch (e) {
      $("#enqueue-error").textContent = `Arguments: not JSON (${e.message})`;
      return;
    }
    try {
      const data = await gql(`mutation($k: String!, $a: JSON, $p: Int) { enqueueJob(kind: $k, args: $a, priority: $p) { id } }`, {
        k: form.kind.value,
        a: args,
        p: Number(form.priority.value || 1),
      });
      location.hash = `#/jobs/${data.enqueueJob.id}`;
    } catch (e) {
      $("#enqueue-error").textContent = e.message;
    }
  });
}

async function overview() {
  const here = onThisView();
  const data = await gql(`{ queues { name available scheduled running completed failed cancelled discarded oldestWaitingSeconds completedLastMinute pausedUntil }
                            queueActivity(minutes: 60) { queue bucket completed failed } jobKinds }`);
  if (!here()) return;
  if (!$("#enqueue")) overviewFrame(data.jobKinds);
  // Only the queue rows are replaced; a pause duration being chosen stays chosen.
  const chosen = [...view().querySelectorAll("select[data-for]")].map((select) => [select.dataset.for, select.value]);
  $("#queues tbody").innerHTML =
    data.queues.map((q) => queueRow(q, data.queueActivity)).join("") || `<tr><td colspan="11" class="muted">No queues yet.</td></tr>`;
  for (const [queue, value] of chosen) {
    const select = $(`select[data-for="${CSS.escape(queue)}"]`);
    if (select) select.value = value;
  }
  view().querySelectorAll("[data-pause]").forEach((button) =>
    button.addEventListener("click", () => {
      const queue = button.dataset.pause;
      const seconds = $(`select[data-for="${CSS.escape(queue)}"]`).value;
      action(button, () => gql(`mutation($q: String!, $s: Int) { pauseQueue(queue: $q, forSeconds: $s) }`, { q: queue, s: seconds ? Number(seconds) : null }), `${queue} paused`).then(overview);
    }),
  );
  view().querySelectorAll("[data-resume]").forEach((button) =>
    button.addEventListener("click", () =>
      action(button, () => gql(`mutation($q: String!) { resumeQueue(queue: $q) }`, { q: button.dataset.resume }), `${button.dataset.resume} resumed`).then(overview),
    ),
  );
}

function jobRow(job) {
  return `<tr data-job="${esc(job.id)}"><td><a href="#/jobs/${esc(job.id)}">${esc(job.id)}</a></td><td>${esc(job.kind)}</td><td>${esc(job.queue)}</td>
    <td class="job-state">${state(job.state)}</td><td class="job-progress">${progressBar(job)}</td><td>${job.attempt} / ${job.maxAttempts}</td>
    <td>${time(job.createdAt)}</td><td class="wrap muted">${esc((job.lastError || "").slice(0, 140))}</td></tr>`;
}

async function jobs(params) {
  const filter = {};
  for (const name of ["kind", "queue", "key"]) if (params.get(name)) filter[name] = params.get(name);
  if (params.get("state")) filter.state = [params.get("state")];
  if (params.get("error")) filter.errorContains = params.get("error");
  const data = await gql(`query($f: JobFilter, $after: String) { jobs(filter: $f, first: 25, after: $after) { totalCount totalCountExact endCursor nodes { ${JOB_FIELDS} } } }`, {
    f: filter,
    after: params.get("after") || null,
  });
  const page = data.jobs;
  const states = ["", "available", "running", "completed", "failed", "discarded", "cancelled"]
    .map((s) => `<option value="${s}" ${params.get("state") === s ? "selected" : ""}>${s || "any"}</option>`)
    .join("");
  const value = (name) => esc(params.get(name) || "");
  const next = new URLSearchParams(params);
  next.set("after", page.endCursor || "");
  view().innerHTML = `<h1>Jobs <span class="muted">(${page.totalCount}${page.totalCountExact ? "" : "+"})</span></h1>
    <form class="card inline" id="filter">
      <label>State <select name="state">${states}</select></label>
      <label>Kind <input name="kind" value="${value("kind")}"></label>
      <label>Queue <input name="queue" value="${value("queue")}"></label>
      <label>Key <input name="key" value="${value("key")}"></label>
      <label>Error contains <input name="error" value="${value("error")}"></label>
      <button type="submit">Filter</button>
    </form>
    <div class="card table-wrap"><table id="jobs"><thead><tr><th>Id</th><th>Kind</th><th>Queue</th><th>State</th><th>Progress</th><th>Attempt</th><th>Created</th><th>Last error</th></tr></thead>
    <tbody>${page.nodes.map(jobRow).join("") || `<tr><td colspan="8" class="muted">No jobs match.</td></tr>`}</tbody></table></div>
    <p class="actions">${params.get("after") ? `<a href="#/jobs?${esc(withoutAfter(params))}">First page</a>` : ""} ${page.endCursor ? `<a href="#/jobs?${esc(next.toString())}">Next page</a>` : ""}</p>`;
  $("#filter").addEventListener("submit", (event) => {
    event.preventDefault();
    const query = new URLSearchParams();
    for (const [name, value] of new FormData(event.target)) if (value) query.set(name, value);
    location.hash = `#/jobs?${query}`;
  });
  for (const job of page.nodes.filter((j) => j.state === "running" || j.state === "available")) {
    live.subscribe(FOLLOW, { id: job.id }, (data) => {
      const row = $(`tr[data-job="${CSS.escape(job.id)}"]`);
      if (row && data && data.jobUpdates) row.outerHTML = jobRow(data.jobUpdates);
    });
  }
}

function withoutAfter(params) {
  const copy = new URLSearchParams(params);
  copy.delete("after");
  return copy.toString();
}

function jobDetails(job) {
  const canCancel = job.state === "available" || job.state === "running";
  const canRetry = ["failed", "discarded", "cancelled"].includes(job.state);
  return `<h1>Job ${esc(job.id)} <span class="muted">${esc(job.kind)}</span></h1>
    <div class="card">
      ${canCancel || canRetry ? `<p class="actions">${canCancel ? `<button type="button" class="danger" id="cancel">Cancel</button>` : ""}${canRetry ? `<button type="button" id="retry">Retry</button>` : ""}</p>` : ""}
      <dl>
        <dt>State</dt><dd id="job-state">${state(job.state)} ${job.cancelRequestedAt ? `<span class="muted">cancel requested</span>` : ""}</dd>
        <dt>Progress</dt><dd id="job-progress">${progressBar(job) || "—"}</dd>
        <dt>Queue</dt><dd>${esc(job.queue)} · priority ${job.priority}</dd>
        <dt>Attempt</dt><dd>${job.attempt} of ${job.maxAttempts}</dd>
        <dt>Created</dt><dd>${time(job.createdAt)} by ${esc(job.createdBy || "—")}</dd>
        <dt>Run at</dt><dd>${time(job.runAt)}</dd>
        <dt>Started</dt><dd>${time(job.startedAt)}</dd>
        <dt>Finished</dt><dd>${time(job.finishedAt)}</dd>
        <dt>Last error</dt><dd class="error">${esc(job.lastError || "")}</dd>
      </dl>
      <h2>Arguments</h2><pre>${esc(json(job.args))}</pre>
      ${job.result ? `<h2>Result</h2><pre>${esc(json(job.result))}</pre>` : ""}
      ${job.progress ? `<h2>Progress data</h2><pre>${esc(json(job.progress))}</pre>` : ""}
    </div>
    <h2>Attempts</h2>
    <div class="card table-wrap"><table id="attempts"><thead><tr><th>#</th><th>Outcome</th><th>Started</th><th>Took</th><th>Error</th></tr></thead><tbody>${
      (job.attempts || []).map((a) => `<tr><td>${a.attempt}</td><td>${state(a.outcome)}</td><td>${time(a.startedAt)}</td><td>${a.durationMs === null ? "—" : `${a.durationMs.toFixed(0)} ms`}</td><td class="wrap">${esc(a.error || "")}</td></tr>`).join("") ||
      `<tr><td colspan="5" class="muted">None finished yet.</td></tr>`
    }</tbody></table></div>`;
}

async function job(id) {
  const here = onThisView();
  const load = async () => (await gql(`query($id: ID!) { job(id: $id) { ${JOB_FIELDS} attempts { attempt outcome error startedAt finishedAt durationMs } } }`, { id })).job;
  const render = (data) => {
    if (!data) {
      view().innerHTML = `<h1>No job ${esc(id)}</h1>`;
      return;
    }
    view().innerHTML = jobDetails(data);
    const cancel = $("#cancel");
    if (cancel) cancel.addEventListener("click", () => action(cancel, () => gql(`mutation($id: ID!) { cancelJob(id: $id) { id } }`, { id }), "cancel requested").then(reload));
    const retry = $("#retry");
    const retryAndFollow = async () => {
      await gql(`mutation($id: ID!) { retryJob(id: $id) { id } }`, { id });
      await follow();
    };
    if (retry) retry.addEventListener("click", () => action(retry, retryAndFollow, "queued again").then(reload));
  };
  // An action's reload and live updates' reloads overlap: only the latest one started renders,
  // or an older answer arriving last would leave a stale state on screen.
  let latest = 0;
  const reload = async () => {
    const mine = ++latest;
    const data = await load();
    if (mine === latest && here()) render(data);
  };
  // A job's stream ends when it finishes; a retry brings it back, so it is followed anew.
  let following = null;
  const follow = async () => {
    if (following) live.stop(following);
    if (!here()) return;
    following = await live.subscribe(FOLLOW, { id }, async (data) => {
      if (!data || !data.jobUpdates) return;
      const update = data.jobUpdates;
      const finished = !["available", "running"].includes(update.state);
      const shown = $("#job-state")?.textContent.trim().split(" ")[0];
      if (finished || shown !== update.state) await reload();
      else $("#job-progress").innerHTML = progressBar(update) || "—";
    });
  };
  await reload();
  await follow();
}

async function schedules() {
  const data = await gql(`{ schedules { name cron timezone kind queue enabled nextRunAt lastSlot lastJobId lastJobState } }`);
  view().innerHTML = `<h1>Schedules</h1><div class="card table-wrap"><table><thead><tr><th>Name</th><th>Cron</th><th>Kind</th><th>Queue</th><th>Next run</th><th>Last slot</th><th>Last job</th></tr></thead><tbody>${
    data.schedules
      .map((s) => `<tr><td>${esc(s.name)} ${s.enabled ? "" : state("disabled")}</td><td><code>${esc(s.cron)}</code> <span class="muted">${esc(s.timezone)}</span></td><td>${esc(s.kind)}</td><td>${esc(s.queue)}</td>
        <td>${time(s.nextRunAt)}</td><td>${time(s.lastSlot)}</td><td>${s.lastJobId ? `<a href="#/jobs/${esc(s.lastJobId)}">${esc(s.lastJobId)}</a> ${state(s.lastJobState)}` : "—"}</td></tr>`)
      .join("") || `<tr><td colspan="7" class="muted">No schedules.</td></tr>`
  }</tbody></table></div>`;
}

const EVENT_FIELDS = "id source triggerName table op state receivedAt deliveries detections { name jobs { name jobId kind state } } errors { detector message }";

function detections(event) {
  const found = event.detections
    .map((d) => `<div><strong>${esc(d.name)}</strong> ${d.jobs.map((j) => `<a href="#/jobs/${esc(j.jobId)}">${esc(j.name)}</a> ${state(j.state)}`).join(" ") || `<span class="muted">no jobs</span>`}</div>`)
    .join("");
  const failed = event.errors.map((e) => `<div class="error"><strong>${esc(e.detector)}</strong> failed: ${esc(e.message)}</div>`).join("");
  return found + failed || `<span class="muted">nothing detected</span>`;
}

async function events() {
  const here = onThisView();
  const data = await gql(`{ events(first: 50) { ${EVENT_FIELDS} } }`);
  if (!here()) return;
  view().innerHTML = `<h1>Events</h1><div class="card table-wrap"><table id="events"><thead><tr><th>Received</th><th>Table</th><th>Op</th><th>Source</th><th>State</th><th>Detections and jobs</th></tr></thead><tbody>${
    data.events
      .map((e) => `<tr><td><a href="#/events/${esc(e.id)}">${time(e.receivedAt)}</a></td><td>${esc(e.table)}</td><td>${esc(e.op)}</td><td>${esc(e.source)}${e.deliveries > 1 ? ` ×${e.deliveries}` : ""}</td><td>${state(e.state)}</td><td class="wrap">${detections(e)}</td></tr>`)
      .join("") || `<tr><td colspan="6" class="muted">No events yet.</td></tr>`
  }</tbody></table></div>`;
}

async function event(id) {
  const data = await gql(`query($id: UUID!) { event(id: $id) { ${EVENT_FIELDS} createdAt detectedAt envelope } }`, { id });
  const e = data.event;
  if (!e) {
    view().innerHTML = `<h1>No event ${esc(id)}</h1>`;
    return;
  }
  view().innerHTML = `<h1>${esc(e.op)} on ${esc(e.table)}</h1><div class="card"><dl>
    <dt>Id</dt><dd>${esc(e.id)}</dd><dt>Source</dt><dd>${esc(e.source)} (${esc(e.triggerName)}), delivered ${e.deliveries}×</dd>
    <dt>Happened</dt><dd>${time(e.createdAt)}</dd><dt>Detected</dt><dd>${time(e.detectedAt)} ${state(e.state)}</dd>
    <dt>Detections</dt><dd>${detections(e)}</dd></dl><h2>Envelope</h2><pre>${esc(json(e.envelope))}</pre></div>`;
}

async function webhooks() {
  const here = onThisView();
  const data = await gql(`{ webhookEndpoints { id url events format enabled description deliveries(limit: 10) { jobId eventType state attempts lastError createdAt } } }`);
  if (!here()) return;
  view().innerHTML = `<h1>Webhook endpoints</h1>${
    data.webhookEndpoints
      .map((w) => `<div class="card"><h2>${esc(w.url)} ${w.enabled ? "" : state("disabled")}</h2><p class="muted">${esc(w.events.join(", "))} · ${esc(w.format)} ${esc(w.description || "")}</p>
        <div class="table-wrap"><table><thead><tr><th>Delivery</th><th>Event</th><th>State</th><th>Tries</th><th>Created</th><th>Last error</th><th></th></tr></thead><tbody>${
          w.deliveries
            .map((d) => `<tr><td><a href="#/jobs/${esc(d.jobId)}">${esc(d.jobId)}</a></td><td>${esc(d.eventType)}</td><td>${state(d.state)}</td><td>${d.attempts}</td><td>${time(d.createdAt)}</td><td class="wrap">${esc(d.lastError || "")}</td>
              <td>${["available", "running"].includes(d.state) ? "" : `<button type="button" class="secondary" data-redeliver="${esc(d.jobId)}">Redeliver</button>`}</td></tr>`)
            .join("") || `<tr><td colspan="7" class="muted">No deliveries yet.</td></tr>`
        }</tbody></table></div></div>`)
      .join("") || `<p class="card muted">No endpoints. Add one with <code>mintbean webhooks add URL</code> or the <code>addWebhookEndpoint</code> mutation.</p>`
  }`;
  view().querySelectorAll("[data-redeliver]").forEach((button) =>
    button.addEventListener("click", () =>
      action(button, () => gql(`mutation($id: ID!) { redeliverWebhook(jobId: $id) { id } }`, { id: button.dataset.redeliver }), "delivery queued").then(webhooks),
    ),
  );
}

async function email() {
  const here = onThisView();
  const data = await gql(`{ emailStatus(failures: 20) { queued due deliveries { status count } latestFailures { id template recipient error attempts updatedAt } } }`);
  if (!here()) return;
  const s = data.emailStatus;
  view().innerHTML = `<h1>Email</h1>
    <div class="card"><dl><dt>Queued</dt><dd>${s.queued} (${s.due} due now)</dd>${s.deliveries.map((d) => `<dt>${state(d.status)}</dt><dd>${d.count}</dd>`).join("")}</dl></div>
    <h2>Latest failures</h2>
    <p><button type="button" id="retry-all" ${s.latestFailures.length ? "" : "disabled"}>Retry every failed email</button></p>
    <div class="card table-wrap"><table><thead><tr><th>When</th><th>Template</th><th>To</th><th>Tries</th><th>Error</th><th></th></tr></thead><tbody>${
      s.latestFailures
        .map((f) => `<tr><td>${time(f.updatedAt)}</td><td>${esc(f.template)}</td><td>${esc(f.recipient)}</td><td>${f.attempts}</td><td class="wrap">${esc(f.error || "")}</td><td><button type="button" class="secondary" data-retry="${esc(f.id)}">Retry</button></td></tr>`)
        .join("") || `<tr><td colspan="6" class="muted">No failed deliveries.</td></tr>`
    }</tbody></table></div>`;
  const retry = (button, id) =>
    action(button, async () => toast(`${(await gql(`mutation($id: UUID) { retryFailedEmails(id: $id) }`, { id })).retryFailedEmails} pending again`)).then(email);
  $("#retry-all").addEventListener("click", (e) => retry(e.target, null));
  view().querySelectorAll("[data-retry]").forEach((button) => button.addEventListener("click", () => retry(button, button.dataset.retry)));
}

const routes = [
  [/^$/, () => overview()],
  [/^jobs$/, (m, params) => jobs(params)],
  [/^jobs\/(\d+)$/, (m) => job(m[1])],
  [/^schedules$/, () => schedules()],
  [/^events$/, () => events()],
  [/^events\/([0-9a-f-]{36})$/, (m) => event(m[1])],
  [/^webhooks$/, () => webhooks()],
  [/^email$/, () => email()],
];

async function route() {
  leave();
  const [path, query] = location.hash.replace(/^#\/?/, "").split("?");
  const params = new URLSearchParams(query || "");
  document.querySelectorAll("#nav a").forEach((a) => a.classList.toggle("active", a.getAttribute("href").replace(/^#\/?/, "").split("?")[0] === path.split("/")[0]));
  for (const [pattern, render] of routes) {
    const match = path.match(pattern);
    if (!match) continue;
    try {
      await render(match, params);
      if (!path || path === "email" || path === "events" || path === "webhooks") refresh = setInterval(() => render(match, params).catch(() => {}), 5000);
    } catch (e) {
      if (e.code === "UNAUTHENTICATED" || e.code === "FORBIDDEN") location.reload();
      view().innerHTML = `<p class="card error" role="alert">${esc(e.message)}</p>`;
    }
    return;
  }
  view().innerHTML = `<p class="card">Nothing here. <a href="#/">Overview</a></p>`;
}

function loginView() {
  $("#login").hidden = false;
  $("#login-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    $("#login-error").textContent = "";
    try {
      await gql(`mutation($e: String!, $p: String!) { login(email: $e, password: $p) { id } }`, { e: form.email.value, p: form.password.value });
      location.reload();
    } catch (e) {
      $("#login-error").textContent = e.message;
    }
  });
  form_focus();
}

function form_focus() {
  const first = $("#login-form input");
  if (first) first.focus();
}

function dashboardView() {
  $("#nav").hidden = false;
  $("#logout").addEventListener("click", async () => {
    await gql(`mutation { logout }`).catch(() => {});
    location.reload();
  });
  window.addEventListener("hashchange", route);
  route();
}

if (document.body.dataset.view === "dashboard") dashboardView();
else loginView();
