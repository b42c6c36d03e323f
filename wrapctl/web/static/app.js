// wrapctl web UI: a process table fed by server-sent events, actions as POSTs with the
// page's CSRF token, and a log view that follows a process, a group or everything.
"use strict";

(function () {
  const token = document.querySelector('meta[name="csrf-token"]').content;
  // location.origin never carries user:password@, which fetch() would refuse
  const base = location.origin;
  const $ = (id) => document.getElementById(id);

  const STARTABLE = ["STOPPED", "EXITED", "FATAL", "BACKOFF"];
  const STOPPABLE = ["RUNNING", "STARTING", "BACKOFF"];
  const SIGNALLABLE = ["RUNNING", "STARTING", "STOPPING"];
  const ACTIONS = [["start", "Start"], ["stop", "Stop"], ["restart", "Restart"],
                   ["signal", "Signal…"], ["clear", "Clear"], ["tail", "Tail"]];

  let procs = new Map();     // id -> row data
  let groups = [];
  let clockSkew = 0;         // server time - browser time, seconds
  const table = $("procs");
  const bodies = new Map();  // group -> <tbody>
  const rowEls = new Map();  // id -> <tr>

  // ---- formatting --------------------------------------------------------------------
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }
  function duration(s) {
    s = Math.max(0, Math.floor(s));
    const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600);
    const m = Math.floor(s % 3600 / 60), sec = s % 60;
    const p2 = (n) => String(n).padStart(2, "0");
    if (d) return `${d}d ${h}h ${p2(m)}m`;
    if (h) return `${h}h ${p2(m)}m ${p2(sec)}s`;
    if (m) return `${m}m ${p2(sec)}s`;
    return `${sec}s`;
  }
  function bytes(n) {
    if (n === null || n === undefined) return "–";
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return `${n >= 100 || i === 0 ? n.toFixed(0) : n.toFixed(1)} ${units[i]}`;
  }
  const now = () => Date.now() / 1000 + clockSkew;

  // ---- rendering ---------------------------------------------------------------------
  function actionButtons(target, state) {
    const box = el("div", "actions");
    for (const [action, label] of ACTIONS) {
      const b = el("button", "", label);
      b.type = "button";
      b.dataset.action = action;
      b.dataset.target = target;
      box.append(b);
    }
    if (state !== undefined) setEnabled(box, state);
    return box;
  }
  function setEnabled(box, state) {
    for (const b of box.querySelectorAll("button")) {
      const a = b.dataset.action;
      b.disabled = (a === "start" && !STARTABLE.includes(state)) ||
                   (a === "stop" && !STOPPABLE.includes(state)) ||
                   (a === "signal" && !SIGNALLABLE.includes(state));
    }
  }

  function groupBody(name) {
    let tb = bodies.get(name);
    if (tb) return tb;
    tb = el("tbody");
    tb.dataset.group = name;
    const head = el("tr", "grouprow");
    const th = el("th");
    th.colSpan = 8;
    th.append(el("span", "gname", name), el("span", "gcount"));
    const td = el("td", "c-actions");
    td.append(actionButtons(`${name}:*`));
    head.append(th, td);
    tb.append(head);
    bodies.set(name, tb);
    table.append(tb);
    return tb;
  }

  function renderRow(p) {
    let tr = rowEls.get(p.id);
    if (!tr) {
      tr = el("tr", "proc");
      tr.dataset.id = p.id;
      for (const c of ["name", "state", "pid", "uptime", "exit", "cpu", "rss", "desc"]) {
        tr.append(el("td", `c-${c}`));
      }
      const td = el("td", "c-actions");
      td.append(actionButtons(p.id));
      tr.append(td);
      rowEls.set(p.id, tr);
    }
    const cells = tr.children;
    cells[0].textContent = p.name;
    cells[0].title = p.id;
    const badge = el("span", `state s-${p.state.toLowerCase()}`, p.state);
    cells[1].replaceChildren(badge);
    cells[2].textContent = p.pid ?? "–";
    cells[3].dataset.start = p.state === "RUNNING" && p.start ? p.start : "";
    cells[3].textContent = cells[3].dataset.start ? duration(now() - p.start) : "–";
    cells[4].textContent = p.exitstatus === null ? "–" : p.exitstatus === -1 ? "signal" : p.exitstatus;
    cells[4].classList.toggle("bad", p.exitstatus !== null && p.exitstatus !== 0);
    if (p.cpu === null || p.cpu === undefined || !p.pid) {
      cells[5].replaceChildren(document.createTextNode("–"));
      cells[6].textContent = "–";
    } else {
      const meter = el("span", "meter");
      const fill = el("span", "fill");
      fill.style.width = `${Math.min(100, p.cpu)}%`;
      meter.append(fill);
      cells[5].replaceChildren(el("span", "num", `${p.cpu.toFixed(1)}%`), meter);
      cells[6].textContent = bytes(p.rss) + (p.procs > 1 ? ` · ${p.procs} procs` : "");
    }
    cells[7].textContent = p.description;
    cells[7].title = p.description;
    setEnabled(cells[8].firstChild, p.state);
    tr.dataset.state = p.state;
    return tr;
  }

  function place(p, tr) {
    const tb = groupBody(p.group);
    if (tr.parentNode !== tb) tb.append(tr);
  }

  function render(snap) {
    clockSkew = snap.now - Date.now() / 1000;
    $("sup-state").textContent = snap.state;
    $("sup-state").dataset.state = snap.state;
    $("sup-pid").textContent = `pid ${snap.pid} · wrapctl ${snap.version}`;
    const seen = new Set();
    procs = new Map();
    for (const p of snap.processes) {
      procs.set(p.id, p);
      seen.add(p.id);
      place(p, renderRow(p));
    }
    for (const [id, tr] of rowEls) {
      if (!seen.has(id)) { tr.remove(); rowEls.delete(id); }
    }
    groups = snap.groups;
    for (const [name, tb] of bodies) {
      if (!groups.includes(name)) { tb.remove(); bodies.delete(name); }
    }
    // tbodies in the supervisor's group order, rows in its process order; nodes move only
    // when the order changed, so a periodic refresh never disturbs a click in progress
    reorder(table, [table.tHead, ...groups.map(groupBody)]);
    for (const name of groups) {
      const tb = groupBody(name);
      const rows = snap.processes.filter((p) => p.group === name).map((p) => rowEls.get(p.id));
      reorder(tb, [tb.querySelector(".grouprow"), ...rows]);
    }
    decorateGroups();
    summarize();
    applyFilter();
  }

  function reorder(parent, wanted) {
    const have = [...parent.children];
    if (have.length === wanted.length && have.every((n, i) => n === wanted[i])) return;
    for (const n of wanted) parent.append(n);
  }

  function update(p) {
    const known = procs.has(p.id);
    procs.set(p.id, p);
    const tr = renderRow(p);
    if (!known) place(p, tr);
    decorateGroups();
    summarize();
    applyFilter();
  }

  function decorateGroups() {
    for (const [name, tb] of bodies) {
      const members = [...procs.values()].filter((p) => p.group === name);
      // a group of one process named like it is just that process: no group row
      const solo = members.length === 1 && members[0].name === name;
      tb.querySelector(".grouprow").hidden = solo;
      const running = members.filter((p) => p.state === "RUNNING").length;
      tb.querySelector(".gcount").textContent = `${running}/${members.length} running`;
      tb.classList.toggle("solo", solo);
    }
  }

  function summarize() {
    const counts = {};
    for (const p of procs.values()) counts[p.state] = (counts[p.state] || 0) + 1;
    const box = $("summary");
    box.replaceChildren();
    box.append(el("strong", "", `${procs.size} process${procs.size === 1 ? "" : "es"}`));
    for (const [state, n] of Object.entries(counts).sort()) {
      box.append(el("span", `state s-${state.toLowerCase()}`, `${n} ${state}`));
    }
    $("empty").hidden = procs.size !== 0;
  }

  function applyFilter() {
    const q = $("filter").value.trim().toLowerCase();
    for (const [id, tr] of rowEls) {
      const p = procs.get(id);
      tr.hidden = q !== "" && !`${p.id} ${p.state} ${p.description}`.toLowerCase().includes(q);
    }
  }
  $("filter").addEventListener("input", applyFilter);

  setInterval(() => {        // uptimes tick in the browser; the daemon is not asked
    for (const td of table.querySelectorAll("td.c-uptime")) {
      if (td.dataset.start) td.textContent = duration(now() - Number(td.dataset.start));
    }
  }, 1000);

  // ---- live updates ------------------------------------------------------------------
  function setConn(node, state, text) {
    node.dataset.state = state;
    node.textContent = text;
  }
  function connect() {
    const es = new EventSource(`${base}/ui/events`);
    es.addEventListener("open", () => {
      setConn($("conn"), "live", "live");
      $("conn").dataset.connects = Number($("conn").dataset.connects || 0) + 1;
    });
    es.addEventListener("error", () => setConn($("conn"), "down", "reconnecting"));
    es.addEventListener("snapshot", (e) => render(JSON.parse(e.data)));
    es.addEventListener("process", (e) => update(JSON.parse(e.data)));
  }

  // ---- actions -------------------------------------------------------------------------
  function toast(text, bad) {
    const t = el("div", bad ? "toast bad" : "toast", text);
    const box = $("toasts");
    box.append(t);
    while (box.children.length > 4) box.firstChild.remove();
    setTimeout(() => t.remove(), bad ? 8000 : 3000);
  }

  async function act(action, target, signal) {
    const body = { action, target };
    if (signal) body.signal = signal;
    let reply;
    try {
      const r = await fetch(`${base}/ui/action`, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": token },
        body: JSON.stringify(body),
      });
      const text = await r.text();
      if (!r.ok) {
        let msg = text.trim();
        try { msg = JSON.parse(text).error || msg; } catch (_) { /* plain text */ }
        toast(`${action} ${target}: ${msg} (HTTP ${r.status})`, true);
        return;
      }
      reply = JSON.parse(text);
    } catch (err) {
      toast(`${action} ${target}: ${err}`, true);
      return;
    }
    const bad = reply.results.filter((r) => !r.ok);
    for (const r of bad) toast(`${action} ${r.name}: ${r.message}`, true);
    if (!bad.length) {
      const n = reply.results.length;
      toast(`${action} ${target === "*" ? "all" : target}: ${n === 1 ? "OK" : `${n} OK`}`);
    }
  }

  let sigTarget = null;
  document.addEventListener("click", (e) => {
    const b = e.target.closest("button[data-action]");
    if (!b || b.disabled) return;
    const { action, target } = b.dataset;
    if (action === "tail") { openLog(target); return; }
    if (action === "signal") {
      sigTarget = target;
      $("sigtarget").textContent = target === "*" ? "every process" : target;
      $("sigdialog").showModal();
      return;
    }
    act(action, target);
  });
  $("sigsend").addEventListener("click", () => {
    $("sigdialog").close();
    act("signal", sigTarget, $("signame").value);
  });
  $("sigcancel").addEventListener("click", () => $("sigdialog").close());

  // ---- log view ----------------------------------------------------------------------
  const MAX_LOG = 400000;    // characters kept in the view
  let logStream = null;
  let logTarget = null;

  function openLog(target) {
    logTarget = target;
    $("logpanel").hidden = false;
    document.body.classList.add("with-log");
    $("logtitle").textContent = target === "*" ? "All processes"
      : target.endsWith(":*") ? `Group ${target.slice(0, -2)}` : target;
    history.replaceState(null, "", `#tail=${encodeURIComponent(target)}`);
    followLog();
  }
  function followLog() {
    if (logStream) logStream.close();
    const pre = $("logtext");
    pre.textContent = "";
    const q = new URLSearchParams({ target: logTarget, channel: $("logchannel").value });
    const es = new EventSource(`${base}/ui/log?${q}`);
    logStream = es;
    es.addEventListener("open", () => {
      setConn($("logstate"), "live", "following");
      pre.textContent = "";  // each connection starts with the end of the file again
    });
    es.addEventListener("error", () => setConn($("logstate"), "down", "reconnecting"));
    es.addEventListener("log", (e) => appendLog(JSON.parse(e.data)));
    es.addEventListener("note", (e) => {
      pre.append(el("span", "lognote", `— ${JSON.parse(e.data)} —\n`));
    });
  }
  function appendLog(text) {
    if (!text) return;
    const pre = $("logtext");
    pre.append(document.createTextNode(text));
    if (pre.textContent.length > MAX_LOG) {
      pre.textContent = pre.textContent.slice(-MAX_LOG * 0.8);
    }
    if ($("logfollow").checked) pre.scrollTop = pre.scrollHeight;
  }
  function closeLog() {
    if (logStream) logStream.close();
    logStream = null;
    $("logpanel").hidden = true;
    document.body.classList.remove("with-log");
    history.replaceState(null, "", location.pathname);
  }
  $("logchannel").addEventListener("change", followLog);
  $("logclear").addEventListener("click", () => { $("logtext").textContent = ""; });
  $("logclose").addEventListener("click", closeLog);

  connect();
  const m = location.hash.match(/^#tail=(.+)$/);
  if (m) openLog(decodeURIComponent(m[1]));
})();
