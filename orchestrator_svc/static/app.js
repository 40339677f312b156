// voxclone web page: talks to the orchestrator's own API (same origin).
const $ = (id) => document.getElementById(id);
let referenceBlob = null;
let referenceName = "reference.wav";

$("api-key").value = localStorage.getItem("voxclone-api-key") || "";
$("api-key").addEventListener("change", () => localStorage.setItem("voxclone-api-key", $("api-key").value));

function headers() {
  const key = $("api-key").value.trim();
  return key ? { "X-API-Key": key } : {};
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
}

$("reference").addEventListener("change", (e) => {
  const file = e.target.files[0];
  if (file) setReference(file, file.name);
});

// Browsers record webm/opus, which the server does not read: decode to PCM here and send WAV.
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

$("clone").addEventListener("click", async () => {
  showError("");
  if (!referenceBlob) { showError("Choose or record a reference recording first."); return; }
  const form = new FormData();
  form.append("reference_audio", referenceBlob, referenceName);
  form.append("text", $("text").value);
  if ($("vocoder").value) form.append("vocoder", $("vocoder").value);
  $("clone").disabled = true;
  $("clone").textContent = "Cloning...";
  try {
    const resp = await fetch("/v1/clone/preview", { method: "POST", body: form, headers: headers() });
    if (!resp.ok) { showError(await apiError(resp)); return; }
    const out = await resp.json();
    const wav = Uint8Array.from(atob(out.audio_wav_base64), (c) => c.charCodeAt(0));
    const url = URL.createObjectURL(new Blob([wav], { type: "audio/wav" }));
    $("player").src = url;
    $("download").href = url;
    $("meta").textContent = `${out.duration_s.toFixed(2)} s, ${out.sentences.length} sentence(s)` +
      (out.stopped ? "" : " (hit the length cap)");
    drawMatrix($("mel"), decodeArray(out.mel), -4, 4, false);
    drawMatrix($("alignment"), decodeArray(out.alignments[0]), 0, 1, true);
    $("result").hidden = false;
  } catch (err) {
    showError(`Request failed: ${err.message}`);
  } finally {
    $("clone").disabled = false;
    $("clone").textContent = "Clone";
  }
});

$("save-voice").addEventListener("click", async () => {
  showError("");
  if (!referenceBlob) { showError("Choose or record a reference recording first."); return; }
  const form = new FormData();
  form.append("file", referenceBlob, referenceName);
  form.append("name", $("voice-name").value || referenceName);
  const resp = await fetch("/v1/voices", { method: "POST", body: form, headers: headers() });
  if (!resp.ok) { showError(await apiError(resp)); return; }
  loadVoices();
});

async function loadVoices() {
  const resp = await fetch("/v1/voices", { headers: headers() });
  if (!resp.ok) return;
  const list = $("voices");
  list.innerHTML = "";
  for (const v of (await resp.json()).voices) {
    const li = document.createElement("li");
    li.textContent = `${v.name} `;
    li.dataset.voiceId = v.id;
    const del = document.createElement("button");
    del.textContent = "delete";
    del.onclick = async () => {
      await fetch(`/v1/voices/${v.id}`, { method: "DELETE", headers: headers() });
      loadVoices();
    };
    li.appendChild(del);
    list.appendChild(li);
  }
}
loadVoices();
