// tfzoo report: draws detections and wires the controls. No dependencies, works from file://.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("report-data").textContent || "{}");
  var PALETTE = ["#888888", "#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4",
    "#f032e6", "#bfef45", "#fabed4", "#469990", "#dcbeff", "#9a6324", "#800000", "#aaffc3"];

  function colour(cls) { return PALETTE[cls % PALETTE.length]; }
  function rgb(hex) {
    return [parseInt(hex.slice(1, 3), 16), parseInt(hex.slice(3, 5), 16), parseInt(hex.slice(5, 7), 16)];
  }
  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  // ---- detection -------------------------------------------------------------------------
  var maskCache = new WeakMap();

  // A canvas holding one mask (run-length coded over its bounding crop) in its class colour.
  function maskCanvas(row, cls) {
    var rle = row[row.length - 1];
    if (!rle) { return null; }
    if (maskCache.has(row)) { return maskCache.get(row); }
    var h = rle[2], w = rle[3];
    var off = document.createElement("canvas");
    off.width = w; off.height = h;
    var ctx = off.getContext("2d");
    var img = ctx.createImageData(w, h);
    var c = rgb(colour(cls)), pos = 0, on = false;
    for (var r = 4; r < rle.length; r++) {
      var end = pos + rle[r];
      if (on) {
        for (var p = pos; p < end; p++) {
          img.data[4 * p] = c[0]; img.data[4 * p + 1] = c[1]; img.data[4 * p + 2] = c[2];
          img.data[4 * p + 3] = 140;
        }
      }
      pos = end; on = !on;
    }
    ctx.putImageData(img, 0, 0);
    var out = { canvas: off, y: rle[0], x: rle[1] };
    maskCache.set(row, out);
    return out;
  }

  function state() {
    var slider = document.getElementById("score-threshold");
    var classes = {};
    document.querySelectorAll("#class-filter input[data-class]").forEach(function (box) {
      classes[box.getAttribute("data-class")] = box.checked;
    });
    return {
      threshold: slider ? parseFloat(slider.value) : 0,
      boxes: document.getElementById("show-boxes").checked,
      masks: document.getElementById("show-masks").checked,
      classes: classes
    };
  }

  function shown(row, s) { return row[1] >= s.threshold && s.classes[String(row[0])] !== false; }

  // Draw instances (detections, or ground truth with scored=false) of one image on a canvas.
  function drawInstances(canvas, record, rows, s, scored, labels) {
    var ratio = window.devicePixelRatio || 1, cw, ch;
    if (canvas.dataset.withImage) {  // the full-size view: a fixed resolution, scaled by CSS
      var k = Math.max(1, Math.ceil(512 / Math.max(record.w, record.h)));
      cw = record.w * k; ch = record.h * k; ratio = Math.max(1, cw / 512);
    } else {
      var rect = canvas.getBoundingClientRect();
      cw = Math.max(1, Math.round((rect.width || record.w * 4) * ratio));
      ch = Math.max(1, Math.round((rect.height || record.h * 4) * ratio));
    }
    canvas.width = cw; canvas.height = ch;
    var ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, cw, ch);
    var scale = Math.min(cw / record.w, ch / record.h);
    var ox = (cw - record.w * scale) / 2, oy = (ch - record.h * scale) / 2;
    ctx.imageSmoothingEnabled = false;
    if (canvas.dataset.withImage) {
      var image = canvas.__image;
      if (image && image.complete) { ctx.drawImage(image, ox, oy, record.w * scale, record.h * scale); }
    }
    var box0 = scored ? 2 : 1;
    rows.forEach(function (row) {
      if (scored && !shown(row, s)) { return; }
      if (!scored && s.classes[String(row[0])] === false) { return; }
      if (s.masks) {
        var m = maskCanvas(row, row[0]);
        if (m) {
          ctx.drawImage(m.canvas, ox + m.x * scale, oy + m.y * scale,
            m.canvas.width * scale, m.canvas.height * scale);
        }
      }
      if (s.boxes) {
        var y1 = row[box0], x1 = row[box0 + 1], y2 = row[box0 + 2], x2 = row[box0 + 3];
        var bx = ox + x1 * scale, by = oy + y1 * scale, bw = (x2 - x1) * scale, bh = (y2 - y1) * scale;
        ctx.strokeStyle = "rgba(0, 0, 0, 0.75)";  // a dark rim so that the box shows on any colour
        ctx.lineWidth = Math.max(2, 3.5 * ratio);
        ctx.strokeRect(bx, by, bw, bh);
        ctx.strokeStyle = colour(row[0]);
        ctx.lineWidth = Math.max(1, 1.75 * ratio);
        ctx.strokeRect(bx, by, bw, bh);
        if (labels) {
          var text = data.classNames[row[0]] + (scored ? " " + row[1].toFixed(2) : "");
          ctx.font = Math.round(11 * ratio) + "px sans-serif";
          var tw = ctx.measureText(text).width;
          var ty = Math.max(oy + y1 * scale, 12 * ratio);
          ctx.fillStyle = colour(row[0]);
          ctx.fillRect(ox + x1 * scale, ty - 12 * ratio, tw + 4 * ratio, 12 * ratio);
          ctx.fillStyle = "#fff";
          ctx.fillText(text, ox + x1 * scale + 2 * ratio, ty - 2 * ratio);
        }
      }
    });
  }

  function setupDetection() {
    var cards = Array.prototype.slice.call(document.querySelectorAll("#grid .card"));
    document.querySelectorAll(".swatch[data-class]").forEach(function (sw) {
      sw.style.background = colour(parseInt(sw.getAttribute("data-class"), 10));
    });
    var visible = new Set();
    function drawCard(card) {
      var i = parseInt(card.getAttribute("data-index"), 10);
      var record = data.images[i];
      drawInstances(card.querySelector("canvas"), record, record.d, state(), true, false);
    }
    function update() {
      var s = state();
      var out = document.getElementById("threshold-value");
      if (out) { out.textContent = s.threshold.toFixed(2); }
      var count = 0;
      data.images.forEach(function (record, i) {
        var here = 0;
        record.d.forEach(function (row) { if (shown(row, s)) { here++; } });
        count += here;
        var caption = cards[i] && cards[i].querySelector(".caption");
        if (caption) {
          caption.textContent = "#" + i + " · " + here + " of " + record.d.length + " shown";
        }
      });
      var counter = document.getElementById("shown-count");
      counter.textContent = String(count);
      counter.setAttribute("data-count", String(count));
      visible.forEach(drawCard);
      if (!viewer.hidden && viewer.__index !== undefined) { openViewer(viewer.__index); }
    }
    if ("IntersectionObserver" in window) {
      var observer = new IntersectionObserver(function (entries) {
        entries.forEach(function (entry) {
          if (entry.isIntersecting) {
            visible.add(entry.target); drawCard(entry.target);
          } else {
            visible.delete(entry.target);
          }
        });
      }, { rootMargin: "200px" });
      cards.forEach(function (card) { observer.observe(card); });
    } else {
      cards.forEach(function (card) { visible.add(card); });
    }
    ["score-threshold", "show-boxes", "show-masks"].forEach(function (id) {
      var node = document.getElementById(id);
      node.addEventListener("input", update);
      node.addEventListener("change", update);
    });
    document.querySelectorAll("#class-filter input").forEach(function (box) {
      box.addEventListener("change", update);
    });
    cards.forEach(function (card) {
      var open = function () { openViewer(parseInt(card.getAttribute("data-index"), 10)); };
      card.addEventListener("click", open);
      card.addEventListener("keydown", function (e) { if (e.key === "Enter") { open(); } });
    });
    update();
  }

  var viewer = document.getElementById("viewer");

  function closeViewer() { viewer.hidden = true; viewer.__index = undefined; viewer.textContent = ""; }

  function instanceTable(rows, scored, threshold) {
    var table = el("table", { "class": "metrics" });
    var head = el("tr");
    (scored ? ["class", "score", "box (y1, x1, y2, x2)"] : ["class", "box (y1, x1, y2, x2)"])
      .forEach(function (h) { head.appendChild(el("th", {}, h)); });
    table.appendChild(el("thead")).appendChild(head);
    var body = table.appendChild(el("tbody"));
    var box0 = scored ? 2 : 1;
    rows.forEach(function (row) {
      var tr = el("tr");
      if (scored && row[1] < threshold) { tr.className = "below"; }
      tr.appendChild(el("td", {}, data.classNames[row[0]]));
      if (scored) { tr.appendChild(el("td", {}, row[1].toFixed(3))); }
      tr.appendChild(el("td", {}, row.slice(box0, box0 + 4).map(function (v) {
        return Math.round(v);
      }).join(", ")));
      body.appendChild(tr);
    });
    if (!rows.length) {
      body.appendChild(el("tr")).appendChild(el("td", { colspan: "3" }, "none"));
    }
    return table;
  }

  function openViewer(i) {
    var record = data.images[i];
    var s = state();
    viewer.textContent = "";
    var panel = el("div", { "class": "panel", role: "dialog", id: "viewer-panel" });
    var close = el("button", { "class": "close", title: "close (Esc)" }, "×");
    close.addEventListener("click", closeViewer);
    panel.appendChild(close);
    panel.appendChild(el("h2", {}, "Image #" + i));
    var sides = panel.appendChild(el("div", { "class": "sides" }));
    var parts = [["Detections", record.d, true]];
    if (record.g) { parts.push(["Ground truth", record.g, false]); }
    var pending = [];
    parts.forEach(function (part) {
      var side = sides.appendChild(el("div", { "class": "side" }));
      side.appendChild(el("h3", {}, part[0] + " (" + part[1].length + ")"));
      var canvas = side.appendChild(el("canvas", { "data-with-image": "1" }));
      var image = new Image();
      canvas.__image = image;
      pending.push([canvas, part]);
      image.onload = function () { drawInstances(canvas, record, part[1], s, part[2], true); };
      image.src = record.src;
      side.appendChild(instanceTable(part[1], part[2], s.threshold));
      if (part[2]) {
        side.appendChild(el("p", { "class": "hint" }, "Grey rows score below the threshold (" +
          s.threshold.toFixed(2) + ") and are not drawn."));
      }
    });
    viewer.appendChild(panel);
    viewer.hidden = false;
    viewer.__index = i;
    pending.forEach(function (p) { drawInstances(p[0], record, p[1][1], s, p[1][2], true); });
  }

  // ---- classification -------------------------------------------------------------------
  function sampleCard(i, caption, lazy) {
    var sample = data.samples[i];
    var card = el("div", { "class": "card", "data-sample": String(i) });
    if (sample.src) {
      var frame = card.appendChild(el("div", { "class": "frame" }));
      var attrs = { src: sample.src, alt: "sample " + i };
      if (lazy) { attrs.loading = "lazy"; }
      frame.appendChild(el("img", attrs));
    }
    var cap = card.appendChild(el("span", { "class": "caption" }, caption));
    if (sample.t !== sample.p) { cap.className += " wrong"; }
    return card;
  }

  function describe(i) {
    var s = data.samples[i];
    var text = "#" + i + " " + data.classNames[s.t] + " → " + data.classNames[s.p];
    if (s.c !== undefined) { text += " (" + s.c.toFixed(2) + ")"; }
    return text;
  }

  function setupClassification() {
    var panel = document.getElementById("cell-samples");
    document.querySelectorAll("#confusion-matrix td.cell").forEach(function (cell) {
      var show = function () {
        var t = parseInt(cell.getAttribute("data-true"), 10);
        var p = parseInt(cell.getAttribute("data-pred"), 10);
        document.querySelectorAll("#confusion-matrix td.selected").forEach(function (other) {
          other.classList.remove("selected");
        });
        cell.classList.add("selected");
        var picked = [];
        data.samples.forEach(function (s, i) { if (s.t === t && s.p === p) { picked.push(i); } });
        panel.textContent = "";
        panel.appendChild(el("h3", {}, "true " + data.classNames[t] + ", predicted " +
          data.classNames[p] + ": " + picked.length + " samples" +
          (picked.length > 300 ? " (first 300 shown)" : "")));
        var grid = panel.appendChild(el("div", { "class": "grid small", id: "cell-grid" }));
        picked.slice(0, 300).forEach(function (i) { grid.appendChild(sampleCard(i, describe(i), true)); });
      };
      cell.addEventListener("click", show);
      cell.addEventListener("keydown", function (e) { if (e.key === "Enter") { show(); } });
    });
    var mistakes = document.getElementById("mistakes");
    if (mistakes) {
      mistakes.getAttribute("data-samples").split(",").forEach(function (token) {
        if (token !== "") {
          var i = parseInt(token, 10);
          mistakes.appendChild(sampleCard(i, describe(i), false));
        }
      });
    }
  }

  document.addEventListener("keydown", function (e) {
    if (e.key === "Escape" && viewer && !viewer.hidden) { closeViewer(); }
  });
  if (viewer) {
    viewer.addEventListener("click", function (e) { if (e.target === viewer) { closeViewer(); } });
  }
  if (data.kind === "detection") { setupDetection(); }
  if (data.kind === "classification") { setupClassification(); }
  document.body.setAttribute("data-ready", "1");
})();
