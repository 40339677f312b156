// voxclone web page: talks to the orchestrator's own API (same origin).
const $ = (id) => document.getElementById(id);
const NEW_VOICE = "__new__";
let referenceBlob = null;
let referenceName = "reference.wav";

$("api-key").value = localStorage.getItem("voxclone-api-key") || "";
$("api-key").addEventListener("change", () => localStorage.setItem("voxclone-api-key", $("api-key").value));

function headers(extra) {
  const key = $("api-key").value.trim();
  return Object.assign(key ? { "X-API-Key": key } : {}, extra || {});
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

async function apiError(resp) {
  try { return (await resp.json()).error.message; } catch (e) { return `HTTP ${resp.status}`; }
}

function setReference(blob, name) {
  referenceBlob = blob;
  referenceName = name;
  $("reference-player").src = URL.createObjectURL(blob);
  $("reference-player").hidden = false;
  $("voice").value = NEW_VOICE;
  voiceChanged();
}

$("reference").addEventListener("change", (e) => {
  const file = e.target.files[0];
  if (file) setReference(file, file.name);
});

// Recorded audio is decoded here and sent as WAV, which every server version reads.
function encodeWav(samples, rate) {
  const buf = new ArrayBuffer(44 + samples.length * 2);
  const v = new DataView(buf);
  const str = (o, s) => [...s].forEach((c, i) => v.setUint8(o + i, c.charCodeAt(0)));
  str(0, "RIFF"); v.setUint32(4, 36 + samples.length * 2, true); str(8, "WAVEfmt ");
  v.setUint32(16, 16, true); v.setUint16(20, 1, true); v.setUint16(22, 1, true);
  v.setUint32(24, rate, true); v.setUint32(28, rate * 2, true); v.setUint16(32, 2, true);
  v.setUint16(34, 16, true); str(36, "data"); v.setUint32(40, samples.length * 2, true);
  samples.forEach((s, i) => v.setInt16(44 + i * 2, Math.max(-1, Math.min(1, s)) * 32767, true));
  return new Blob([buf], { type: "audio/wav" });
}

let recorder = null;
$("record").addEventListener("click", async () => {
  if (recorder && recorder.state === "recording") { recorder.stop(); return; }
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    const chunks = [];
    recorder = new MediaRecorder(stream);
    recorder.ondataavailable = (e) => chunks.push(e.data);
    recorder.onstop = async () => {
      stream.getTracks().forEach((t) => t.stop());
      const ctx = new AudioContext();
      const audio = await ctx.decodeAudioData(await new Blob(chunks).arrayBuffer());
      setReference(encodeWav(audio.getChannelData(0), audio.sampleRate), "recording.wav");
      $("record").textContent = "Record";
      $("rec-status").textContent = `recorded ${audio.duration.toFixed(1)} s`;
    };
    recorder.start();
    $("record").textContent = "Stop";
    $("rec-status").textContent = "recording...";
  } catch (err) {
    showError(`Microphone unavailable: ${err.message}`);
  }
});

function decodeArray(a) {
  if (Array.isArray(a)) {
    return { shape: [a.length, a[0].length], data: Float32Array.from(a.flat()) };
  }
  const bytes = Uint8Array.from(atob(a.data), (c) => c.charCodeAt(0));
  return { shape: a.shape, data: new Float32Array(bytes.buffer) };
}

// Draw a (rows, cols) matrix with rows bottom-up; `lo`/`hi` set the colour range.
function drawMatrix(canvas, m, lo, hi, transpose) {
  const [r0, c0] = m.shape;
  const rows = transpose ? c0 : r0, cols = transpose ? r0 : c0;
  const at = (r, c) => (transpose ? m.data[c * c0 + r] : m.data[r * c0 + c]);
  canvas.width = cols; canvas.height = rows;
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(cols, rows);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const t = Math.max(0, Math.min(1, (at(r, c) - lo) / (hi - lo)));
      const i = ((rows - 1 - r) * cols + c) * 4;
      img.data[i] = 255 * Math.min(1, 2 * t * t); img.data[i + 1] = 255 * t; img.data[i + 2] = 255 * (0.4 + 0.6 * (1 - t)) * t + 30;
      img.data[i + 3] = 255;
    }
  }
  ctx.putImageData(img, 0, 0);
}

// ---- progress: one line per stage, as the server's events arrive ----
const STAGES = {
  embedding: () => "Embedding the reference voice...",
  embedded: (e) => `Voice embedded${e.cached ? " (cached)" : ""}`,
  sentence: (e) => `Sentence ${e.index} of ${e.of}: synthesizing "${e.text}"`,
  vocoding: (e) => `Sentence ${e.index} of ${e.of}: vocoding ${e.frames} frames`,
  encoding: (e) => `Encoding ${e.format.toUpperCase()}`,
  done: (e) => `Done: ${e.duration_s.toFixed(2)} s of audio at ${e.sample_rate} Hz`,
};

function showStage(e) {
  const list = $("progress");
  list.querySelectorAll("li.current").forEach((li) => li.classList.remove("current"));
  const li = document.createElement("li");
  li.textContent = STAGES[e.stage](e);
  li.dataset.stage = e.stage;
  if (e.stage !== "done") li.classList.add("current");
  list.appendChild(li);
}

// Read a server-sent event stream from a POST (EventSource only does GET).
async function readEvents(resp, onEvent) {
  const reader = resp.body.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, cut);
      buf = buf.slice(cut + 2);
      if (block.startsWith("data: ")) onEvent(JSON.parse(block.slice(6)));
    }
  }
}

function showResult(e, fmt) {
  const bytes = Uint8Array.from(atob(e.audio), (c) => c.charCodeAt(0));
  const url = URL.createObjectURL(new Blob([bytes], { type: e.media_type }));
  $("player").src = url;
  $("download").href = url;
  $("download").download = `voxclone.${fmt}`;
  $("download").textContent = `Download ${fmt.toUpperCase()}`;
  $("meta").textContent = `${e.duration_s.toFixed(2)} s, ${e.sample_rate} Hz, ${e.sentences.length} sentence(s)` +
    (e.stopped ? "" : " (hit the length cap)");
  drawMatrix($("mel"), decodeArray(e.mel), -4, 4, false);
  drawMatrix($("alignment"), decodeArray(e.alignments[0]), 0, 1, true);
  $("result").hidden = false;
}

$("speak").addEventListener("click", async () => {
  showError("");
  const voice = $("voice").value;
  const form = new FormData();
  if (voice === NEW_VOICE) {
    if (!referenceBlob) { showError("Choose or record a reference recording first (or pick a voice)."); return; }
    form.append("reference_audio", referenceBlob, referenceName);
  } else {
    form.append("voice", voice);
  }
  const fmt = $("format").value;
  form.append("text", $("text").value);
  form.append("format", fmt);
  form.append("speed", $("speed").value || "1");
  if ($("seed").value !== "") form.append("seed", $("seed").value);
  if ($("speaker-emphasis").value !== "") form.append("speaker_emphasis", $("speaker-emphasis").value);
  if ($("accent").value !== "auto") form.append("accent", $("accent").value);
  if ($("vocoder").value) form.append("vocoder", $("vocoder").value);
  $("speak").disabled = true;
  $("speak").textContent = "Speaking...";
  $("progress").innerHTML = "";
  try {
    const resp = await fetch("/v1/studio/speak", { method: "POST", body: form, headers: headers() });
    if (!resp.ok) { showError(await apiError(resp)); return; }
    await readEvents(resp, (e) => {
      if (e.stage === "error") { showError(e.message); return; }
      showStage(e);
      if (e.stage === "done") showResult(e, fmt);
    });
  } catch (err) {
    showError(`Request failed: ${err.message}`);
  } finally {
    $("speak").disabled = false;
    $("speak").textContent = "Speak";
  }
});

// ---- voices: built-in and saved in one picker; saved ones can be renamed, deleted, exported, imported ----
let voiceInfo = {};

function voiceChanged() {
  const v = voiceInfo[$("voice").value];
  $("new-voice").classList.toggle("dim", Boolean(v));
  $("voice-info").textContent = v ? (v.type === "saved" ? "saved voice" :
    `${v.gender}${v.accent ? ", " + v.accent : ""}${v.source ? " - " + v.source + " (" + v.licence + ")" : ""}`) : "";
}
$("voice").addEventListener("change", voiceChanged);

function option(value, label) {
  const o = document.createElement("option");
  o.value = value; o.textContent = label;
  return o;
}

function fillPicker(voices) {
  const select = $("voice");
  const keep = select.value;
  select.innerHTML = "";
  select.appendChild(option(NEW_VOICE, "New: upload or record below"));
  const groups = { builtin: "Built-in", openai: "OpenAI names", saved: "Saved" };
  for (const [type, label] of Object.entries(groups)) {
    const group = document.createElement("optgroup");
    group.label = label;
    for (const v of voices.filter((x) => x.type === type)) {
      group.appendChild(option(v.id, type === "openai" ? `${v.name} (${v.builtin})` : v.name));
    }
    if (group.children.length) select.appendChild(group);
  }
  select.value = voiceInfo[keep] || keep === NEW_VOICE ? keep : "slt";
  voiceChanged();
}

function button(text, cls, onclick) {
  const b = document.createElement("button");
  b.type = "button"; b.textContent = text; b.className = cls; b.onclick = onclick;
  return b;
}

async function voiceAction(resp) {
  if (!resp.ok) { showError(await apiError(resp)); return; }
  showError("");
  await loadVoices();
}

function savedRow(v) {
  const li = document.createElement("li");
  li.dataset.voiceId = v.id;
  li.dataset.name = v.name;
  const name = document.createElement("input");
  name.value = v.name; name.className = "voice-name"; name.setAttribute("aria-label", "voice name");
  li.appendChild(name);
  li.appendChild(button("rename", "rename", async () => voiceAction(await fetch(`/v1/voices/${v.id}`, {
    method: "PATCH", body: JSON.stringify({ name: name.value }),
    headers: headers({ "Content-Type": "application/json" }) }))));
  li.appendChild(button("use", "use", () => { $("voice").value = v.id; voiceChanged(); }));
  li.appendChild(button("export", "export", () => exportVoice(v)));
  li.appendChild(button("delete", "delete", async () =>
    voiceAction(await fetch(`/v1/voices/${v.id}`, { method: "DELETE", headers: headers() }))));
  return li;
}

async function exportVoice(v) {
  const resp = await fetch(`/v1/voices/${v.id}?include_embedding=true`, { headers: headers() });
  if (!resp.ok) { showError(await apiError(resp)); return; }
  const full = await resp.json();
  const blob = new Blob([JSON.stringify({ name: full.name, embedding: full.embedding })], { type: "application/json" });
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = `${full.name.replace(/[^\w.-]+/g, "_") || "voice"}.voice.json`;
  document.body.appendChild(a); a.click(); a.remove();
}

$("import").addEventListener("change", async (e) => {
  const file = e.target.files[0];
  if (!file) return;
  let body;
  try { body = JSON.parse(await file.text()); } catch (err) { showError(`${file.name}: not JSON`); return; }
  await voiceAction(await fetch("/v1/voices", { method: "POST", body: JSON.stringify(body),
    headers: headers({ "Content-Type": "application/json" }) }));
  e.target.value = "";
});

$("save-voice").addEventListener("click", async () => {
  showError("");
  if (!referenceBlob) { showError("Choose or record a reference recording first."); return; }
  const form = new FormData();
  form.append("file", referenceBlob, referenceName);
  form.append("name", $("voice-name").value || referenceName);
  const resp = await fetch("/v1/voices", { method: "POST", body: form, headers: headers() });
  if (!resp.ok) { showError(await apiError(resp)); return; }
  const saved = await resp.json();
  await loadVoices();
  $("voice").value = saved.id;
  voiceChanged();
});

async function loadVoices() {
  const resp = await fetch("/v1/audio/voices", { headers: headers() });
  if (!resp.ok) { showError(await apiError(resp)); return; }
  const voices = (await resp.json()).voices;
  voiceInfo = Object.fromEntries(voices.map((v) => [v.id, v]));
  fillPicker(voices);
  const list = $("voices");
  list.innerHTML = "";
  for (const v of voices.filter((x) => x.type === "saved")) list.appendChild(savedRow(v));
}
loadVoices();
loadAccents();

// Only the accents the synthesizer has a checkpoint for can speak; the others stay listed, greyed out.
async function loadAccents() {
  const resp = await fetch("/v1/info", { headers: headers() });
  const accents = resp.ok ? (await resp.json()).accents : null;
  if (!accents) return;   // not known (a key is needed, or the synthesizer did not answer): all stay offered
  for (const o of $("accent").options) o.disabled = !accents.includes(o.value);
}
