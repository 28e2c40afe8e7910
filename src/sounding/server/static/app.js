// The Sounding web page: plain JavaScript, no build step. Every call goes through `api`
// with the key in a header (never in a URL, so it is not in any access log), and events
// are read with fetch streaming (EventSource cannot send headers).
"use strict";
const $ = (id) => document.getElementById(id);
let current = null;    // id of the job on screen
let reader = null;     // AbortController of its event stream
let runsOffset = 0;

$("key").value = localStorage.getItem("sounding-key") || "";
$("key").addEventListener("change", () => { localStorage.setItem("sounding-key", $("key").value); loadRuns(true); loadReports(); });

function headers(extra) {
  const h = Object.assign({}, extra || {});
  if ($("key").value) h["Authorization"] = "Bearer " + $("key").value;
  return h;
}
async function api(path, init) {
  const res = await fetch(path, Object.assign({}, init, { headers: headers(init && init.headers) }));
  if (!res.ok) {
    let detail = res.statusText;
    try { detail = (await res.json()).detail; } catch (e) { /* not JSON */ }
    throw new Error(res.status + ": " + (typeof detail === "string" ? detail : JSON.stringify(detail)));
  }
  return res;
}
function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;  // text only: nothing from a run is parsed as HTML
  return node;
}
function link(url) {
  const a = el("a", "", url);
  if (/^https?:\/\//.test(url)) { a.href = url; a.target = "_blank"; a.rel = "noopener noreferrer"; }
  return a;
}
function log(node) { $("log").appendChild(node); node.scrollIntoView({ block: "nearest" }); }

function resetView() {
  $("log").replaceChildren(); $("sources").replaceChildren();
  $("answer").textContent = ""; $("answer-box").hidden = true;
  $("report").textContent = ""; $("report-box").hidden = true;
}

function show(event) {
  const where = event.branch ? "[" + event.branch + "] " : "";
  switch (event.kind) {
    case "run_started":
      if (!event.branch) $("status").textContent = "Researching (" + event.mode + ")…";
      break;
    case "round_started": log(el("li", "round", where + "Round " + event.round)); break;
    case "model_call_finished": {
      const m = /<think>([\s\S]*?)<\/think>/.exec(event.record.output || "");
      if (m && m[1].trim()) log(el("li", "think", where + m[1].trim()));
      break;
    }
    case "tool_call_started": {
      const li = el("li", "tool", where);
      li.appendChild(el("code", "", event.name));
      li.appendChild(document.createTextNode(" " + JSON.stringify(event.arguments)));
      log(li);
      break;
    }
    case "tool_call_finished": {
      const urls = event.record.sources || [];
      if (urls.length) {
        const li = el("li", "found", "sources: ");
        urls.slice(0, 8).forEach((u) => li.appendChild(link(u)));
        log(li);
      }
      break;
    }
    case "report_updated":
      $("report-box").hidden = false; $("report").textContent = event.report; break;
    case "note": log(el("li", event.level, where + event.message)); break;
    case "job_restarted": log(el("li", "warning", "— run restarted —")); break;
    case "job_finished": finish(event); break;
  }
}

function finish(event) {
  $("status").textContent = "Job " + event.status + (event.termination ? " (" + event.termination + ")" : "") +
    (event.error ? ": " + event.error : "");
  $("cancel").disabled = true;
  if (event.answer) {
    $("answer-box").hidden = false;
    $("answer").textContent = event.answer;
    $("sources").replaceChildren(...(event.sources || []).map((u) => { const li = el("li"); li.appendChild(link(u)); return li; }));
  }
  loadRuns(true);
}

async function follow(id) {
  if (reader) reader.abort();
  reader = new AbortController();
  current = id;
  let last = 0;
  // Reconnect with Last-Event-ID until the job's last event: nothing is shown twice.
  for (let attempt = 0; attempt < 30; attempt++) {
    try {
      const res = await api("/v1/research/" + id + "/events", { signal: reader.signal, headers: last ? { "Last-Event-ID": String(last) } : {} });
      const stream = res.body.pipeThrough(new TextDecoderStream()).getReader();
      // The server ends the stream after the job's last event; an earlier job_finished
      // (a run that was re-run) is followed by more.
      let buffer = "", lastKind = "";
      for (;;) {
        const chunk = await stream.read();
        if (chunk.done) break;
        buffer += chunk.value;
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, cut); buffer = buffer.slice(cut + 2);
          let seq = 0, data = "";
          for (const line of block.split("\n")) {
            if (line.startsWith("id: ")) seq = parseInt(line.slice(4), 10);
            else if (line.startsWith("data: ")) data += line.slice(6);
          }
          if (!data) continue;
          last = seq || last;
          const event = JSON.parse(data);
          show(event);
          lastKind = event.kind;
        }
      }
      if (lastKind === "job_finished" || current !== id) return;
    } catch (e) {
      if (e.name === "AbortError") return;
      $("status").textContent = "Connection lost, retrying… (" + e.message + ")";
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

$("ask").addEventListener("submit", async (e) => {
  e.preventDefault();
  resetView();
  const body = { question: $("question").value, mode: $("mode").value, max_rounds: Number($("max-rounds").value) };
  if ($("max-seconds").value) body.max_seconds = Number($("max-seconds").value);
  try {
    const job = await (await api("/v1/research", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) })).json();
    $("cancel").disabled = false;
    $("download").href = "#";
    $("status").textContent = "Queued…";
    loadRuns(true);
    follow(job.id);
  } catch (err) { $("status").textContent = "Refused: " + err.message; }
});

$("cancel").addEventListener("click", async () => {
  if (!current) return;
  try { await api("/v1/research/" + current, { method: "DELETE" }); } catch (err) { $("status").textContent = err.message; }
});

$("download").addEventListener("click", async (e) => {
  e.preventDefault();
  if (!current) return;
  const blob = await (await api("/v1/research/" + current + "/trajectory")).blob();
  const a = el("a"); a.href = URL.createObjectURL(blob); a.download = current + ".json"; a.click();
});

async function openRun(job) {
  resetView();
  $("question").value = job.question;
  $("status").textContent = "Transcript of " + job.id + " (" + job.status + ")";
  $("cancel").disabled = !(job.status === "running" || job.status === "queued");
  follow(job.id);
}

async function rerun(job) {
  try {
    await api("/v1/research/" + job.id + "/rerun", { method: "POST" });
    await openRun(Object.assign({}, job, { status: "queued" }));
    loadRuns(true);
  } catch (err) { $("status").textContent = "Refused: " + err.message; }
}

async function loadRuns(reset) {
  if (reset) { runsOffset = 0; $("runs").replaceChildren(); }
  try {
    const page = await (await api("/v1/research?limit=20&offset=" + runsOffset)).json();
    for (const job of page.jobs) {
      const li = el("li"); const a = el("a", "run", job.question.slice(0, 80));
      a.addEventListener("click", () => openRun(job));
      li.appendChild(a); li.appendChild(el("span", "badge " + job.status, job.status));
      if (["interrupted", "failed", "cancelled"].includes(job.status)) {
        const again = el("button", "rerun", "re-run");
        again.type = "button";
        again.addEventListener("click", () => rerun(job));
        li.appendChild(again);
      }
      $("runs").appendChild(li);
    }
    runsOffset = page.next_offset || runsOffset;
    $("more").hidden = page.next_offset === null;
  } catch (err) { $("runs").replaceChildren(el("li", "", err.message)); }
}
$("refresh").addEventListener("click", () => loadRuns(true));
$("more").addEventListener("click", () => loadRuns(false));

async function loadReports() {
  try {
    const data = await (await api("/v1/reports")).json();
    $("reports").replaceChildren(...data.reports.map((name) => {
      const li = el("li"); const a = el("a", "report", name);
      a.addEventListener("click", async () => {
        $("report-frame").srcdoc = await (await api("/v1/reports/" + encodeURIComponent(name))).text();
        $("report-dialog").showModal();
      });
      li.appendChild(a); return li;
    }));
  } catch (err) { $("reports").replaceChildren(el("li", "", "none")); }
}
$("close-report").addEventListener("click", () => $("report-dialog").close());

loadRuns(true);
loadReports();
