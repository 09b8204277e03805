// timeline_page.hpp: the `--html FILE` page, the same timelines a lesson prints, drawn by a browser.
//
// A lesson's `--trace FILE` writes its spans in the Chrome trace event format for Perfetto, whose web
// page needs the network. `--html FILE` writes one self-contained page instead: the same JSON text,
// embedded in the page, and a small script that draws it as SVG (one chart per timeline, one lane per
// span, a time axis in milliseconds; hover over a bar to see its name, thread and times). No external
// script, style or font: the page opens offline, from the file, in any browser.
//
// After drawing, the script sets `data-drawn-spans="N"` on the page's <html> element, N being the spans
// it drew, so a test can ask a real browser what it drew (tests/browser_check.py).
//
// Plumbing: nothing here is about concurrency. pg::TraceFile (playground.hpp) calls timeline_page().
#pragma once

#include <string>
#include <string_view>

namespace pg {

// The page for `trace_json` (what TraceFile::json() returns), titled `title`.
inline std::string timeline_page(std::string_view title, std::string_view trace_json) {
  // The JSON sits in a <script type="application/json"> element, which ends at the first "</": in
  // JSON that can only occur inside a string, where "<\/" means the same.
  std::string data;
  data.reserve(trace_json.size());
  for (std::size_t i = 0; i < trace_json.size(); ++i) {
    data += trace_json[i];
    if (trace_json[i] == '<' && i + 1 < trace_json.size() && trace_json[i + 1] == '/') data += '\\';
  }
  std::string safe_title;
  for (char c : title) {
    if (c == '<')
      safe_title += "&lt;";
    else if (c == '&')
      safe_title += "&amp;";
    else
      safe_title += c;
  }

  std::string page = R"page(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>)page" + safe_title +
                     R"page( timelines</title>
<style>
  body { font: 14px system-ui, sans-serif; margin: 24px; color: #222; background: #fff; }
  h1 { font-size: 20px; margin: 0 0 4px; }
  h2 { font-size: 16px; margin: 28px 0 4px; }
  p.note { color: #555; margin: 0 0 8px; }
  svg text { font: 12px ui-monospace, monospace; fill: #333; }
  svg .axis { stroke: #bbb; }
  svg rect.span:hover { stroke: #000; stroke-width: 1.5; }
</style>
</head>
<body>
<h1>)page" + safe_title +
                     R"page( timelines</h1>
<p class="note">One chart per timeline, one lane per span (task, job or thread), times in ms from the
chart's first span, every chart on the same scale. Hover over a bar for its name, thread and times. Colour: the thread that ran it.</p>
<div id="charts"></div>
<script type="application/json" id="trace">)page" +
                     data + R"page(</script>
<script>
"use strict";
const trace = JSON.parse(document.getElementById("trace").textContent);
const events = trace.traceEvents;
const threadName = new Map();
for (const e of events)
  if (e.ph === "M" && e.name === "thread_name") threadName.set(e.pid + "/" + e.tid, e.args.name);
const sections = new Map();  // timeline name -> its spans, in the order the file lists them
for (const e of events) {
  if (e.ph !== "X") continue;
  if (!sections.has(e.cat)) sections.set(e.cat, []);
  sections.get(e.cat).push(e);
}
const threadKeys = [...threadName.keys()];
const colour = key => `hsl(${(threadKeys.indexOf(key) * 67) % 360}, 60%, 52%)`;
const svgNs = "http://www.w3.org/2000/svg";
const make = (tag, attributes, parent) => {
  const node = document.createElementNS(svgNs, tag);
  for (const [k, v] of Object.entries(attributes)) node.setAttribute(k, v);
  if (parent) parent.appendChild(node);
  return node;
};
// A round step for the axis: 1, 2 or 5 times a power of ten, about six ticks over `range`.
const niceStep = range => {
  const raw = range / 6, power = Math.pow(10, Math.floor(Math.log10(raw)));
  return [1, 2, 5, 10].map(m => m * power).find(s => s >= raw);
};
// Every chart uses the same scale (the longest chart's span), so a run that took a third of the time
// of another is drawn a third as long, as in the text charts' side-by-side comparisons.
const extent = spans => {
  const t0 = spans.reduce((start, s) => Math.min(start, s.ts), Infinity);
  return [t0, spans.reduce((end, s) => Math.max(end, s.ts + s.dur), t0)];
};
const rangeMs = Math.max(0.001, ...[...sections.values()].map(spans => {
  const [t0, t1] = extent(spans);
  return (t1 - t0) / 1000;
}));
const charts = document.getElementById("charts");
let drawn = 0;
for (const [name, spans] of sections) {
  spans.sort((a, b) => a.ts - b.ts);
  const [t0, t1] = extent(spans);
  // Up to 40 spans: one lane each, labelled with the span's name, as the text chart does. More: each
  // span goes in the first lane that is free by its start, so the chart stays readable.
  const oneLaneEach = spans.length <= 40;
  const laneEnds = [], laneOf = [];
  for (const s of spans) {
    let lane = oneLaneEach ? laneEnds.length : laneEnds.findIndex(end => end <= s.ts);
    if (lane < 0) lane = laneEnds.length;
    laneEnds[lane] = s.ts + s.dur;
    laneOf.push(lane);
  }
  const heading = document.createElement("h2");
  heading.textContent = `${name}: ${spans.length} span${spans.length === 1 ? "" : "s"} over ${((t1 - t0) / 1000).toFixed(1)} ms`;
  charts.appendChild(heading);
  const labelWidth = 150, plotWidth = 760, laneHeight = oneLaneEach ? 20 : Math.max(4, Math.min(20, 600 / laneEnds.length));
  const top = 22, height = top + laneEnds.length * laneHeight + 8;
  const svg = make("svg", {width: labelWidth + plotWidth + 20, height, role: "img"}, charts);
  const x = us => labelWidth + ((us - t0) / 1000 / rangeMs) * plotWidth;
  const step = niceStep(rangeMs);
  for (let t = 0; t <= rangeMs + 1e-9; t += step) {
    const px = labelWidth + (t / rangeMs) * plotWidth;
    make("line", {class: "axis", x1: px, x2: px, y1: top - 4, y2: height - 4}, svg);
    make("text", {x: px, y: 12, "text-anchor": "middle"}, svg).textContent = `${+t.toFixed(3)} ms`;
  }
  spans.forEach((s, i) => {
    const lane = laneOf[i], y = top + lane * laneHeight;
    if (oneLaneEach) make("text", {x: labelWidth - 8, y: y + laneHeight * 0.7, "text-anchor": "end"}, svg).textContent = s.name;
    const key = s.pid + "/" + s.tid;
    const rect = make("rect", {class: "span", x: x(s.ts), y: y + 2, width: Math.max(1, x(s.ts + s.dur) - x(s.ts)),
                               height: Math.max(2, laneHeight - 4), fill: colour(key)}, svg);
    const from = (s.ts - t0) / 1000, to = from + s.dur / 1000;
    make("title", {}, rect).textContent = `${s.name}\n${threadName.get(key) || "thread ?"} of process ${s.pid}\n` +
        `${from.toFixed(2)} -> ${to.toFixed(2)} ms (${(s.dur / 1000).toFixed(2)} ms)`;
    drawn += 1;
  });
}
if (sections.size === 0) charts.textContent = "No spans were recorded.";
document.documentElement.setAttribute("data-drawn-spans", String(drawn));
</script>
</body>
</html>
)page";
  return page;
}

}  // namespace pg
