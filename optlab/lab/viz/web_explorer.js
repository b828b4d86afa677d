// optlab 探索器的网页版查看器：读取内联的预计算数据（optlab 在执行笔记本时算好），用 canvas 画图。
// 不依赖任何库，不访问网络；同一页上有几个探索器时只定义一次。
(function () {
  "use strict";
  if (window.optlabExplorer) return;

  var CSS =
    ".optlab-explorer{display:flex;flex-wrap:wrap;gap:12px;margin:1em 0;font-size:14px;line-height:1.4}" +
    ".optlab-explorer .ox-controls{display:flex;flex-direction:column;gap:6px;min-width:250px;max-width:290px}" +
    ".optlab-explorer label.ox-row{display:grid;grid-template-columns:64px 1fr 52px;align-items:center;gap:6px;margin:0}" +
    ".optlab-explorer .ox-row span.ox-value{font-variant-numeric:tabular-nums;text-align:right}" +
    ".optlab-explorer .ox-row select{grid-column:2 / span 2}" +
    ".optlab-explorer .ox-names{display:grid;grid-template-columns:1fr 1fr;gap:2px 8px;margin-left:70px}" +
    ".optlab-explorer .ox-names label{display:flex;align-items:center;gap:4px;margin:0}" +
    ".optlab-explorer .ox-swatch{display:inline-block;width:14px;height:4px;border-radius:2px}" +
    ".optlab-explorer canvas{display:block;max-width:100%;border:1px solid #ddd;background:#fff}" +
    ".optlab-explorer .ox-title{font-weight:600;margin:0 0 4px}" +
    ".optlab-explorer .ox-status{margin-top:6px;font-size:13px}" +
    ".optlab-explorer .ox-note{font-size:12px;color:#666}";

  function addStyle() {
    if (document.getElementById("optlab-explorer-style")) return;
    var style = document.createElement("style");
    style.id = "optlab-explorer-style";
    style.textContent = CSS;
    document.head.appendChild(style);
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k];
      else if (k === "style") node.style.cssText = attrs[k];
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { node.appendChild(c); });
    return node;
  }

  // base64 → zlib 解压（浏览器自带的 DecompressionStream）→ 逐段做前缀和还原
  function inflate(b64) {
    var bin = atob(b64);
    var bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
    return new Response(stream).arrayBuffer().then(function (buf) {
      var view = new DataView(buf);
      var pos = 0;
      return function take(n) {
        var out = new Float64Array(n);
        var acc = 0;
        for (var j = 0; j < n; j++) {
          acc += view.getInt16(pos, true);
          pos += 2;
          out[j] = acc;
        }
        return out;
      };
    });
  }

  function fmt(x, digits) {
    if (!isFinite(x)) return String(x);
    var s = Number(x).toPrecision(digits);
    if (s.indexOf("e") >= 0) {
      var parts = s.split("e");
      return parts[0].replace(/\.?0+$/, "") + "e" + parts[1];
    }
    return s.indexOf(".") >= 0 ? s.replace(/\.?0+$/, "") : s;
  }

  function slider(label, values, index, format) {
    var input = el("input", {type: "range", min: "0", max: String(values.length - 1), step: "1", value: String(index)});
    var value = el("span", {"class": "ox-value"});
    var row = el("label", {"class": "ox-row"}, [el("span", {text: label}), input, value]);
    function show() { value.textContent = format(values[+input.value]); }
    input.addEventListener("input", show);
    show();
    return {row: row, input: input, value: function () { return values[+input.value]; }, refresh: show};
  }

  function selectRow(label, options, value) {
    var select = el("select");
    options.forEach(function (o) {
      var opt = el("option", {value: o[0], text: o[1]});
      if (o[0] === value) opt.selected = true;
      select.appendChild(opt);
    });
    return {row: el("label", {"class": "ox-row"}, [el("span", {text: label}), select]), input: select};
  }

  function texInline(text) {
    return text.replace(/\$([^$]+)\$/g, "\\($1\\)");
  }

  // 公式交给页面上的 MathJax 排版（网页书自带本地 MathJax）；排好之前不显示 TeX 源码，
  // 页面上没有 MathJax 时显示去掉 $ 的纯文本
  function formulaNode(formula) {
    var node = el("span", {"class": "math"});  // myst 的 MathJax 配置只处理带 math 等类名的元素
    function plain() { node.textContent = formula.replace(/\$/g, "").replace(/\\/g, ""); node.style.visibility = ""; }
    function typeset() {
      var mj = window.MathJax;
      if (!(mj && mj.startup && mj.startup.promise)) return false;
      node.textContent = texInline(formula);
      node.style.visibility = "hidden";
      mj.startup.promise.then(function () { return mj.typesetPromise([node]); })
        .then(function () { node.style.visibility = ""; }, plain);
      return true;
    }
    if (!typeset()) {
      if (document.readyState === "complete") plain();
      else window.addEventListener("load", function () { if (!typeset()) plain(); });
    }
    return node;
  }

  // canvas 上的中文用页面的字体栈（网页书里含中文网页字体），否则画成方框
  function canvasFont(root, size) {
    return size + "px " + (getComputedStyle(root).fontFamily || "sans-serif");
  }

  function nearestIndex(values, x) {
    var best = 0;
    values.forEach(function (v, i) { if (Math.abs(v - x) < Math.abs(values[best] - x)) best = i; });
    return best;
  }

  // ---------------- 优化器探索器 ----------------
  function optimizerExplorer(root, data, take) {
    var count = data.count;
    var lengths = take(count), diverged = take(count);
    var series = [];
    for (var t = 0; t < count; t++) series.push([take(lengths[t]), take(lengths[t]), take(lengths[t])]);
    var lands = data.landscapes;
    var landByName = {};
    lands.forEach(function (l) { landByName[l.name] = l; l.grid = null; });
    var hasMomentum = data.presets.some(function (p) { return p.variants[0][0] !== null; });
    var hasBetas = data.presets.some(function (p) { return p.variants[0][1] !== null; });

    var controls = el("div", {"class": "ox-controls"});
    var land = selectRow("地形", lands.map(function (l) { return [l.name, l.title]; }), data.defaults.landscape);
    land.input.setAttribute("data-control", "landscape");
    controls.appendChild(land.row);
    var names = el("div", {"class": "ox-names"});
    var checks = data.presets.map(function (p) {
      var box = el("input", {type: "checkbox", "data-control": "optimizer:" + p.label});
      box.checked = p.selected;
      names.appendChild(el("label", {}, [box, el("span", {"class": "ox-swatch", style: "background:" + p.color}),
        el("span", {text: p.label})]));
      return box;
    });
    controls.appendChild(el("div", {"class": "ox-row", style: "display:block"}, [el("span", {text: "优化器"}), names]));
    var lr = slider("学习率 ×", data.lrScales, data.lrScales.indexOf(1), function (v) { return fmt(v, 2); });
    lr.input.setAttribute("data-control", "lr_scale");
    controls.appendChild(lr.row);
    var mom = slider("动量", data.momenta, data.momenta.indexOf(data.defaults.momentum), String);
    mom.input.setAttribute("data-control", "momentum");
    var b1 = slider("β₁", data.beta1, data.beta1.indexOf(data.defaults.beta1), String);
    b1.input.setAttribute("data-control", "beta1");
    var b2 = slider("β₂", data.beta2, data.beta2.indexOf(data.defaults.beta2), String);
    b2.input.setAttribute("data-control", "beta2");
    if (hasMomentum) controls.appendChild(mom.row);
    if (hasBetas) { controls.appendChild(b1.row); controls.appendChild(b2.row); }
    var stepValues = [];
    for (var s = 10; s <= data.steps; s += 10) stepValues.push(s);
    var steps = slider("步数", stepValues, stepValues.length - 1, String);
    steps.input.setAttribute("data-control", "steps");
    controls.appendChild(steps.row);
    var start = el("select", {"data-control": "start"});
    controls.appendChild(el("label", {"class": "ox-row"}, [el("span", {text: "起点"}), start]));
    var note = el("div", {"class": "ox-note"});
    note.textContent = "网页版：轨迹由 optlab 预先算好，滑块在这些取值之间跳动；点击等高线图可换到最近的起点。" +
      (hasBetas ? "β₁ 与 β₂ 每次只有一个偏离默认值（0.9、0.999）。" : "");
    controls.appendChild(note);

    var title = el("div", {"class": "ox-title"});
    var contour = el("canvas", {width: "480", height: "345", "data-plot": "contour"});
    var losses = el("canvas", {width: "480", height: "190", "data-plot": "loss"});
    var status = el("div", {"class": "ox-status"});
    var figure = el("div", {}, [title, contour, losses, status]);
    root.appendChild(controls);
    root.appendChild(figure);

    var PAD = {l: 44, r: 10, t: 10, b: 30};

    function current() { return landByName[land.input.value]; }

    function fillStarts() {
      var l = current();
      start.innerHTML = "";
      l.starts.forEach(function (p, i) {
        start.appendChild(el("option", {value: String(i), text: "(" + fmt(p[0], 3) + ", " + fmt(p[1], 3) + ")"}));
      });
      start.value = "0";
    }

    function grid(l) {
      if (l.grid) return Promise.resolve(l.grid);
      var bin = atob(l.background.data);
      var bytes = new Uint8Array(bin.length);
      for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
      var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
      return new Response(stream).arrayBuffer().then(function (buf) {
        l.grid = new Uint8Array(buf);
        return l.grid;
      });
    }

    function toPx(l, x, y, w, h) {
      return [PAD.l + (x - l.xlim[0]) / (l.xlim[1] - l.xlim[0]) * (w - PAD.l - PAD.r),
              PAD.t + (l.ylim[1] - y) / (l.ylim[1] - l.ylim[0]) * (h - PAD.t - PAD.b)];
    }

    function drawBackground(ctx, l, g) {
      var w = contour.width, h = contour.height, n = l.background.n;
      var pw = w - PAD.l - PAD.r, ph = h - PAD.t - PAD.b;
      var img = ctx.createImageData(pw, ph);
      var colors = l.background.colors.map(function (c) {
        return [parseInt(c.slice(1, 3), 16), parseInt(c.slice(3, 5), 16), parseInt(c.slice(5, 7), 16)];
      });
      var band = new Int16Array(pw * ph);
      for (var py = 0; py < ph; py++) {
        var gy = (1 - py / (ph - 1)) * (n - 1);
        var y0 = Math.min(Math.floor(gy), n - 2), fy = gy - y0;
        for (var px = 0; px < pw; px++) {
          var gx = px / (pw - 1) * (n - 1);
          var x0 = Math.min(Math.floor(gx), n - 2), fx = gx - x0;
          var v = (g[y0 * n + x0] * (1 - fx) + g[y0 * n + x0 + 1] * fx) * (1 - fy) +
                  (g[(y0 + 1) * n + x0] * (1 - fx) + g[(y0 + 1) * n + x0 + 1] * fx) * fy;
          band[py * pw + px] = Math.min(Math.floor(v / 10), colors.length - 1);
        }
      }
      for (var k = 0; k < pw * ph; k++) {
        var c = colors[band[k]];
        var edge = (k % pw < pw - 1 && band[k + 1] !== band[k]) || (k + pw < pw * ph && band[k + pw] !== band[k]);
        var a = edge ? 0.55 : 0;  // 等高线：深灰、半透明
        img.data[4 * k] = Math.round(c[0] * (1 - a) + 0x55 * a);
        img.data[4 * k + 1] = Math.round(c[1] * (1 - a) + 0x55 * a);
        img.data[4 * k + 2] = Math.round(c[2] * (1 - a) + 0x55 * a);
        img.data[4 * k + 3] = 255;
      }
      ctx.putImageData(img, PAD.l, PAD.t);
    }

    function marker(ctx, shape, x, y, size, fill, stroke) {
      ctx.beginPath();
      if (shape === "circle") ctx.arc(x, y, size, 0, 2 * Math.PI);
      else if (shape === "square") ctx.rect(x - size, y - size, 2 * size, 2 * size);
      else if (shape === "diamond") { ctx.moveTo(x, y - size); ctx.lineTo(x + size, y); ctx.lineTo(x, y + size); ctx.lineTo(x - size, y); ctx.closePath(); }
      else if (shape === "star") {
        for (var i = 0; i < 10; i++) {
          var r = i % 2 ? size * 0.45 : size, ang = -Math.PI / 2 + i * Math.PI / 5;
          ctx[i ? "lineTo" : "moveTo"](x + r * Math.cos(ang), y + r * Math.sin(ang));
        }
        ctx.closePath();
      } else if (shape === "x") {
        ctx.lineWidth = 3.5; ctx.strokeStyle = "#000";
        ctx.moveTo(x - size, y - size); ctx.lineTo(x + size, y + size);
        ctx.moveTo(x + size, y - size); ctx.lineTo(x - size, y + size);
        ctx.stroke();
        ctx.beginPath(); ctx.lineWidth = 2; ctx.strokeStyle = fill;
        ctx.moveTo(x - size, y - size); ctx.lineTo(x + size, y + size);
        ctx.moveTo(x + size, y - size); ctx.lineTo(x - size, y + size);
        ctx.stroke();
        return;
      }
      ctx.fillStyle = fill; ctx.fill();
      ctx.lineWidth = 1; ctx.strokeStyle = stroke || "#000"; ctx.stroke();
    }

    function axes(ctx, w, h, xr, yr, xlabel, ylabel, ylog) {
      ctx.strokeStyle = "#333"; ctx.lineWidth = 1;
      ctx.strokeRect(PAD.l + 0.5, PAD.t + 0.5, w - PAD.l - PAD.r - 1, h - PAD.t - PAD.b - 1);
      ctx.fillStyle = "#333"; ctx.font = canvasFont(root, 11); ctx.textAlign = "center"; ctx.textBaseline = "top";
      for (var i = 0; i <= 4; i++) {
        var xv = xr[0] + (xr[1] - xr[0]) * i / 4;
        ctx.fillText(fmt(xv, 3), PAD.l + (w - PAD.l - PAD.r) * i / 4, h - PAD.b + 4);
      }
      ctx.textAlign = "right"; ctx.textBaseline = "middle";
      for (var j = 0; j <= 4; j++) {
        var yv = yr[0] + (yr[1] - yr[0]) * j / 4;
        ctx.fillText(ylog ? "1e" + Math.round(yv) : fmt(yv, 3), PAD.l - 4, h - PAD.b - (h - PAD.t - PAD.b) * j / 4);
      }
      ctx.textAlign = "center"; ctx.textBaseline = "bottom";
      ctx.fillText(xlabel, PAD.l + (w - PAD.l - PAD.r) / 2, h);
      ctx.save(); ctx.translate(10, PAD.t + (h - PAD.t - PAD.b) / 2); ctx.rotate(-Math.PI / 2);
      ctx.textBaseline = "middle"; ctx.fillText(ylabel, 0, 0); ctx.restore();
    }

    function variantIndex(p) {
      var want = [mom.value(), b1.value(), b2.value()];
      for (var i = 0; i < p.variants.length; i++) {
        var v = p.variants[i];
        if ((v[0] === null || v[0] === want[0]) && (v[1] === null || v[1] === want[1]) && (v[2] === null || v[2] === want[2])) return i;
      }
      return 0;
    }

    function trajectories() {
      var l = current(), nl = data.lrScales.length, ns = l.starts.length;
      var si = +lr.input.value, st = +start.value, maxStep = steps.value();
      var out = [];
      data.presets.forEach(function (p, k) {
        if (!checks[k].checked) return;
        var id = l.offsets[p.label] + (variantIndex(p) * nl + si) * ns + st;
        var n = Math.min(lengths[id], maxStep + 1);
        var d = diverged[id];
        var div = d >= 0 && d <= maxStep;
        out.push({preset: p, id: id, n: div ? lengths[id] : n, diverged: div, at: d});
      });
      return out;
    }

    function point(l, id, i) {
      var w = l.xlim[1] - l.xlim[0], h = l.ylim[1] - l.ylim[0];
      return [(l.xlim[0] + l.xlim[1]) / 2 + series[id][0][i] / data.coordUnits * w,
              (l.ylim[0] + l.ylim[1]) / 2 + series[id][1][i] / data.coordUnits * h];
    }

    function draw() {
      var l = current();
      return grid(l).then(function (g) {
        var ctx = contour.getContext("2d"), w = contour.width, h = contour.height;
        ctx.clearRect(0, 0, w, h);
        ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, w, h);
        drawBackground(ctx, l, g);
        axes(ctx, w, h, l.xlim, l.ylim, "x", "y", false);
        ctx.save();
        ctx.beginPath(); ctx.rect(PAD.l, PAD.t, w - PAD.l - PAD.r, h - PAD.t - PAD.b); ctx.clip();
        var trajs = trajectories();
        trajs.forEach(function (t) {
          ctx.beginPath(); ctx.lineWidth = 1.6; ctx.strokeStyle = t.preset.color; ctx.lineJoin = "round";
          for (var i = 0; i < t.n; i++) {
            var q = point(l, t.id, i), px = toPx(l, q[0], q[1], w, h);
            ctx[i ? "lineTo" : "moveTo"](px[0], px[1]);
          }
          ctx.stroke();
        });
        l.minima.forEach(function (m) { var q = toPx(l, m[0], m[1], w, h); marker(ctx, "star", q[0], q[1], 9, "gold"); });
        l.saddles.forEach(function (m) { var q = toPx(l, m[0], m[1], w, h); marker(ctx, "diamond", q[0], q[1], 5, "#fff"); });
        trajs.forEach(function (t) {
          var a = point(l, t.id, 0), pa = toPx(l, a[0], a[1], w, h);
          marker(ctx, "circle", pa[0], pa[1], 4.5, t.preset.color);
          var e = point(l, t.id, Math.max(t.n - 1, 0)), pe = toPx(l, e[0], e[1], w, h);
          if (t.diverged) marker(ctx, "x", pe[0], pe[1], 7, data.divergedColor);
          else marker(ctx, "square", pe[0], pe[1], 3.5, t.preset.color);
        });
        ctx.restore();
        // 图例（右上角）
        ctx.font = canvasFont(root, 11); ctx.textAlign = "left"; ctx.textBaseline = "middle";
        var labels = trajs.map(function (t) { return t.preset.label + (t.diverged ? "（发散）" : ""); });
        var lw = Math.max.apply(null, [40].concat(labels.map(function (s) { return ctx.measureText(s).width; }))) + 30;
        var lx = w - PAD.r - lw - 4, ly = PAD.t + 4;
        if (labels.length) {
          ctx.fillStyle = "rgba(255,255,255,0.85)"; ctx.fillRect(lx, ly, lw, labels.length * 15 + 6);
          ctx.strokeStyle = "#ccc"; ctx.strokeRect(lx + 0.5, ly + 0.5, lw - 1, labels.length * 15 + 5);
        }
        labels.forEach(function (s, i) {
          ctx.strokeStyle = trajs[i].preset.color; ctx.lineWidth = 2;
          ctx.beginPath(); ctx.moveTo(lx + 5, ly + 10 + 15 * i); ctx.lineTo(lx + 22, ly + 10 + 15 * i); ctx.stroke();
          ctx.fillStyle = "#222"; ctx.fillText(s, lx + 26, ly + 10 + 15 * i);
        });
        drawLosses(l, trajs);
        status.innerHTML = "";
        trajs.forEach(function (t) {
          var line = el("div");
          line.appendChild(el("b", {text: t.preset.label}));
          var text;
          if (t.diverged) {
            text = "在第 " + t.at + " 步发散（学习率过大？），只保留之前的 " + t.n + " 个点";
          } else {
            var e = point(l, t.id, t.n - 1);
            var loss = Math.pow(10, series[t.id][2][t.n - 1] / data.lossUnits);
            text = "运行 " + (t.n - 1) + " 步，终点 (" + fmt(e[0], 3) + ", " + fmt(e[1], 3) + ")，损失约 " + fmt(loss, 2);
          }
          line.appendChild(document.createTextNode("：" + text));
          status.appendChild(line);
        });
        root.setAttribute("data-render-count", String(+(root.getAttribute("data-render-count") || 0) + 1));
      });
    }

    function drawLosses(l, trajs) {
      var ctx = losses.getContext("2d"), w = losses.width, h = losses.height;
      ctx.clearRect(0, 0, w, h); ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, w, h);
      var lo = Infinity, hi = -Infinity;
      trajs.forEach(function (t) {
        for (var i = 0; i < t.n; i++) { var v = series[t.id][2][i] / data.lossUnits; lo = Math.min(lo, v); hi = Math.max(hi, v); }
      });
      if (!isFinite(lo)) { lo = -1; hi = 1; }
      lo = Math.floor(lo); hi = Math.max(Math.ceil(hi), lo + 1);
      var xr = [0, steps.value()];
      axes(ctx, w, h, xr, [lo, hi], "步数", "损失（对数）", true);
      function px(i, v) {
        return [PAD.l + i / xr[1] * (w - PAD.l - PAD.r), h - PAD.b - (v - lo) / (hi - lo) * (h - PAD.t - PAD.b)];
      }
      trajs.forEach(function (t) {
        ctx.beginPath(); ctx.lineWidth = 1.4; ctx.strokeStyle = t.preset.color;
        for (var i = 0; i < t.n; i++) { var q = px(i, series[t.id][2][i] / data.lossUnits); ctx[i ? "lineTo" : "moveTo"](q[0], q[1]); }
        ctx.stroke();
        if (t.diverged && t.n > 0) {
          var e = px(t.n - 1, series[t.id][2][t.n - 1] / data.lossUnits);
          marker(ctx, "x", e[0], e[1], 6, data.divergedColor);
        }
      });
    }

    function setTitle() {
      var l = current();
      title.textContent = l.title + "：";
      title.appendChild(formulaNode(l.formula));
    }

    function keepCross(changed) {
      // β₁ 与 β₂ 只预先算了“十字”网格：一个偏离默认值时另一个回到默认值
      var other = changed === b1 ? b2 : b1, def = changed === b1 ? data.defaults.beta2 : data.defaults.beta1;
      var mine = changed === b1 ? data.defaults.beta1 : data.defaults.beta2;
      if (changed.value() !== mine && other.value() !== def) {
        other.input.value = String((changed === b1 ? data.beta2 : data.beta1).indexOf(def));
        other.refresh();
      }
    }

    land.input.addEventListener("change", function () { fillStarts(); setTitle(); draw(); });
    checks.forEach(function (c) { c.addEventListener("change", draw); });
    [lr, mom, steps].forEach(function (c) { c.input.addEventListener("input", draw); });
    b1.input.addEventListener("input", function () { keepCross(b1); draw(); });
    b2.input.addEventListener("input", function () { keepCross(b2); draw(); });
    start.addEventListener("change", draw);
    contour.addEventListener("click", function (ev) {
      var l = current(), r = contour.getBoundingClientRect();
      var x = (ev.clientX - r.left) * contour.width / r.width, y = (ev.clientY - r.top) * contour.height / r.height;
      var best = 0, bestD = Infinity;
      l.starts.forEach(function (p, i) {
        var q = toPx(l, p[0], p[1], contour.width, contour.height), d = Math.hypot(q[0] - x, q[1] - y);
        if (d < bestD) { best = i; bestD = d; }
      });
      start.value = String(best);
      draw();
    });
    fillStarts();
    setTitle();
    whenFontsReady(draw);
    return draw();
  }

  // ---------------- 调度器探索器 ----------------
  function schedulerExplorer(root, data, take) {
    var count = data.count;
    var lengths = take(count), hasMom = take(count);
    var curves = [];
    for (var t = 0; t < count; t++) {
      var lr = take(lengths[t]);
      curves.push([lr, hasMom[t] ? take(lengths[t]) : null]);
    }
    var byName = {};
    data.schedulers.forEach(function (s) { byName[s.name] = s; });

    var controls = el("div", {"class": "ox-controls"});
    var sched = selectRow("调度器", data.schedulers.map(function (s) { return [s.name, s.name]; }), data.defaults.scheduler);
    sched.input.setAttribute("data-control", "scheduler");
    controls.appendChild(sched.row);
    var lrValues = [];
    for (var e = -4; e <= 0.0001; e += 0.25) lrValues.push(Math.pow(10, Math.round(e * 100) / 100));
    var lrs = slider("学习率", lrValues, nearestIndex(lrValues, data.defaults.lr), function (v) { return fmt(v, 2); });
    lrs.input.setAttribute("data-control", "lr");
    controls.appendChild(lrs.row);
    var stepValues = [];
    for (var s = 10; s <= data.maxSteps; s += 10) stepValues.push(s);
    var steps = slider("步数", stepValues, stepValues.indexOf(data.defaults.steps), String);
    steps.input.setAttribute("data-control", "steps");
    controls.appendChild(steps.row);
    var params = [0, 1].map(function (k) {
      var input = el("input", {type: "range", min: "0", max: "0", step: "1", value: "0", "data-control": "param" + k});
      var name = el("span"), value = el("span", {"class": "ox-value"});
      var row = el("label", {"class": "ox-row"}, [name, input, value]);
      controls.appendChild(row);
      return {row: row, input: input, name: name, value: value};
    });
    var note = el("div", {"class": "ox-note"});
    controls.appendChild(note);
    var canvas = el("canvas", {width: "520", height: "280", "data-plot": "schedule"});
    var title = el("div", {"class": "ox-title"});
    root.appendChild(controls);
    root.appendChild(el("div", {}, [title, canvas]));
    var PAD = {l: 56, r: 52, t: 10, b: 32};

    function configure() {
      var spec = byName[sched.input.value];
      spec.params.forEach(function (p, k) {
        var c = params[k];
        c.row.style.display = p ? "" : "none";
        if (!p) return;
        c.name.textContent = p.label;
        c.input.max = String(p.values.length - 1);
        c.input.value = String(p.values.indexOf(p.default));
      });
      note.textContent = spec.name === "OneCycleLR"
        ? "网页版：曲线由 optlab 预先算好；OneCycleLR 的形状随总步数变化，步数取 50 的倍数。"
        : "网页版：曲线由 optlab 预先算好，参数滑块在几个取值之间跳动。";
    }

    function stepsShown(spec) {
      var n = steps.value();
      if (spec.steps.length > 1) {
        var k = nearestIndex(spec.steps, n);
        n = spec.steps[k];
      }
      return n;
    }

    function draw() {
      var spec = byName[sched.input.value];
      spec.params.forEach(function (p, k) {
        if (p) params[k].value.textContent = fmt(p.values[+params[k].input.value], 3);
      });
      var na = spec.params[0] ? spec.params[0].values.length : 1, nb = spec.params[1] ? spec.params[1].values.length : 1;
      var n = stepsShown(spec);
      var si = spec.steps.length > 1 ? spec.steps.indexOf(n) : 0;
      var id = spec.offset + (si * na + (+params[0].input.value)) * nb + (spec.params[1] ? +params[1].input.value : 0);
      var curve = curves[id], scale = lrs.value() / data.lrUnits;
      var ctx = canvas.getContext("2d"), w = canvas.width, h = canvas.height;
      ctx.clearRect(0, 0, w, h); ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, w, h);
      var top = 0;
      for (var i = 0; i < n; i++) top = Math.max(top, curve[0][i] * scale);
      top = top * 1.05 || 1;
      var pw = w - PAD.l - PAD.r, ph = h - PAD.t - PAD.b;
      ctx.strokeStyle = "#333"; ctx.lineWidth = 1; ctx.strokeRect(PAD.l + 0.5, PAD.t + 0.5, pw - 1, ph - 1);
      ctx.font = canvasFont(root, 11); ctx.fillStyle = "#333";
      ctx.textAlign = "center"; ctx.textBaseline = "top";
      for (var k = 0; k <= 4; k++) ctx.fillText(String(Math.round((n - 1) * k / 4)), PAD.l + pw * k / 4, h - PAD.b + 4);
      ctx.textAlign = "right"; ctx.textBaseline = "middle";
      for (var j = 0; j <= 4; j++) ctx.fillText(fmt(top * j / 4, 2), PAD.l - 4, h - PAD.b - ph * j / 4);
      ctx.textAlign = "center"; ctx.textBaseline = "bottom"; ctx.fillText("步数", PAD.l + pw / 2, h);
      ctx.save(); ctx.translate(10, PAD.t + ph / 2); ctx.rotate(-Math.PI / 2); ctx.textBaseline = "middle";
      ctx.fillStyle = "#1f77b4"; ctx.fillText("学习率", 0, 0); ctx.restore();
      function x(i) { return PAD.l + i / Math.max(n - 1, 1) * pw; }
      ctx.beginPath(); ctx.strokeStyle = "#1f77b4"; ctx.lineWidth = 1.8;
      for (var a = 0; a < n; a++) ctx[a ? "lineTo" : "moveTo"](x(a), h - PAD.b - curve[0][a] * scale / top * ph);
      ctx.stroke();
      if (curve[1]) {
        var lo = Infinity, hi = -Infinity;
        for (var b = 0; b < n; b++) { lo = Math.min(lo, curve[1][b]); hi = Math.max(hi, curve[1][b]); }
        lo = lo / data.lrUnits - 0.02; hi = hi / data.lrUnits + 0.02;
        ctx.beginPath(); ctx.strokeStyle = "#ff7f0e"; ctx.setLineDash([6, 4]);
        for (var c = 0; c < n; c++) ctx[c ? "lineTo" : "moveTo"](x(c), h - PAD.b - (curve[1][c] / data.lrUnits - lo) / (hi - lo) * ph);
        ctx.stroke(); ctx.setLineDash([]);
        ctx.fillStyle = "#ff7f0e"; ctx.textAlign = "left"; ctx.textBaseline = "middle";
        for (var m = 0; m <= 2; m++) ctx.fillText(fmt(lo + (hi - lo) * m / 2, 3), w - PAD.r + 4, h - PAD.b - ph * m / 2);
        ctx.save(); ctx.translate(w - 8, PAD.t + ph / 2); ctx.rotate(-Math.PI / 2); ctx.textAlign = "center";
        ctx.fillText("动量", 0, 0); ctx.restore();
      }
      title.textContent = spec.name + "（" + n + " 步，学习率 " + fmt(lrs.value(), 2) + "）";
      root.setAttribute("data-render-count", String(+(root.getAttribute("data-render-count") || 0) + 1));
      return Promise.resolve();
    }

    sched.input.addEventListener("change", function () { configure(); draw(); });
    [lrs, steps].forEach(function (c) { c.input.addEventListener("input", draw); });
    params.forEach(function (c) { c.input.addEventListener("input", draw); });
    configure();
    whenFontsReady(draw);
    return draw();
  }

  // 中文网页字体到达后重画一次（canvas 上已经画好的字不会自己更新）
  function whenFontsReady(redraw) {
    if (!document.fonts || !document.fonts.load) return;
    var sample = "步数损失学习率动量发散";
    Promise.all([document.fonts.load('11px "Optlab CJK"', sample).catch(function () {}), document.fonts.ready])
      .then(function () { redraw(); });
  }

  window.optlabExplorer = function (root) {
    if (!root || root.getAttribute("data-ready")) return;
    addStyle();
    var data = JSON.parse(document.getElementById(root.id + "-data").textContent);
    root.setAttribute("data-ready", "loading");
    inflate(data.series).then(function (take) {
      return data.kind === "scheduler" ? schedulerExplorer(root, data, take) : optimizerExplorer(root, data, take);
    }).then(function () {
      root.setAttribute("data-ready", "true");
    }, function (err) {
      root.setAttribute("data-ready", "error");
      root.appendChild(el("pre", {text: "探索器加载失败：" + err}));
    });
  };
})();
