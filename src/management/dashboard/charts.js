// Line charts on a <canvas>: a time axis (the last few minutes), a "nice" value axis, one
// filled line per series. Redrawn from scratch on each update; sharp on HiDPI screens.

const PAD = { left: 46, right: 12, top: 10, bottom: 24 };

/** Rounds a maximum up to 1, 2 or 5 × 10^n so the axis labels read well. */
function niceMax(v) {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

export function formatNumber(v) {
  if (v >= 1e9) return (v / 1e9).toFixed(v >= 1e10 ? 0 : 1) + 'G';
  if (v >= 1e6) return (v / 1e6).toFixed(v >= 1e7 ? 0 : 1) + 'M';
  if (v >= 1e4) return (v / 1e3).toFixed(v >= 1e5 ? 0 : 1) + 'k';
  if (Number.isInteger(v)) return String(v);
  return v.toFixed(v < 10 ? 1 : 0);
}

/** "-45s", "-2m", "-1m30s" */
function ago(ms) {
  const s = Math.round(ms / 1000);
  if (s < 60) return `-${s}s`;
  return s % 60 === 0 ? `-${s / 60}m` : `-${Math.floor(s / 60)}m${s % 60}s`;
}

/**
 * points: [{t, ...values}], series: [{key, label, color}]. The time axis spans the data held,
 * between one and five minutes, so a fresh page does not squeeze its first seconds into a
 * corner.
 */
export function drawChart(canvas, points, series) {
  const span = points.length > 1 ? points[points.length - 1].t - points[0].t : 0;
  const windowMs = Math.min(5 * 60_000, Math.max(60_000, Math.ceil(span / 30_000) * 30_000));
  const dpr = window.devicePixelRatio || 1;
  const cssW = canvas.clientWidth;
  const cssH = canvas.clientHeight;
  if (cssW === 0 || cssH === 0) return;
  if (canvas.width !== Math.round(cssW * dpr) || canvas.height !== Math.round(cssH * dpr)) {
    canvas.width = Math.round(cssW * dpr);
    canvas.height = Math.round(cssH * dpr);
  }
  const ctx = canvas.getContext('2d');
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, cssW, cssH);

  const now = points.length > 0 ? points[points.length - 1].t : Date.now();
  const t0 = now - windowMs;
  const visible = points.filter((p) => p.t >= t0);
  let max = 0;
  for (const p of visible) for (const s of series) max = Math.max(max, p[s.key] ?? 0);
  max = niceMax(max * 1.1);

  const w = cssW - PAD.left - PAD.right;
  const h = cssH - PAD.top - PAD.bottom;
  const x = (t) => PAD.left + ((t - t0) / windowMs) * w;
  const y = (v) => PAD.top + h - (v / max) * h;

  // grid and value labels
  ctx.font = '11px system-ui, sans-serif';
  ctx.fillStyle = '#8b93a5';
  ctx.strokeStyle = '#eceef3';
  ctx.lineWidth = 1;
  ctx.textAlign = 'right';
  ctx.textBaseline = 'middle';
  for (let i = 0; i <= 4; i++) {
    const v = (max / 4) * i;
    const yy = Math.round(y(v)) + 0.5;
    ctx.beginPath();
    ctx.moveTo(PAD.left, yy);
    ctx.lineTo(PAD.left + w, yy);
    ctx.stroke();
    ctx.fillText(formatNumber(v), PAD.left - 8, yy);
  }
  // time labels back from now, at most about six
  ctx.textAlign = 'center';
  ctx.textBaseline = 'top';
  const step = [10_000, 15_000, 30_000, 60_000].find((st) => windowMs / st <= 6) ?? 60_000;
  for (let k = 0; k * step <= windowMs; k++) {
    const xx = x(now - k * step);
    ctx.fillText(k === 0 ? 'now' : ago(k * step), Math.min(Math.max(xx, PAD.left + 14), PAD.left + w - 14), PAD.top + h + 7);
  }

  if (visible.length < 2) {
    ctx.fillStyle = '#a0a7b6';
    ctx.textBaseline = 'middle';
    ctx.fillText('collecting data…', PAD.left + w / 2, PAD.top + h / 2);
    return;
  }
  for (const s of series) {
    ctx.beginPath();
    visible.forEach((p, i) => {
      const px = x(p.t);
      const py = y(p[s.key] ?? 0);
      if (i === 0) ctx.moveTo(px, py);
      else ctx.lineTo(px, py);
    });
    ctx.strokeStyle = s.color;
    ctx.lineWidth = 2;
    ctx.lineJoin = 'round';
    ctx.stroke();
    // soft fill under the line
    ctx.lineTo(x(visible[visible.length - 1].t), y(0));
    ctx.lineTo(x(visible[0].t), y(0));
    ctx.closePath();
    const g = ctx.createLinearGradient(0, PAD.top, 0, PAD.top + h);
    g.addColorStop(0, s.color + '33');
    g.addColorStop(1, s.color + '00');
    ctx.fillStyle = g;
    ctx.fill();
  }
}

/** Fills a legend element: colour chip, label, latest value. */
export function drawLegend(el, points, series, unit = '') {
  const last = points[points.length - 1] ?? {};
  el.innerHTML = series
    .map((s) => `<span><b style="background:${s.color}"></b>${s.label}<span class="val">${formatNumber(last[s.key] ?? 0)}${unit}</span></span>`)
    .join('');
}
