// The page of `dlp serve`: asks /model what the run takes, shows a drawing pad (image runs), a text box
// (name runs) or a form (tabular runs), posts to /predict and draws the answer as bars.
// `window.dlp` exposes what was sent and received (lastPng: the exact PNG posted; lastBody; lastResult),
// so a test can replay the request and compare.
"use strict";

const $ = (id) => document.getElementById(id);
const dlp = (window.dlp = { info: null, lastPng: null, lastBody: null, lastResult: null, busy: false });
const TOP = 10; // classes shown per input

function showError(message) {
  const el = $("error");
  el.textContent = message || "";
  el.hidden = !message;
}

async function post(body, contentType) {
  dlp.busy = true;
  showError("");
  try {
    const top = Math.min(TOP, (dlp.info.classes || []).length || 1);
    // a FormData body (contentType null) gets its multipart Content-Type, with the boundary, from fetch
    const headers = contentType ? { "Content-Type": contentType } : {};
    const r = await fetch(`/predict?top=${top}`, { method: "POST", headers, body });
    const answer = await r.json();
    if (!r.ok) throw new Error(answer.error || `HTTP ${r.status}`);
    dlp.lastResult = answer;
    render(answer);
  } catch (e) {
    showError(e.message);
  } finally {
    dlp.busy = false;
  }
}

function render(results) {
  const box = $("answer");
  box.textContent = "";
  for (const r of results) {
    const block = document.createElement("div");
    block.className = "result";
    const h = document.createElement("h3");
    h.textContent = r.input;
    block.append(h);
    if (!r.top) {
      const v = document.createElement("p");
      v.className = "value";
      v.textContent = `value: ${JSON.stringify(r.value)}`;
      block.append(v);
    }
    for (const c of r.top || []) {
      const row = document.createElement("div");
      row.className = "bar-row";
      row.dataset.class = c.class;
      row.dataset.probability = String(c.probability);
      const name = document.createElement("span");
      name.className = "name";
      name.textContent = c.class;
      const track = document.createElement("span");
      track.className = "track";
      const bar = document.createElement("span");
      bar.className = "bar";
      bar.style.width = `${(100 * c.probability).toFixed(1)}%`;
      track.append(bar);
      const pct = document.createElement("span");
      pct.className = "pct";
      pct.textContent = `${(100 * c.probability).toFixed(1)}%`;
      row.append(name, track, pct);
      block.append(row);
    }
    box.append(block);
  }
}

// -- image runs: a drawing pad -------------------------------------------------------------------------
function setupImage(info) {
  $("image-input").hidden = false;
  const pad = $("pad");
  const ctx = pad.getContext("2d");
  const native = info.image.native_size;
  $("native").textContent = `${native}×${native}`;
  const clear = () => {
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, pad.width, pad.height);
    const p = $("preview").getContext("2d");
    p.fillStyle = "#000";
    p.fillRect(0, 0, 112, 112);
  };
  clear();
  // White strokes on black: the polarity of MNIST and Fashion-MNIST (the server inverts a dark-on-light
  // image for such runs anyway, exactly as `dlp predict` does).
  ctx.strokeStyle = "#fff";
  ctx.lineWidth = Math.round(pad.width / 12);
  ctx.lineCap = ctx.lineJoin = "round";
  let last = null;
  const at = (e) => {
    const b = pad.getBoundingClientRect();
    return [((e.clientX - b.left) * pad.width) / b.width, ((e.clientY - b.top) * pad.height) / b.height];
  };
  pad.addEventListener("pointerdown", (e) => {
    last = at(e);
    pad.setPointerCapture(e.pointerId);
    ctx.beginPath();
    ctx.arc(last[0], last[1], ctx.lineWidth / 2, 0, 2 * Math.PI);
    ctx.fillStyle = "#fff";
    ctx.fill();
  });
  pad.addEventListener("pointermove", (e) => {
    if (!last) return;
    const p = at(e);
    ctx.beginPath();
    ctx.moveTo(last[0], last[1]);
    ctx.lineTo(p[0], p[1]);
    ctx.stroke();
    last = p;
  });
  const up = () => {
    if (last) {
      last = null;
      predictImage(info);
    }
  };
  pad.addEventListener("pointerup", up);
  pad.addEventListener("pointerleave", up);
  $("clear").addEventListener("click", clear);
  $("predict").addEventListener("click", () => predictImage(info));
  $("file").addEventListener("change", async (e) => {
    const f = e.target.files[0];
    if (!f) return;
    try {
      showUpload(info, await createImageBitmap(f));
    } catch (err) {
      clear(); // not an image the browser can draw: the server's answer names the problem
    }
    // the file itself, by name, as a form: the server prepares it exactly as `dlp predict FILE` does
    const form = new FormData();
    form.append("file", f, f.name);
    dlp.lastPng = null;
    dlp.lastBody = form;
    post(form, null);
  });
}

// An uploaded image on the pad (fitted, aspect kept) and in "what the model sees": the image at the model's
// native size, gray, inverted when it is dark on light for a light-on-dark run — as the server prepares it.
function showUpload(info, bitmap) {
  const pad = $("pad");
  const ctx = pad.getContext("2d");
  ctx.fillStyle = "#000";
  ctx.fillRect(0, 0, pad.width, pad.height);
  const s = Math.min(pad.width / bitmap.width, pad.height / bitmap.height);
  ctx.drawImage(bitmap, (pad.width - bitmap.width * s) / 2, (pad.height - bitmap.height * s) / 2,
    bitmap.width * s, bitmap.height * s);
  const native = info.image.native_size;
  const out = document.createElement("canvas");
  out.width = out.height = native;
  const o = out.getContext("2d");
  o.imageSmoothingEnabled = true;
  o.drawImage(bitmap, 0, 0, native, native);
  const img = o.getImageData(0, 0, native, native);
  const px = img.data;
  const gray = (i) => (px[i] * 0.299 + px[i + 1] * 0.587 + px[i + 2] * 0.114) / 255;
  let border = 0;
  for (let k = 0; k < native; k++) {
    border += gray(4 * k) + gray(4 * ((native - 1) * native + k)) + gray(4 * k * native) +
      gray(4 * (k * native + native - 1));
  }
  const invert = info.image.polarity === "light-on-dark" && border / (4 * native) > 0.5;
  for (let i = 0; i < px.length; i += 4) {
    const v = Math.round(255 * (invert ? 1 - gray(i) : gray(i)));
    px[i] = px[i + 1] = px[i + 2] = v;
    px[i + 3] = 255;
  }
  o.putImageData(img, 0, 0);
  const p = $("preview").getContext("2d");
  p.imageSmoothingEnabled = false;
  p.drawImage(out, 0, 0, 112, 112);
}

// The drawing → the model's native size the way MNIST was made: crop to the strokes, keep the aspect,
// fit the longer side into 20 of 28 pixels for digit runs (MNIST's 20×20 box) or 24 of 28 for objects
// (Fashion-MNIST items fill most of the frame), centre, and downscale with smoothing. The PNG sent is
// this native-size gray image; the server then normalizes it exactly like `dlp predict` does a file.
function nativeImage(info) {
  const pad = $("pad");
  const native = info.image.native_size;
  const px = pad.getContext("2d").getImageData(0, 0, pad.width, pad.height).data;
  let x0 = pad.width, y0 = pad.height, x1 = -1, y1 = -1;
  for (let y = 0; y < pad.height; y++) {
    for (let x = 0; x < pad.width; x++) {
      if (px[4 * (y * pad.width + x)] > 0) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
    }
  }
  if (x1 < 0) return null;
  const digits = (info.classes || []).every((c, i) => c === String(i));
  const box = native * (digits ? 20 / 28 : 24 / 28);
  const w = x1 - x0 + 1, h = y1 - y0 + 1;
  const scale = box / Math.max(w, h);
  const out = document.createElement("canvas");
  out.width = out.height = native;
  const o = out.getContext("2d");
  o.fillStyle = "#000";
  o.fillRect(0, 0, native, native);
  o.imageSmoothingEnabled = true;
  o.imageSmoothingQuality = "high";
  o.drawImage(pad, x0, y0, w, h, (native - w * scale) / 2, (native - h * scale) / 2, w * scale, h * scale);
  return out;
}

function predictImage(info) {
  const img = nativeImage(info);
  if (!img) {
    showError("draw something first");
    return;
  }
  const p = $("preview").getContext("2d");
  p.imageSmoothingEnabled = false;
  p.drawImage(img, 0, 0, 112, 112);
  dlp.lastPng = img.toDataURL("image/png");
  img.toBlob((blob) => {
    dlp.lastBody = blob;
    post(blob, "image/png");
  }, "image/png");
}

// -- name runs: a text box ----------------------------------------------------------------------------
function setupText() {
  $("text-input").hidden = false;
  const send = () => {
    const texts = $("texts").value.split("\n").filter((t) => t.trim());
    dlp.lastBody = JSON.stringify(texts);
    post(dlp.lastBody, "application/json");
  };
  $("predict").addEventListener("click", send);
  $("texts").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) send();
  });
}

// -- tabular runs: a form of the model's columns ----------------------------------------------------------
function setupTabular(info) {
  if (!info.columns) {
    $("raw-input").hidden = false;
    $("predict").addEventListener("click", () => {
      dlp.lastBody = $("rows").value;
      post(dlp.lastBody, "application/json");
    });
    return;
  }
  const form = $("tabular-input");
  form.hidden = false;
  for (const c of info.columns) {
    const label = document.createElement("label");
    label.textContent = c.name;
    let field;
    if (c.type === "categorical") {
      field = document.createElement("select");
      for (const v of ["", ...c.categories]) {
        const o = document.createElement("option");
        o.value = v;
        o.textContent = v || "(missing)";
        field.append(o);
      }
    } else {
      field = document.createElement("input");
      field.type = "number";
      field.step = "any";
      field.placeholder = "missing";
    }
    field.name = c.name;
    label.append(field);
    form.append(label);
  }
  $("predict").addEventListener("click", () => {
    const row = {};
    for (const c of info.columns) row[c.name] = form.elements[c.name].value; // "" is a missing value
    dlp.lastBody = JSON.stringify({ rows: [row] });
    post(dlp.lastBody, "application/json");
  });
}

const SETUP = {
  image: setupImage, "image-features": setupImage, sequence: setupText, tabular: setupTabular,
  "tabular-derived": setupTabular,
};

async function main() {
  try {
    const info = (dlp.info = await (await fetch("/model")).json());
    $("title").textContent = `${info.model} · ${info.dataset}`;
    const pm = info.primary_metric;
    $("subtitle").textContent =
      `${info.says || info.task}` +
      (pm && pm.value != null ? ` · test ${pm.name} ${Number(pm.value).toFixed(4)}` : "") +
      ` · POST /predict takes ${info.how}`;
    (SETUP[info.input] || (() => showError(`no page for input kind ${info.input}; use POST /predict`)))(info);
    $("predict").disabled = false;
    document.body.dataset.ready = "true";
  } catch (e) {
    showError(`cannot read /model: ${e.message}`);
  }
}

main();
