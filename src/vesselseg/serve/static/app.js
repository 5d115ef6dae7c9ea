// vesselseg serve: the page's client of the JSON API (/api/health, /api/segment, /api/results/...).
// One request per image, one at a time; every result is drawn from the API's response, so new
// layers (arteries/veins, optic disc and zones) appear here when the API lists them.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { health: null, queue: [], running: false, batch: { total: 0, done: 0, failed: 0 }, results: [] };

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "text") node.textContent = value;
    else if (key === "class") node.className = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

function formatValue(value) {
  if (value === null || value === undefined || value === "") return "";
  if (typeof value !== "number") return String(value);
  if (Number.isInteger(value)) return String(value);
  const abs = Math.abs(value);
  return abs >= 1000 ? value.toFixed(0) : abs >= 100 ? value.toFixed(1) : String(Number(value.toPrecision(4)));
}

function megabytes(bytes) { return `${Number((bytes / 1e6).toPrecision(3))} MB`; }

// --- server state ------------------------------------------------------------------------------

async function loadHealth() {
  let health;
  try {
    const response = await fetch("/api/health");
    health = await response.json();
  } catch (err) {
    $("server-state").textContent = "the server does not answer (is vesselseg serve still running?)";
    setTimeout(loadHealth, 3000);
    return;
  }
  const first = state.health === null;
  state.health = health;
  if (first) {
    const select = $("weights");
    for (const name of health.weights) {
      const option = el("option", { value: name, text: name });
      if (name === health.default_weights) option.selected = true;
      select.append(option);
    }
    const lim = health.limits;
    $("limits").textContent =
      `JPEG, PNG, TIFF (8 or 16 bit), BMP, GIF, PPM. Limits: ${megabytes(lim.max_upload_bytes)} per file, ` +
      `${(lim.max_pixels / 1e6).toFixed(0)} megapixels, ${lim.time_limit_s} s of processing per image. ` +
      `Results are kept ${Math.round(lim.result_ttl_s / 60)} min (at most ${lim.max_results}) and ` +
      `deleted when the server stops.`;
    $("version").textContent = `vesselseg ${health.version}.`;
  }
  const words = { ready: "model ready", loading: "model loading...", busy: "processing an image",
                  stopped: "model loads with the first image" };
  $("server-state").textContent = words[health.worker] || health.worker;
  if (health.worker === "loading" || (health.worker === "busy" && !state.running)) setTimeout(loadHealth, 2000);
}

// --- queue and progress ------------------------------------------------------------------------

function addFiles(fileList) {
  const files = Array.from(fileList || []);
  if (!files.length) return;
  if (!state.running && state.queue.length === 0) state.batch = { total: 0, done: 0, failed: 0 };
  for (const file of files) {
    const card = makeCard(file.name);
    state.queue.push({ file, card });
    state.batch.total += 1;
  }
  showProgress();
  if (!state.running) runQueue();
}

function showProgress(current) {
  const b = state.batch;
  $("progress").hidden = false;
  $("progress-bar").max = Math.max(1, b.total);
  $("progress-bar").value = b.done + b.failed;
  const counts = `${b.done} done, ${b.failed} failed, of ${b.total}`;
  $("progress-text").textContent = current
    ? `Processing ${b.done + b.failed + 1} of ${b.total}: ${current} (${counts})`
    : `Finished: ${counts}`;
}

async function runQueue() {
  state.running = true;
  while (state.queue.length) {
    const job = state.queue.shift();
    showProgress(job.file.name);
    const ok = await processOne(job.file, job.card);
    if (ok) state.batch.done += 1; else state.batch.failed += 1;
  }
  state.running = false;
  showProgress();
  loadHealth();
}

function setStatus(card, status, text) {
  card.dataset.status = status;
  card.querySelector(".status").textContent = text;
}

function fail(card, message) {
  setStatus(card, "error", "failed");
  card.querySelector(".message").textContent = message;
  return false;
}

async function processOne(file, card) {
  const lim = state.health ? state.health.limits : null;
  if (file.size === 0) return fail(card, `${file.name}: file is empty (0 bytes)`);
  if (lim && file.size > lim.max_upload_bytes)
    return fail(card, `${file.name}: ${megabytes(file.size)}, larger than the upload limit of ${megabytes(lim.max_upload_bytes)}`);
  const form = new FormData();
  form.append("file", file, file.name);
  form.append("weights", $("weights").value);
  form.append("threshold", $("threshold").value);
  const started = Date.now();
  setStatus(card, "running", "processing...");
  const timer = setInterval(() => {
    setStatus(card, "running", `processing... ${Math.round((Date.now() - started) / 1000)} s`);
  }, 1000);
  let response, data;
  try {
    response = await fetch("/api/segment", { method: "POST", body: form });
    data = await response.json().catch(() => ({ error: `HTTP ${response.status} ${response.statusText}` }));
  } catch (err) {
    clearInterval(timer);
    return fail(card, `${file.name}: could not reach the server (${err.message})`);
  }
  clearInterval(timer);
  if (card.dataset.removed) {
    if (response.ok) fetch(`/api/results/${data.id}`, { method: "DELETE" }).catch(() => {});
    card.remove();
    return response.ok;
  }
  if (!response.ok) return fail(card, data.error || `HTTP ${response.status}`);
  showResult(card, data);
  return true;
}

// --- one image -------------------------------------------------------------------------------

function makeCard(name) {
  const remove = el("button", { class: "button quiet remove", type: "button", text: "Remove" });
  const card = el("article", { class: "card", "data-status": "queued" },
    el("header", {}, el("h2", { text: name, title: name }), el("span", { class: "status", text: "queued" }), remove),
    el("p", { class: "message" }));
  card.dataset.name = name;
  remove.addEventListener("click", () => removeCard(card));
  $("results").append(card);
  return card;
}

function removeCard(card) {
  const index = state.results.findIndex((r) => r.card === card);
  if (index >= 0) {
    fetch(`/api/results/${state.results[index].data.id}`, { method: "DELETE" }).catch(() => {});
    state.results.splice(index, 1);
    renderSummary();
  }
  const queued = state.queue.findIndex((job) => job.card === card);
  if (queued >= 0) { state.queue.splice(queued, 1); state.batch.total -= 1; showProgress(); }
  if (card.dataset.status === "running") card.dataset.removed = "1"; // dropped when its answer comes
  else card.remove();
}

function showResult(card, data) {
  setStatus(card, "done", `done in ${data.seconds_total.toFixed(1)} s`);
  const viewer = el("div", { class: "viewer" });
  viewer.append(el("img", { class: "photo", "data-layer": "photo", src: data.photo, alt: `photograph ${data.file_name}` }));
  const controls = el("fieldset", { class: "layers" }, el("legend", { text: "Layers over the photograph" }));
  for (const layer of data.layers) {
    const img = el("img", { class: "layer", "data-layer": layer.id, alt: layer.label });
    img.style.mixBlendMode = layer.blend || "normal";
    img.hidden = !layer.visible;
    if (layer.visible) img.src = layer.url; // hidden layers load when first shown
    viewer.append(img);
    const id = `${data.id}-${layer.id}`;
    const box = el("input", { type: "checkbox", id, "data-layer": layer.id });
    box.checked = layer.visible;
    const opacity = el("input", { type: "range", min: "0", max: "1", step: "0.05", value: "1", title: "opacity" });
    box.addEventListener("change", () => {
      if (box.checked && !img.getAttribute("src")) img.src = layer.url;
      img.hidden = !box.checked;
    });
    opacity.addEventListener("input", () => { img.style.opacity = opacity.value; });
    controls.append(el("div", { class: "layer-control" }, box, el("label", { for: id, text: layer.label }), opacity));
  }
  const fov = data.fov, scale = data.scale;
  const facts = el("p", { class: "facts", text:
    `${data.width}\u00d7${data.height} px \u00b7 FOV diameter ${formatValue(fov.diameter_px)} px (${fov.source}) \u00b7 ` +
    `scale ${formatValue(scale.factor)} (training FOV ${formatValue(scale.reference_fov_px)} px) \u00b7 ` +
    `vessels ${(100 * data.vessel_fraction).toFixed(1)}% of the FOV \u00b7 weights ${data.weights}, threshold ${data.threshold}` });
  facts.title = scale.note;
  const downloads = el("div", { class: "downloads" });
  for (const d of data.downloads) downloads.append(el("a", { href: d.url, download: d.name, title: d.label, text: d.name.slice(data.image.length + 1) }));
  const rows = el("tbody");
  for (const column of data.columns) {
    const value = data.measurements[column];
    rows.append(el("tr", { "data-column": column }, el("th", { text: column }),
      el("td", { class: typeof value === "number" ? "num" : "", text: formatValue(value) })));
  }
  const table = el("table", { class: "measurements" }, rows);
  card.append(el("div", { class: "card-body" }, viewer, el("div", { class: "side" }, controls, facts, downloads, table)));
  state.results.push({ card, data });
  renderSummary();
}

// --- all images --------------------------------------------------------------------------------

function renderSummary() {
  $("summary").hidden = state.results.length === 0;
  if (!state.results.length) return;
  const columns = state.results[0].data.columns;
  const head = el("tr", {}, ...columns.map((c) => el("th", { text: c })));
  const body = el("tbody");
  for (const { data } of state.results) {
    body.append(el("tr", {}, ...columns.map((c) => {
      const v = data.measurements[c];
      return el("td", { class: typeof v === "number" ? "num" : "", text: formatValue(v) });
    })));
  }
  const table = $("summary-table");
  table.replaceChildren(el("thead", {}, head), body);
}

async function downloadSummary() {
  // The server's own CSV of each image (same formatting as `vesselseg measure`), one header.
  const texts = [];
  for (const { data } of state.results) {
    const link = data.downloads.find((d) => d.name.endsWith("measurements.csv"));
    const response = await fetch(link.url);
    if (response.ok) texts.push((await response.text()).trimEnd().split("\n"));
  }
  if (!texts.length) return;
  const lines = [texts[0][0]];
  for (const t of texts) lines.push(...t.slice(1));
  const url = URL.createObjectURL(new Blob([lines.join("\n") + "\n"], { type: "text/csv" }));
  const a = el("a", { href: url, download: "measurements.csv" });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

// --- wiring ------------------------------------------------------------------------------------

function init() {
  const input = $("file-input");
  input.addEventListener("change", () => { addFiles(input.files); input.value = ""; });
  const zone = $("dropzone");
  for (const type of ["dragenter", "dragover"]) {
    zone.addEventListener(type, (e) => { e.preventDefault(); zone.classList.add("over"); });
  }
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    e.stopPropagation();
    zone.classList.remove("over");
    addFiles(e.dataTransfer.files);
  });
  // A file dropped beside the zone is taken too, instead of the browser opening it.
  window.addEventListener("dragover", (e) => e.preventDefault());
  window.addEventListener("drop", (e) => { e.preventDefault(); addFiles(e.dataTransfer.files); });
  $("summary-csv").addEventListener("click", downloadSummary);
  loadHealth();
}

document.addEventListener("DOMContentLoaded", init);
