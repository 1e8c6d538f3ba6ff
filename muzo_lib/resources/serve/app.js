// Muzo's page: send one audio file (chosen, dropped or recorded) to POST /predict and draw the answer.
// Plain browser JavaScript, no build step and nothing fetched from elsewhere.
"use strict";

const $ = (id) => document.getElementById(id);
const PALETTE = ["#3b5bdb", "#e8590c", "#2f9e44", "#c2255c", "#7048e8", "#1098ad", "#f08c00", "#5c940d",
                 "#d6336c", "#495057", "#0b7285", "#a61e4d"];
let colours = {};

function colour(genre) { return colours[genre] || "#868e96"; }
function pct(p) { return (100 * p).toFixed(1) + "%"; }

function status(text, isError) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "";
}

async function loadModel() {
  try {
    const info = await (await fetch("/model")).json();
    info.classes.forEach((c, i) => { colours[c] = PALETTE[i % PALETTE.length]; });
    const levels = info.class_tree ? `, ${info.class_tree.subgenres.length} subgenres` : "";
    $("model-line").textContent = `${info.kind} model ${info.file || info.name}: ${info.classes.length} genres${levels}; ` +
      `up to ${Math.round(info.limits.max_audio_seconds)} s of audio, ${(info.limits.max_upload_bytes / 1048576).toFixed(0)} MiB upload`;
  } catch (e) {
    $("model-line").textContent = "the model's description could not be read";
  }
}

async function send(blob, name) {
  const form = new FormData();
  form.append("file", blob, name);
  status(`predicting ${name}…`);
  $("result").hidden = true;
  let response, body;
  try {
    response = await fetch("/predict", { method: "POST", body: form });
    body = await response.json();
  } catch (e) {
    status(`the server did not answer (${e.message})`, true);
    return;
  }
  if (!response.ok) {
    status(`${name}: ${body.error || response.statusText} (HTTP ${response.status})`, true);
    return;
  }
  status("");
  show(body);
}

function show(r) {
  $("genre").textContent = r.genre === null ? "(no genre)" : r.genre;
  $("confidence").textContent = r.genre === null ? "" : pct(r.confidence);
  $("sub-row").hidden = !r.subgenre;
  if (r.subgenre) {
    $("subgenre").textContent = r.subgenre;
    $("subgenre-confidence").textContent = pct(r.subgenre_confidence) + " within " + r.genre;
  }
  $("warning").hidden = !r.warning;
  $("warning").textContent = r.warning ? `${r.warning}: no genre given` : "";
  $("meta").textContent = `${r.file} · ${r.seconds.toFixed(1)} s scored`;
  const bars = $("bars");
  bars.replaceChildren();
  const ranked = Object.entries(r.probabilities).sort((a, b) => b[1] - a[1]);
  ranked.forEach(([genre, p]) => {
    const row = document.createElement("div");
    row.className = "bar" + (genre === r.genre ? " best" : "");
    const name = document.createElement("span"); name.className = "name"; name.textContent = genre;
    const track = document.createElement("span"); track.className = "track";
    const fill = document.createElement("span"); fill.className = "fill";
    fill.style.display = "block"; fill.style.width = pct(p); fill.style.background = colour(genre);
    track.appendChild(fill);
    const value = document.createElement("span"); value.className = "pct"; value.textContent = pct(p);
    row.append(name, track, value);
    bars.appendChild(row);
  });
  drawTimeline(r.timeline || []);
  $("result").hidden = false;
}

function drawTimeline(windows) {
  $("timeline-box").hidden = windows.length < 2;
  if (windows.length < 2) return;
  const strip = $("timeline"), legend = $("legend"), axis = $("timeline-axis");
  strip.replaceChildren(); legend.replaceChildren(); axis.replaceChildren();
  const total = windows[windows.length - 1].end_s - windows[0].start_s;
  const seen = new Set();
  windows.forEach((w, i) => {
    const next = i + 1 < windows.length ? windows[i + 1].start_s : w.end_s;
    const cell = document.createElement("div");
    cell.style.flex = `${Math.max(next - w.start_s, 0.001) / total} 0 0`;
    cell.style.background = w.genre ? colour(w.genre) : "#dee2e6";
    cell.style.opacity = w.genre ? 0.35 + 0.65 * w.confidence : 1;
    cell.title = `${w.start_s.toFixed(1)}-${w.end_s.toFixed(1)} s: ` + (w.genre ? `${w.genre} ${pct(w.confidence)}` : w.warning);
    strip.appendChild(cell);
    if (w.genre) seen.add(w.genre);
  });
  [windows[0].start_s, windows[0].start_s + total / 2, windows[windows.length - 1].end_s].forEach((t) => {
    const tick = document.createElement("span"); tick.textContent = `${t.toFixed(0)} s`; axis.appendChild(tick);
  });
  [...seen].forEach((g) => {
    const item = document.createElement("span"); item.textContent = g; item.style.setProperty("--c", colour(g));
    legend.appendChild(item);
  });
}

// ---- recording: MediaRecorder gives webm/opus or ogg/opus depending on the browser, which the server's
// decoder (libsndfile) may not read (webm never); so the recording is decoded here with the Web Audio API
// and sent as 16-bit mono WAV, which always decodes.

function wavFile(samples, rate) {
  const data = new DataView(new ArrayBuffer(44 + 2 * samples.length));
  const text = (at, s) => { for (let i = 0; i < s.length; i++) data.setUint8(at + i, s.charCodeAt(i)); };
  text(0, "RIFF"); data.setUint32(4, 36 + 2 * samples.length, true); text(8, "WAVE");
  text(12, "fmt "); data.setUint32(16, 16, true); data.setUint16(20, 1, true); data.setUint16(22, 1, true);
  data.setUint32(24, rate, true); data.setUint32(28, 2 * rate, true); data.setUint16(32, 2, true); data.setUint16(34, 16, true);
  text(36, "data"); data.setUint32(40, 2 * samples.length, true);
  for (let i = 0; i < samples.length; i++) {
    const s = Math.max(-1, Math.min(1, samples[i]));
    data.setInt16(44 + 2 * i, s < 0 ? s * 0x8000 : s * 0x7fff, true);
  }
  return new Blob([data], { type: "audio/wav" });
}

async function toWav(blob) {
  const context = new (window.AudioContext || window.webkitAudioContext)();
  try {
    const audio = await context.decodeAudioData(await blob.arrayBuffer());
    const mono = new Float32Array(audio.length);
    for (let c = 0; c < audio.numberOfChannels; c++) {
      const channel = audio.getChannelData(c);
      for (let i = 0; i < mono.length; i++) mono[i] += channel[i] / audio.numberOfChannels;
    }
    return wavFile(mono, audio.sampleRate);
  } finally {
    context.close();
  }
}

let recorder = null;

async function toggleRecording() {
  const button = $("record");
  if (recorder) { recorder.stop(); return; }
  if (!navigator.mediaDevices || !window.MediaRecorder) {
    status("this browser cannot record (MediaRecorder needs https or localhost)", true);
    return;
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch (e) {
    status(`no microphone: ${e.message}`, true);
    return;
  }
  const chunks = [];
  recorder = new MediaRecorder(stream);
  recorder.ondataavailable = (e) => { if (e.data.size) chunks.push(e.data); };
  recorder.onstop = async () => {
    stream.getTracks().forEach((t) => t.stop());
    recorder = null;
    button.textContent = "● Record"; button.classList.remove("on");
    try {
      await send(await toWav(new Blob(chunks, { type: chunks[0] ? chunks[0].type : "" })), "recording.wav");
    } catch (e) {
      status(`the recording could not be decoded in the browser (${e.message})`, true);
    }
  };
  recorder.start();
  button.textContent = "■ Stop and predict"; button.classList.add("on");
  status("recording… press stop when done (a few seconds are enough)");
}

window.addEventListener("DOMContentLoaded", () => {
  loadModel();
  $("file").addEventListener("change", (e) => { const f = e.target.files[0]; if (f) send(f, f.name); });
  const drop = $("drop");
  ["dragenter", "dragover"].forEach((t) => drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.add("over"); }));
  ["dragleave", "drop"].forEach((t) => drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.remove("over"); }));
  drop.addEventListener("drop", (e) => { const f = e.dataTransfer.files[0]; if (f) send(f, f.name); });
  $("record").addEventListener("click", toggleRecording);
});
