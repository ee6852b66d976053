// captcha-keras page: read captchas, and label a folder of your own.
// Plain JavaScript, no build step, nothing from another origin. Every piece
// of text that came from a file or a model is inserted with textContent,
// never as HTML.
"use strict";

const LOW_CONFIDENCE = 0.9;
const HISTORY_KEY = "captcha-keras-history";
const HISTORY_LIMIT = 60;
const MIN_CONFIDENCE_KEY = "captcha-keras-min-confidence";
// How often the page asks how a training goes, while one runs.
const TRAIN_POLL_MS = 1000;

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
  if (result.abstained) {
    // No text to show: a withheld reading must not look like one.
    item.classList.add("abstained");
    item.append(element("div", "verdict", "Abstained"));
    item.append(element("div", "reason", result.reason || "below the minimum confidence"));
    item.append(element("div", "conf", `confidence ${percent(result.confidence)}`));
    return item;
  }
  if (result.confidence < LOW_CONFIDENCE) item.classList.add("low");
  item.append(characterSpans(result));
  if ("answer" in result) {
    // An arithmetic model: the answer is what the user types; a text that is no question gets none.
    item.append(result.answer !== null
      ? element("div", "answer", `= ${result.answer}`)
      : element("div", "answer none", `no answer: ${result.answer_reason}`));
  }
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

function percentInput(input) {
  // A percent field as a fraction: null when empty, NaN when not a percent from 0 to 100.
  const text = input.value.trim();
  if (!text && input.validity.valid) return null;
  const value = Number(text);
  if (!text || !Number.isFinite(value) || value < 0 || value > 100) return NaN;
  // 99.9 / 100 is 0.9990000000000001 in floating point: send the number a person typed.
  return Number((value / 100).toPrecision(12));
}

async function readFiles(files) {
  files = Array.from(files).filter((f) => f instanceof File);
  if (!files.length) return;
  $("read-error").hidden = true;
  const minConfidence = percentInput($("min-confidence"));
  if (Number.isNaN(minConfidence)) {
    $("read-error").textContent = "Min confidence is a percent from 0 to 100, or empty for none.";
    $("read-error").hidden = false;
    return;
  }
  const form = new FormData();
  for (const file of files) form.append("files", file, file.name || "pasted.png");
  form.append("model", $("model").value);
  if (minConfidence !== null) form.append("min_confidence", String(minConfidence));
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
        model: result.model, characters: result.characters, abstained: result.abstained, reason: result.reason,
        ...("answer" in result ? { answer: result.answer, answer_reason: result.answer_reason } : {}),
        thumb: await thumbnail(files[i]), at: Date.now() });
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
  previewAccept();
  refreshTraining();
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
  previewAccept();
}

// ---------------------------------------------------------------- accepting many readings at once

let previewAsked = 0;

async function previewAccept() {
  // Answers can arrive out of order while a person types: only the latest question's answer is shown.
  const asked = ++previewAsked;
  const button = $("accept-button");
  const threshold = percentInput($("accept-threshold"));
  if (threshold === null || Number.isNaN(threshold)) {
    button.disabled = true;
    $("accept-preview").textContent = "Give a percent from 0 to 100.";
    return;
  }
  let preview;
  try {
    preview = await api(`/label/accept-preview?min_confidence=${encodeURIComponent(threshold)}`);
  } catch (error) {
    if (asked !== previewAsked) return;
    button.disabled = true;
    $("accept-preview").textContent = error.message;
    return;
  }
  if (asked !== previewAsked) return;
  button.disabled = preview.count === 0;
  button.textContent = `Accept ${preview.count} reading${preview.count === 1 ? "" : "s"}`;
  $("accept-preview").textContent = `${preview.count} of ${preview.queued} queued readings are at or above `
    + `${percentNumber(threshold)}; the calibration expects about ${preview.expected_mistakes.toFixed(2)} `
    + `mistake${preview.expected_mistakes.toFixed(2) === "1.00" ? "" : "s"} among them.`;
}

function percentNumber(fraction) {
  return `${Number((100 * fraction).toPrecision(12))}%`;
}

async function acceptAll() {
  const threshold = percentInput($("accept-threshold"));
  if (threshold === null || Number.isNaN(threshold)) return;
  let answer;
  try {
    answer = await api("/label/accept", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ min_confidence: threshold }) });
  } catch (error) {
    message(error.message, "refused");
    return;
  }
  labelling.status = answer.status;
  await loadLabelling();
  message(`Accepted ${answer.accepted} reading${answer.accepted === 1 ? "" : "s"} at or above `
    + `${percentNumber(threshold)} as labels (about ${answer.expected_mistakes.toFixed(2)} mistakes expected).`,
  "saved");
}

// ---------------------------------------------------------------- training on the labels

const training = { state: null, timer: null, asking: false };

function describeTraining(t) {
  if (t.state === "running") {
    const where = t.epochs ? `epoch ${t.epochs}, ${t.minutes.toFixed(1)} of ${t.max_minutes} minutes`
      : `${t.elapsed_minutes.toFixed(1)} minutes in`;
    return `Training ${t.run} from ${t.from} on ${t.labels} labels: ${t.stage}, ${where}.`;
  }
  if (t.state === "finished") {
    const accuracy = t.val_seq_acc === undefined || t.val_seq_acc === null ? ""
      : `, validation accuracy ${percent(t.val_seq_acc)}`;
    return `Trained ${t.run} on ${t.labels} labels in ${t.total_minutes.toFixed(1)} minutes `
      + `(${t.epochs} epochs${accuracy}). ${t.message} The queue was read again with it.`;
  }
  if (t.state === "failed") return `Training ${t.run} failed: ${t.message} The model ${t.model} goes on labelling.`;
  return "";
}

function showTraining(t) {
  const running = t.state === "running";
  $("train-button").disabled = running;
  $("train-bar").hidden = !running;
  if (running) {
    // Time is what bounds a short fine-tune, so it is the progress shown.
    const minutes = Math.max(t.minutes || 0, t.elapsed_minutes || 0);
    $("train-bar").value = Math.min(1, minutes / t.max_minutes);
  }
  const progress = $("train-progress");
  progress.textContent = describeTraining(t);
  progress.className = `progress ${t.state}`;
  const log = $("train-log");
  log.hidden = t.state !== "failed";
  log.textContent = t.state === "failed" ? (t.log_tail || []).join("\n") : "";
}

async function refreshTraining() {
  // One question at a time: the answer in flight schedules the next one.
  if (training.asking) return;
  clearTimeout(training.timer);
  training.asking = true;
  let t;
  try {
    t = await api("/label/train");
  } catch (error) {
    $("train-progress").textContent = `Could not ask how the training goes: ${error.message}`;
    return;
  } finally {
    training.asking = false;
  }
  const was = training.state;
  training.state = t.state;
  showTraining(t);
  if (t.state === "running") {
    training.timer = setTimeout(refreshTraining, TRAIN_POLL_MS);
  } else if (was === "running" && t.state === "finished") {
    // The new model read the folder again: its queue, in its order.
    await loadLabelling();
  }
}

async function startTraining() {
  let t;
  try {
    t = await api("/label/train", { method: "POST" });
  } catch (error) {
    const progress = $("train-progress");
    progress.textContent = error.message;
    progress.className = "progress failed";
    return;
  }
  training.state = t.state;
  showTraining(t);
  training.timer = setTimeout(refreshTraining, TRAIN_POLL_MS);
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
  $("accept-threshold").addEventListener("input", previewAccept);
  $("accept-form").addEventListener("submit", (event) => {
    event.preventDefault();
    acceptAll();
  });
  $("train-button").addEventListener("click", startTraining);
  const minConfidence = $("min-confidence");
  minConfidence.value = localStorage.getItem(MIN_CONFIDENCE_KEY) || "";
  minConfidence.addEventListener("change", () => localStorage.setItem(MIN_CONFIDENCE_KEY, minConfidence.value));
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
