// The page of GET /: sends a slice (POST /analyze) or a volume (POST /volume) to this service and
// shows its answer. Plain JavaScript, no library; every request goes to the page's own origin, by
// URLs relative to the page.
"use strict";

const $ = (id) => document.getElementById(id);

const state = {
  config: null,      // GET web/config: API key, upload limits (null until it has answered)
  ready: false,
  files: null,       // the files of the last request, for "Analyse again" and the .nii.gz download
  answer: null,      // the last JSON answer
  volumeMasks: [],   // the last volume answer's per-slice COCO RLE masks
  pending: false,    // the last request met 503 (loading): send again once ready
};

// ---------------------------------------------------------------- requests

function headers() {
  const h = {};
  const key = $("api-key").value.trim();
  if (state.config && state.config.api_key_required && key) h[state.config.api_key_header] = key;
  return h;
}

async function post(url, field, files) {
  const form = new FormData();
  for (const f of files) form.append(field, f, f.name);
  return fetch(url, { method: "POST", body: form, headers: headers() });
}

async function failure(response) {
  let detail = null;
  try { detail = (await response.json()).detail; } catch (e) { /* not JSON */ }
  return { status: response.status, detail };
}

// ---------------------------------------------------------------- errors in plain words

function detailText(detail) {
  if (detail == null) return "";
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) return detail.map((d) => d.msg || JSON.stringify(d)).join("; ");
  return JSON.stringify(detail);
}

function explain(status, detail) {
  const text = detailText(detail);
  const limit = state.files ? uploadLimit(state.files) : null;
  switch (status) {
    case 401: return "This service needs an API key: enter a valid key above, then press “Analyse again”.";
    case 413: return /pixels/.test(text)
      ? "The image has too many pixels for one request."
      : "The file is too large: this service accepts at most "
        + (limit ? `${sizeText(limit)} per ${isVolume(state.files) ? "volume" : "request"}.`
          : "a smaller one.");
    case 415: return "This file is not an image the service can read. Send a PNG, JPEG, TIFF or DICOM slice, "
      + "or a NIfTI volume or the files of one DICOM series.";
    case 422: return "The service could not use this file: " + (text || "it was refused.");
    case 503: return /could not be loaded/.test(text)
      ? "The service's models could not be loaded: ask its administrator to check the service log."
      : "The models are still loading. Your file will be analysed as soon as they are ready.";
    case 0: return "The service could not be reached.";
    default: return `The service answered with an error (HTTP ${status}).`;
  }
}

function sizeText(bytes) {
  if (bytes >= 1048576) return `${(bytes / 1048576).toFixed(0)} MiB`;
  return bytes >= 1024 ? `${(bytes / 1024).toFixed(0)} KiB` : `${bytes} bytes`;
}

function showError(status, detail) {
  $("error-text").textContent = explain(status, detail);
  const text = detailText(detail);
  $("error-detail").textContent = text ? `HTTP ${status}: ${text}` : (status ? `HTTP ${status}` : "");
  $("error").hidden = false;
  $("result").hidden = true;  // an earlier answer is not this file's
}

function clearError() { $("error").hidden = true; }

// ---------------------------------------------------------------- service state

async function loadConfig() {
  try {
    const r = await fetch("web/config");
    if (r.ok) state.config = await r.json();
  } catch (e) { /* unreachable: pollReady says so */ }
  if (!state.config) return;
  $("key-header").textContent = state.config.api_key_header;
  $("key-section").hidden = !state.config.api_key_required;
  const saved = sessionStorage.getItem("mri-api-key");
  if (saved) $("api-key").value = saved;
}

async function pollReady() {
  try {
    const r = await fetch("v2/health/ready");
    if (r.ok) {
      setStatus("ready", "Ready: the models are loaded.");
      state.ready = true;
      if (state.pending && state.files) { state.pending = false; analyse(state.files); }
      return;
    }
    const live = await fetch("v2/health/live");
    if (live.status === 503) {
      setStatus("failed", "The models could not be loaded: the service cannot answer. Check the service log.");
      return;
    }
    setStatus("loading", "The models are loading… (the page will tell you when they are ready)");
  } catch (e) {
    setStatus("failed", "The service cannot be reached.");
  }
  state.ready = false;
  setTimeout(pollReady, 1000);
}

function retryWhenReady(detail) {
  // 503 while the models load: send the files again once /v2/health/ready says so.
  if (/could not be loaded/.test(detailText(detail))) return;
  state.pending = true;
  if (state.ready) { state.ready = false; pollReady(); }  // it was ready before: watch again
}

function setStatus(kind, text) {
  $("status").className = "status " + kind;
  $("status").textContent = text;
}

// ---------------------------------------------------------------- choosing files

function isVolume(files) {
  // A volume: several files (a DICOM series), a NIfTI file or a zip; anything else is one slice.
  return files.length > 1 || /\.(nii|nii\.gz|zip)$/i.test(files[0].name);
}

function uploadLimit(files) {
  // The request body limit of the endpoint these files go to (null before web/config has answered).
  if (!state.config) return null;
  return isVolume(files) ? state.config.max_volume_upload_bytes : state.config.max_upload_bytes;
}

function analyse(files) {
  files = Array.from(files);
  if (!files.length) return;
  state.files = files;
  const volume = isVolume(files);  // first what it is, then the limit of where it goes
  const bytes = files.reduce((n, f) => n + f.size, 0);
  const limit = uploadLimit(files);
  if (limit != null && bytes > limit) {
    // Clearly over the limit: say so without sending it (the service would refuse it with 413).
    const per = volume ? "volume" : "request";
    return showError(413, `${bytes} bytes; this service takes at most ${limit} bytes per ${per}`);
  }
  return run(() => (volume ? analyseVolume(files) : analyseSlice(files[0])));
}

async function answerOf(response) {
  // The JSON answer of an analysis request, or null once its error is shown (503 while the models
  // load: the files are sent again once they are ready).
  if (!response.ok) {
    const f = await failure(response);
    if (f.status === 503) retryWhenReady(f.detail);
    showError(f.status, f.detail);
    return null;
  }
  state.pending = false;
  state.answer = await response.json();
  return state.answer;
}

async function run(task) {
  clearError();
  $("busy").hidden = false;
  try { await task(); } catch (e) { showError(0, String(e)); } finally { $("busy").hidden = true; }
}

// ---------------------------------------------------------------- one slice

async function analyseSlice(file) {
  const [preview, answer] = await Promise.all([
    post("preview", "file", [file]),
    post("analyze?mask_format=png", "file", [file]),
  ]);
  if (!preview.ok) { const f = await failure(preview); return showError(f.status, f.detail); }
  const image = await createImageBitmap(await preview.blob());
  const analysis = await answerOf(answer);
  if (analysis) await showSlice(file.name, image, analysis);
}

async function showSlice(name, image, answer) {
  drawImage(image);
  const seg = answer.segmentation;
  const mask = seg ? await pngMaskBits(seg.mask) : null;
  drawMask(mask, image.width, image.height);
  $("caption").textContent = "The slice as the models read it (pre-contrast, FLAIR, post-contrast as red, "
    + "green, blue; a grey upload is FLAIR)" + (seg ? ", the tumour mask in red." : "; no tumour mask.");
  const c = answer.classification;
  $("file-name").textContent = name;
  setVerdict(c.has_tumour);
  const rows = [
    ["Tumour probability", `${c.tumour_probability.toFixed(5)} (tumour at ${c.threshold.toFixed(3)} or more)`],
    ["Tumour area", seg ? `${seg.tumour_pixels.toLocaleString("en")} pixels (${(100 * seg.tumour_fraction).toFixed(2)} % of the slice)`
      : "no mask: the classifier found no tumour"],
    ["Tumour area in mm²", seg && seg.tumour_area_mm2 != null ? `${seg.tumour_area_mm2.toFixed(1)} mm²`
      : "unknown: the file gives no pixel spacing (DICOM does)"],
    ["Image", `${image.width} × ${image.height} pixels`],
    ["Classifier", `${c.model.name} ${c.model.version}`],
    ["Segmenter", seg ? `${seg.model.name} ${seg.model.version} (pixel threshold ${seg.threshold})` : "not run (negative slice)"],
  ];
  rows.push(["Read as", answer.sequences]);
  setFacts(rows);
  $("download-mask").hidden = false;
  $("download-mask").disabled = !seg;
  $("download-nifti").hidden = true;
  $("volume-controls").hidden = true;
  $("result").hidden = false;
}

function setVerdict(tumour) {
  $("verdict").textContent = tumour ? "Tumour found" : "No tumour found";
  $("verdict").className = "verdict " + (tumour ? "tumour" : "clear");
}

function setFacts(rows) {
  const body = $("facts");
  body.replaceChildren(...rows.map(([k, v]) => {
    const tr = document.createElement("tr");
    const th = document.createElement("th"); th.textContent = k;
    const td = document.createElement("td"); td.textContent = v;
    tr.append(th, td);
    return tr;
  }));
}

// ---------------------------------------------------------------- drawing

function drawImage(image) {
  const canvas = $("image");
  canvas.width = image.width; canvas.height = image.height;
  canvas.getContext("2d").drawImage(image, 0, 0);
}

function drawBlank(width, height) {
  const canvas = $("image");
  canvas.width = width; canvas.height = height;
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#000"; ctx.fillRect(0, 0, width, height);
}

function drawMask(bits, width, height) {
  // bits: Uint8Array of width*height (row-major, 1 = tumour) or null. Tumour pixels in red.
  const canvas = $("overlay");
  canvas.width = width; canvas.height = height;
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, width, height);
  if (!bits) return;
  const data = ctx.createImageData(width, height);
  for (let i = 0; i < bits.length; i++) {
    if (bits[i]) { data.data[4 * i] = 255; data.data[4 * i + 1] = 32; data.data[4 * i + 2] = 32; data.data[4 * i + 3] = 255; }
  }
  ctx.putImageData(data, 0, 0);
}

function base64Bytes(text) {
  return Uint8Array.from(atob(text), (ch) => ch.charCodeAt(0));
}

async function pngMaskBits(mask) {
  // The service's PNG mask (0 / 255 grey) -> row-major bits.
  const bitmap = await createImageBitmap(new Blob([base64Bytes(mask.data)], { type: "image/png" }));
  const canvas = document.createElement("canvas");
  canvas.width = bitmap.width; canvas.height = bitmap.height;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(bitmap, 0, 0);
  const rgba = ctx.getImageData(0, 0, bitmap.width, bitmap.height).data;
  const bits = new Uint8Array(bitmap.width * bitmap.height);
  for (let i = 0; i < bits.length; i++) bits[i] = rgba[4 * i] > 127 ? 1 : 0;
  return bits;
}

function rleBits(rle) {
  // COCO uncompressed RLE (column-major runs, background first) -> row-major bits.
  const [height, width] = rle.size;
  const bits = new Uint8Array(height * width);
  let pos = 0;
  rle.counts.forEach((run, k) => {
    if (k % 2 === 1) {
      for (let p = pos; p < pos + run; p++) bits[(p % height) * width + Math.floor(p / height)] = 1;
    }
    pos += run;
  });
  return bits;
}

// ---------------------------------------------------------------- downloads

function save(blob, name) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}

function stem() {
  return state.files ? state.files[0].name.replace(/(\.nii)?\.[^.]+$/i, "") : "answer";
}

function saveMaskPng() {
  const seg = state.answer && state.answer.segmentation;
  if (seg) save(new Blob([base64Bytes(seg.mask.data)], { type: "image/png" }), `${stem()}_mask.png`);
}

function saveJson() {
  if (!state.answer) return;
  save(new Blob([JSON.stringify(state.answer, null, 2)], { type: "application/json" }),
    `${stem()}.${state.answer.per_slice ? "volume" : "analysis"}.json`);
}

// ---------------------------------------------------------------- volumes (POST /volume)

function volumeField(files) {
  // POST /volume takes one file (NIfTI, zip) as `file`, the DICOM files of a series as `files`.
  return files.length === 1 ? "file" : "files";
}

async function analyseVolume(files) {
  const volume = await answerOf(await post("volume?mask_format=rle", volumeField(files), files));
  if (volume) showVolume(files, volume);
}

function showVolume(files, v) {
  state.volumeMasks = v.mask.slices;  // asked for as mask_format=rle
  const n = v.per_slice.length;
  $("slice").max = String(Math.max(0, n - 1));
  $("slice").value = String(v.tumour_slices.length ? v.tumour_slices[0] : 0);
  $("file-name").textContent = files.length > 1 ? `${files.length} files (${files[0].name}, …)` : files[0].name;
  setVerdict(v.tumour_slices.length > 0);
  const ml = v.tumour_volume_ml;
  const spacing = v.spacing_mm ? v.spacing_mm.map((s) => Number(s).toFixed(2)).join(" × ") + " mm" : "unknown";
  setFacts([
    ["Tumour volume", ml != null ? `${ml.toFixed(2)} mL` : "unknown: the file gives no voxel size"],
    ["Tumour voxels", v.tumour_voxels.toLocaleString("en")],
    ["Tumour slices", v.tumour_slices.length ? `${v.tumour_slices.length} of ${n}: ${v.tumour_slices.join(", ")}` : `none of ${n}`],
    ["Volume", `${v.shape.join(" × ")} (slices × height × width), spacing ${spacing}`],
    ["Read as", v.sequences],
    ["Models", `classifier: ${modelText(v.model.classifier)}; segmenter: ${modelText(v.model.segmenter)}`],
  ]);
  $("download-mask").hidden = true;
  $("download-nifti").hidden = false;
  $("download-nifti").disabled = false;
  $("volume-controls").hidden = false;
  $("result").hidden = false;
  showVolumeSlice();
}

function modelText(model) {
  return `${model.name} ${model.version}`;
}

function showVolumeSlice() {
  const v = state.answer;
  if (!v || !v.per_slice) return;
  const i = Number($("slice").value);
  const s = v.per_slice[i];
  const [, height, width] = v.shape;
  drawBlank(width, height);
  $("caption").textContent = "Slice " + i + ": the tumour mask in red on black.";
  const rle = state.volumeMasks[i];
  drawMask(rle ? rleBits(rle) : null, rle ? rle.size[1] : width, rle ? rle.size[0] : height);
  $("slice-label").textContent = `${i} (0–${v.per_slice.length - 1}): p = ${(100 * s.tumour_probability).toFixed(1)} %, `
    + `${s.tumour_pixels.toLocaleString("en")} tumour pixels`
    + `${v.tumour_slices.includes(s.index) ? " (tumour slice)" : ""}`;
  drawStrip(i);
}

function drawStrip(current) {
  // One bar per slice: height = tumour probability; tumour slices (a mask drawn) red and at least a
  // quarter high, so that a masked slice the classifier doubts still shows; the shown slice outlined.
  const v = state.answer;
  const canvas = $("strip");
  const ctx = canvas.getContext("2d");
  const n = v.per_slice.length;
  const w = canvas.width / n;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const tumour = new Set(v.tumour_slices);
  v.per_slice.forEach((s, i) => {
    const marked = tumour.has(s.index);
    const h = Math.max(marked ? canvas.height / 4 : 1, s.tumour_probability * (canvas.height - 4));
    ctx.fillStyle = marked ? "#d0302a" : "#9aa4b2";
    ctx.fillRect(i * w, canvas.height - h, Math.max(1, w - 1), h);
  });
  ctx.strokeStyle = "#1f5fa8"; ctx.lineWidth = 2;
  ctx.strokeRect(current * w + 1, 1, Math.max(2, w - 2), canvas.height - 2);
}

async function saveNifti() {
  if (!state.files) return;
  $("download-nifti").disabled = true;
  await run(async () => {
    const r = await post("volume?mask_format=nifti", volumeField(state.files), state.files);
    if (!r.ok) { const f = await failure(r); return showError(f.status, f.detail); }
    const mask = (await r.json()).mask;  // {format: "nifti", data: base64 of the .nii.gz}
    save(new Blob([base64Bytes(mask.data)], { type: "application/gzip" }), `${stem()}_mask.nii.gz`);
  });
  $("download-nifti").disabled = false;
}

// ---------------------------------------------------------------- wiring

function wire() {
  const drop = $("drop");
  $("file").addEventListener("change", (e) => { analyse(e.target.files); e.target.value = ""; });
  ["dragenter", "dragover"].forEach((t) => drop.addEventListener(t, () => drop.classList.add("over")));
  ["dragleave", "drop"].forEach((t) => drop.addEventListener(t, () => drop.classList.remove("over")));
  // A file dropped anywhere on the page is analysed (rather than opened by the browser).
  document.addEventListener("dragover", (e) => e.preventDefault());
  document.addEventListener("drop", (e) => { e.preventDefault(); analyse(e.dataTransfer.files); });
  drop.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") $("file").click(); });
  $("retry").addEventListener("click", () => state.files && analyse(state.files));
  $("opacity").addEventListener("input", (e) => { $("overlay").style.opacity = String(e.target.value / 100); });
  $("slice").addEventListener("input", showVolumeSlice);
  $("api-key").addEventListener("change", (e) => sessionStorage.setItem("mri-api-key", e.target.value.trim()));
  $("download-mask").addEventListener("click", saveMaskPng);
  $("download-json").addEventListener("click", saveJson);
  $("download-nifti").addEventListener("click", saveNifti);
}

async function main() {
  wire();
  await loadConfig();
  pollReady();
}

main();
