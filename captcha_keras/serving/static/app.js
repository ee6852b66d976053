// captcha-keras page: read captchas, and label a folder of your own.
// Plain JavaScript, no build step, nothing from another origin. Every piece
// of text that came from a file or a model is inserted with textContent,
// never as HTML.
"use strict";

const LOW_CONFIDENCE = 0.9;
const HISTORY_KEY = "captcha-keras-history";
const HISTORY_LIMIT = 60;

const $ = (id) => document.getElementById(id);
let models = [];

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function percent(value) {
  return `${(100 * value).toFixed(1)}%`;
}

async function api(path, options) {
  const response = await fetch(path, options);
  let body = null;
  try {
    body = await response.json();
  } catch (error) {
    body = null;
  }
  if (!response.ok) {
    const message = body && body.error ? body.error.message : `HTTP ${response.status}`;
    const failure = new Error(message);
    failure.status = response.status;
    failure.body = body;
    throw failure;
  }
  return body;
}

// ---------------------------------------------------------------- models

function currentModel() {
  return models.find((m) => m.name === $("model").value);
}

function describeModel() {
  const model = currentModel();
  if (!model) return;
  const accuracy = model.metrics && model.metrics.sequence_accuracy !== undefined
    ? `, shipped accuracy ${percent(model.metrics.sequence_accuracy)}` : "";
  const lengths = model.min_length === model.max_length ? `${model.max_length}` : `${model.min_length}-${model.max_length}`;
  $("model-info").textContent = `${model.family}, ${model.width}x${model.height} ${model.channels === 1 ? "grayscale" : "RGB"}, `
    + `${lengths} characters of ${model.charset}${accuracy}`;
}

async function loadModels() {
  const answer = await api("/models");
  models = answer.models;
  const select = $("model");
  select.replaceChildren();
  for (const model of models) {
    const option = element("option", null, model.name);
    option.value = model.name;
    select.append(option);
  }
  const saved = localStorage.getItem("captcha-keras-model");
  select.value = models.some((m) => m.name === saved) ? saved : answer.default;
  describeModel();
}

// ---------------------------------------------------------------- reading

function characterSpans(reading) {
  const text = element("div", "text");
  for (const c of reading.characters) {
    const span = element("span", "char" + (c.confidence < LOW_CONFIDENCE ? " unsure" : ""), c.char);
    span.tabIndex = 0;
    const others = c.alternatives.map((a) => `${a.char} ${percent(a.confidence)}`).join("\n");
    const tip = element("span", "tip", `${c.char}: ${percent(c.confidence)}\n${others}`);
    tip.setAttribute("role", "tooltip");
    span.setAttribute("aria-label", `${c.char}, ${percent(c.confidence)}; alternatives ${others.replaceAll("\n", ", ")}`);
    span.append(tip);
    text.append(span);
  }
  return text;
}

function card(name, imageUrl, result) {
  const item = element("li", "card");
  item.dataset.file = name;
  if (imageUrl) {
    const image = element("img");
    image.alt = `captcha ${name}`;
    // A file the browser cannot show either leaves no broken-image icon.
    image.addEventListener("error", () => image.remove());
    image.src = imageUrl;
    item.append(image);
  }
  item.append(element("div", "name", name));
  if (result.error) {
    item.classList.add("failed");
    item.append(element("div", "card-error", result.error.message));
    return item;
  }
  if (result.confidence < LOW_CONFIDENCE) item.classList.add("low");
  item.append(characterSpans(result));
  item.append(element("div", "conf", `confidence ${percent(result.confidence)}`
    + (result.confidence < LOW_CONFIDENCE ? " (low)" : "")));
  return item;
}

async function thumbnail(file) {
  // A small PNG data URL for the history, so that it fits the browser's storage.
  try {
    const bitmap = await createImageBitmap(file);
    const scale = Math.min(1, 160 / bitmap.width, 60 / bitmap.height);
    const canvas = document.createElement("canvas");
    canvas.width = Math.max(1, Math.round(bitmap.width * scale));
    canvas.height = Math.max(1, Math.round(bitmap.height * scale));
    canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    return canvas.toDataURL("image/png");
  } catch (error) {
    return "";
  }
}

async function readFiles(files) {
  files = Array.from(files).filter((f) => f instanceof File);
  if (!files.length) return;
  $("read-error").hidden = true;
  const form = new FormData();
  for (const file of files) form.append("files", file, file.name || "pasted.png");
  form.append("model", $("model").value);
  let results;
  try {
    results = (await api("/predict", { method: "POST", body: form })).results;
  } catch (error) {
    // Every image failed (or the request did): the answer still says why, per image.
    results = error.body && error.body.error && error.body.error.results;
    if (!results) {
      $("read-error").textContent = `Could not read: ${error.message}`;
      $("read-error").hidden = false;
      return;
    }
  }
  const list = $("results");
  for (let i = 0; i < files.length; i++) {
    const result = results[i];
    list.prepend(card(files[i].name || "pasted.png", URL.createObjectURL(files[i]), result));
    if (!result.error) {
      addHistory({ file: files[i].name || "pasted.png", text: result.text, confidence: result.confidence,
        model: result.model, characters: result.characters, thumb: await thumbnail(files[i]), at: Date.now() });
    }
  }
  const failed = results.filter((r) => r.error).length;
  if (failed) {
    $("read-error").textContent = `${failed} of ${files.length} file(s) could not be read: see the red cards.`;
    $("read-error").hidden = false;
  }
}

// ---------------------------------------------------------------- history

function history() {
  try {
    return JSON.parse(localStorage.getItem(HISTORY_KEY) || "[]");
  } catch (error) {
    return [];
  }
}

function addHistory(entry) {
  const entries = [entry, ...history()].slice(0, HISTORY_LIMIT);
  for (let keep = entries.length; keep > 0; keep--) {
    try {
      localStorage.setItem(HISTORY_KEY, JSON.stringify(entries.slice(0, keep)));
      break;
    } catch (error) {
      // Storage full: keep fewer entries.
    }
  }
  renderHistory();
}

function renderHistory() {
  const list = $("history");
  list.replaceChildren();
  for (const entry of history()) {
    const item = card(entry.file, entry.thumb || "", entry);
    item.append(element("div", "name", `${entry.model}, ${new Date(entry.at).toLocaleString()}`));
    list.append(item);
  }
}

// ---------------------------------------------------------------- labelling

const labelling = { queue: [], index: 0, status: null, charset: "" };

function labelItem() {
  return labelling.queue[labelling.index];
}

function showProgress() {
  const s = labelling.status;
  $("label-progress").textContent = `${s.labelled} of ${s.total} labelled; the model (${s.model}) had `
    + `${s.model_right} of ${s.labelled} right` + (s.read ? "" : " (reading the folder...)");
  $("label-file").textContent = s.labels_file;
}

function showLabelItem() {
  const item = labelItem();
  const input = $("label-text");
  if (!item) {
    $("label-image").removeAttribute("src");
    $("label-caption").textContent = "Every image of the folder is labelled.";
    input.value = "";
    input.disabled = true;
    // A disabled field loses the focus, and keys pressed on the page body would
    // never reach this panel: Back keeps PageUp working after the last skip.
    $("label-back").focus();
    return;
  }
  input.disabled = false;
  $("label-image").src = `/label/image/${encodeURIComponent(item.file)}`;
  const reading = item.text ? `model: ${item.text} (${percent(item.confidence)})` : `model: ${item.error || "no reading"}`;
  $("label-caption").textContent = `${labelling.index + 1} of ${labelling.queue.length} to do: ${item.file}; ${reading}`;
  input.value = item.text || "";
  input.focus();
  input.select();
}

async function loadLabelling() {
  let status;
  try {
    status = await api("/label/status");
  } catch (error) {
    $("label-off").hidden = false;
    $("label-on").hidden = true;
    return;
  }
  $("label-off").hidden = true;
  $("label-on").hidden = false;
  labelling.status = status;
  labelling.charset = status.charset || "";
  showProgress();
  if (!status.read) {
    setTimeout(loadLabelling, 500);
    return;
  }
  labelling.queue = (await api("/label/queue")).queue;
  labelling.index = 0;
  showLabelItem();
}

function message(text, kind) {
  const node = $("label-message");
  node.textContent = text;
  node.className = `message ${kind || ""}`;
}

async function saveLabel() {
  const item = labelItem();
  if (!item) return;
  const label = $("label-text").value.trim();
  if (!label) {
    message("Type the label first (or skip with PageDown).", "refused");
    return;
  }
  try {
    labelling.status = await api("/label", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ file: item.file, label }) });
  } catch (error) {
    message(error.message, "refused");
    return;
  }
  item.saved = label;
  message(`Saved ${item.file}: ${label}`, "saved");
  showProgress();
  labelling.index += 1;
  showLabelItem();
}

function move(step) {
  labelling.index = Math.max(0, Math.min(labelling.queue.length, labelling.index + step));
  message(step > 0 ? "Skipped." : "Back.");
  showLabelItem();
  const item = labelItem();
  if (item && item.saved) $("label-text").value = item.saved;
}

function refuseOutsideCharset(event) {
  // Characters the model cannot read are refused as they are typed; a letter
  // of the wrong case is taken in the case the charset has.
  if (!labelling.charset || !event.data || event.inputType !== "insertText") return;
  const input = event.target;
  let accepted = "";
  for (const ch of event.data) {
    if (labelling.charset.includes(ch)) accepted += ch;
    else if (labelling.charset.includes(ch.toUpperCase())) accepted += ch.toUpperCase();
    else if (labelling.charset.includes(ch.toLowerCase())) accepted += ch.toLowerCase();
    else {
      message(`'${ch}' is not a character of this model (${labelling.charset}).`, "refused");
    }
  }
  if (accepted !== event.data) {
    event.preventDefault();
    if (accepted) input.setRangeText(accepted, input.selectionStart, input.selectionEnd, "end");
  }
}

// ---------------------------------------------------------------- tabs and wiring

function selectTab(name) {
  for (const tab of ["read", "label"]) {
    const selected = tab === name;
    $(`tab-${tab}`).setAttribute("aria-selected", String(selected));
    $(`tab-${tab}`).tabIndex = selected ? 0 : -1;
    $(`panel-${tab}`).hidden = !selected;
  }
  // The model switch is for reading; labelling uses the service's --label-model.
  document.querySelector(".model").hidden = name === "label";
  $("model-info").hidden = name === "label";
  if (name === "label") loadLabelling();
}

function wire() {
  $("tab-read").addEventListener("click", () => selectTab("read"));
  $("tab-label").addEventListener("click", () => selectTab("label"));
  document.querySelector("nav").addEventListener("keydown", (event) => {
    if (event.key === "ArrowRight" || event.key === "ArrowLeft") {
      const next = $("tab-read").getAttribute("aria-selected") === "true" ? "label" : "read";
      selectTab(next);
      $(`tab-${next}`).focus();
    }
  });
  $("model").addEventListener("change", () => {
    localStorage.setItem("captcha-keras-model", $("model").value);
    describeModel();
  });
  $("files").addEventListener("change", (event) => {
    readFiles(event.target.files);
    event.target.value = "";
  });
  const drop = $("drop");
  drop.addEventListener("dragover", (event) => {
    event.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    readFiles(event.dataTransfer.files);
  });
  drop.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      $("files").click();
    }
  });
  document.addEventListener("paste", (event) => {
    if ($("panel-read").hidden) return;
    const files = Array.from(event.clipboardData.items || []).filter((i) => i.kind === "file")
      .map((i) => i.getAsFile());
    if (files.length) readFiles(files);
  });
  $("clear-history").addEventListener("click", () => {
    localStorage.removeItem(HISTORY_KEY);
    renderHistory();
  });
  $("label-form").addEventListener("submit", (event) => {
    event.preventDefault();
    saveLabel();
  });
  $("label-text").addEventListener("beforeinput", refuseOutsideCharset);
  $("label-back").addEventListener("click", () => move(-1));
  $("label-skip").addEventListener("click", () => move(1));
  $("panel-label").addEventListener("keydown", (event) => {
    if (event.key === "PageDown" || (event.altKey && event.key === "ArrowRight")) {
      event.preventDefault();
      move(1);
    } else if (event.key === "PageUp" || (event.altKey && event.key === "ArrowLeft")) {
      event.preventDefault();
      move(-1);
    }
  });
}

wire();
renderHistory();
loadModels().catch((error) => {
  $("model-info").textContent = `Could not load the models: ${error.message}`;
});
