// The status page: renders each StatusView (core/status_view.ts) the server sends over /events.
// Text goes in with textContent only: ids, model names and reasons come from validators.
"use strict";
(() => {
  const STATES = [
    "training",
    "queued",
    "received",
    "dataset_submitted",
    "dataset_validated",
    "uploading",
    "submitting",
    "done",
    "failed",
    "rejected",
  ];
  const byId = (id) => document.getElementById(id);
  const charts = new Map(); // task id → { plot, box, observer }
  const STEP_TICKS = [1, 2, 5].flatMap((m) => [1, 10, 100, 1e3, 1e4, 1e5, 1e6].map((p) => m * p)).sort((
    a,
    b,
  ) => a - b);

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs ?? {})) {
      if (v === null || v === undefined) continue;
      if (k === "class") node.className = v;
      else node.setAttribute(k, String(v));
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  const short = (s, n = 10) => (s && s.length > n + 3 ? `${s.slice(0, n)}…` : s ?? "");
  const pct = (r) => `${Math.floor(r * 100)}%`;
  const num = (v, d = 2) => (v === null || v === undefined ? "–" : Number(v).toFixed(d));

  function duration(s) {
    if (s === null || s === undefined || !Number.isFinite(s)) return "–";
    s = Math.max(0, Math.round(s));
    if (s < 60) return `${s} s`;
    if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
    return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} min`;
  }
  const ago = (ms, now) => `${duration((now - ms) / 1000)} ago`;
  const gib = (b) => (b === null ? "–" : `${(b / 1024 ** 3).toFixed(1)}`);

  function bar(ratio, small) {
    const r = Math.max(0, Math.min(1, ratio ?? 0));
    const fill = el("span");
    fill.style.width = `${(r * 100).toFixed(1)}%`;
    return el("div", {
      class: small ? "bar small" : "bar",
      role: "progressbar",
      "aria-valuemin": 0,
      "aria-valuemax": 100,
      "aria-valuenow": (r * 100).toFixed(1),
    }, fill);
  }

  function renderIdentity(v) {
    const m = v.miner;
    const items = [
      ["hotkey", short(m.hotkey, 8), m.hotkey],
      ["uid", m.uid ?? "–"],
      ["netuid", m.netuid],
      ["stake", m.stake_tao === null ? "–" : `${num(m.stake_tao, 1)} TAO`],
      ["axon", m.axon_announced ?? m.axon_listening ?? "–", `serve_axon: ${m.axon_serve}`],
      [
        "block",
        m.block === null ? "–" : m.block,
        m.blocks_since_sync === null ? null : `${m.blocks_since_sync} blocks since the metagraph sync`,
      ],
      ["version", m.version],
    ];
    byId("identity").replaceChildren(
      ...items.map(([k, val, title]) => el("div", { title }, el("dt", {}, k), el("dd", {}, String(val)))),
    );
  }

  function renderTiles(v) {
    const tiles = STATES.filter((s) => v.tasks[s] > 0 || ["training", "queued", "done", "failed"].includes(s))
      .map((s) =>
        el(
          "div",
          { class: `tile ${s}` },
          el("div", { class: "n" }, v.tasks[s] ?? 0),
          el("div", { class: "k" }, s.replace("_", " ")),
        )
      );
    tiles.unshift(
      el(
        "div",
        { class: "tile" },
        el("div", { class: "n" }, `${v.queue.length}/${v.queue.limit}`),
        el("div", { class: "k" }, "accepted / limit"),
      ),
    );
    byId("tiles").replaceChildren(...tiles);
  }

  function renderRunning(v) {
    const box = byId("running");
    const ids = new Set(v.running.map((r) => r.id));
    for (const [id, c] of charts) {
      if (!ids.has(id)) {
        c.observer.disconnect();
        c.plot.destroy();
        charts.delete(id);
      }
    }
    if (v.running.length === 0) {
      box.replaceChildren(el("p", { class: "empty" }, "Nothing is training."));
      return;
    }
    const cards = v.running.map((r) => {
      let card = box.querySelector(`[data-task="${CSS.escape(r.id)}"]`);
      if (!card) {
        card = el("article", { class: "run", "data-task": r.id });
        card.append(
          el("div", { class: "run-head" }),
          el("div", { class: "slot-bar" }),
          el("div", { class: "facts" }),
          el("div", { class: "chart", "data-points": 0 }),
        );
      }
      card.querySelector(".run-head").replaceChildren(
        el("span", { class: "run-id" }, r.id),
        el(
          "span",
          { class: "muted" },
          [r.type, short(r.base_model ?? "", 32), `on ${r.devices.join(", ")}`].filter(Boolean).join(" · "),
        ),
      );
      card.querySelector(".slot-bar").replaceChildren(bar(r.progress));
      card.querySelector(".facts").replaceChildren(
        el("span", {}, el("b", {}, pct(r.progress)), ` ${r.step} / ${r.total || "?"} steps`),
        el("span", {}, `${num(r.steps_per_second)} step/s`),
        el("span", {}, `ETA ${duration(r.eta_s)}`),
        el("span", {}, `loss ${num(r.loss, 4)}`),
        r.eval_loss === null ? null : el("span", {}, `eval loss ${num(r.eval_loss, 4)}`),
      );
      drawChart(r, card.querySelector(".chart"));
      return card;
    });
    box.replaceChildren(...cards);
  }

  function drawChart(r, box) {
    const xs = r.loss_points.map((p) => p[0]);
    const ys = r.loss_points.map((p) => p[1]);
    box.dataset.points = String(xs.length);
    if (typeof uPlot !== "function") return;
    const data = [xs, ys];
    const width = () => Math.max(200, box.clientWidth || 400);
    let c = charts.get(r.id);
    if (!c) {
      const style = getComputedStyle(document.documentElement);
      const muted = style.getPropertyValue("--muted").trim() || "#8b97a5";
      const grid = { stroke: style.getPropertyValue("--line").trim() || "#2a323d", width: 1 };
      const plot = new uPlot(
        {
          width: width(),
          height: 160,
          scales: { x: { time: false } },
          legend: { show: false },
          cursor: { drag: { x: false, y: false } },
          series: [{ label: "step" }, {
            label: "loss",
            stroke: style.getPropertyValue("--accent").trim() || "#7c9cff",
            width: 2,
            points: { show: false },
          }],
          // Steps are whole numbers: ticks at 1, 2, 5 × 10^n only.
          axes: [{ stroke: muted, grid, ticks: grid, incrs: STEP_TICKS }, {
            stroke: muted,
            grid,
            ticks: grid,
            size: 56,
          }],
        },
        data,
        box,
      );
      const observer = new ResizeObserver(() => plot.setSize({ width: width(), height: 160 }));
      observer.observe(box);
      c = { plot, box, observer };
      charts.set(r.id, c);
    } else {
      c.plot.setData(data);
    }
  }

  function renderDevices(v) {
    const rows = v.devices.map((d) => {
      const mem = d.memory_total_bytes ? d.memory_used_bytes / d.memory_total_bytes : null;
      return el(
        "div",
        { class: d.used ? "device" : "device unused", "data-device": d.key },
        el("span", { class: "name" }, `${d.key} · ${d.name}`),
        el("span", { class: "stat" }, d.task_id ? `training ${d.task_id}` : d.used ? "idle" : "not used"),
        d.utilization === null ? null : el("span", { class: "full" }, bar(d.utilization, true)),
        el(
          "span",
          { class: "muted" },
          [
            d.utilization === null ? null : `load ${pct(d.utilization)}`,
            mem === null ? null : `mem ${gib(d.memory_used_bytes)} / ${gib(d.memory_total_bytes)} GiB`,
          ].filter(Boolean).join(" · ") || "no figures",
        ),
        el(
          "span",
          { class: "stat" },
          [
            d.temperature_c === null ? null : `${d.temperature_c} °C`,
            d.power_w === null ? null : `${Math.round(d.power_w)} W`,
          ].filter(Boolean).join(" · "),
        ),
      );
    });
    if (v.gpu_note) rows.push(el("p", { class: "empty" }, `GPU figures: ${v.gpu_note}`));
    byId("devices").replaceChildren(...rows);
  }

  function table(id, head, rows, empty) {
    const t = byId(id);
    if (rows.length === 0) {
      t.replaceChildren(el("tbody", {}, el("tr", {}, el("td", { class: "empty" }, empty))));
      return;
    }
    t.replaceChildren(el("thead", {}, el("tr", {}, head.map((h) => el("th", {}, h)))), el("tbody", {}, rows));
  }

  function renderQueue(v, now) {
    const more = v.queue.ready - v.queue.next.length;
    byId("queue-count").textContent =
      `${v.queue.ready} ready · ${v.queue.length} of ${v.queue.limit} accepted`;
    const rows = v.queue.next.map((q, i) =>
      el(
        "tr",
        { "data-task": q.id },
        el("td", {}, String(i + 1)),
        el("td", { class: "mono" }, q.id),
        el("td", {}, `${q.type} · ${short(q.base_model, 28)}`),
        el("td", { class: "mono", title: q.validator }, short(q.validator, 8)),
        el("td", {}, ago(q.received_ms, now)),
      )
    );
    if (more > 0) rows.push(el("tr", {}, el("td", { colspan: 5, class: "muted" }, `and ${more} more`)));
    table("queue", ["#", "task", "kind", "validator", "waiting"], rows, "The queue is empty.");
  }

  function renderRecent(v, now) {
    const rows = v.recent.map((t) =>
      el(
        "tr",
        { "data-task": t.id, "data-state": t.state },
        el("td", {}, el("span", { class: `badge ${t.state}` }, t.state)),
        el("td", { class: "mono" }, t.id),
        el("td", {}, `${t.type} · ${short(t.base_model, 24)}`),
        el("td", { class: "reason" }, t.state === "done" ? (t.repo ?? "") : (t.reason ?? "")),
        el("td", {}, t.loss === null ? "–" : num(t.loss, 4)),
        el("td", {}, ago(t.ended_ms, now)),
      )
    );
    table(
      "recent",
      ["state", "task", "kind", "result or reason", "loss", "ended"],
      rows,
      "No task has ended yet.",
    );
  }

  function renderLogs(v) {
    const items = v.logs.slice().reverse().map((l) =>
      el(
        "li",
        { class: l.level },
        el("span", { class: "lvl" }, l.level.toUpperCase()),
        el("span", { class: "muted" }, `${new Date(l.time_ms).toLocaleTimeString()} ${l.category}: `),
        l.message,
      )
    );
    byId("logs").replaceChildren(
      ...(items.length ? items : [el("li", { class: "empty" }, "Nothing to report.")]),
    );
  }

  function render(v) {
    const now = v.generated_ms;
    renderIdentity(v);
    renderTiles(v);
    renderRunning(v);
    renderDevices(v);
    renderQueue(v, now);
    renderRecent(v, now);
    renderLogs(v);
    byId("generated").textContent = `updated ${new Date(now).toLocaleTimeString()}`;
    document.title = v.running.length ? `${pct(v.running[0].progress)} · satori miner` : "satori miner";
  }

  function setLive(on) {
    const live = byId("live");
    live.className = on ? "live on" : "live off";
    live.textContent = on ? "live" : "reconnecting…";
  }

  function connect() {
    const events = new EventSource("events");
    events.addEventListener("open", () => setLive(true));
    events.addEventListener("error", () => setLive(false));
    events.addEventListener("message", (e) => {
      setLive(true);
      render(JSON.parse(e.data));
    });
  }

  connect();
})();
