// Bar charts drawn as SVG by hand (no library): one row per item, the value written beside it.
const SVG = "http://www.w3.org/2000/svg";

function s(tag, attrs, text) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (text !== undefined) el.textContent = text;
  return el;
}

export function barChart(title, items) {
  // items: [{label, value (number), text (shown)}]; the figure's table holds the same numbers.
  const rowH = 22, labelW = 130, textW = 110, width = 560;
  const max = Math.max(0, ...items.map((i) => i.value)) || 1;
  const height = Math.max(1, items.length) * rowH + 4;
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, width, height, role: "img", "aria-label": title });
  items.forEach((item, n) => {
    const y = n * rowH + 2;
    const w = Math.max(item.value > 0 ? 2 : 0, ((width - labelW - textW) * item.value) / max);
    svg.append(s("text", { x: labelW - 6, y: y + 14, "text-anchor": "end" }, item.label));
    svg.append(s("rect", { class: "bar", x: labelW, y: y + 3, width: w, height: rowH - 8 }));
    svg.append(s("text", { x: labelW + w + 6, y: y + 14 }, item.text));
  });
  if (!items.length) svg.append(s("text", { x: 4, y: 16 }, "No data in this range."));
  const figure = document.createElement("figure");
  figure.className = "chart card";
  const caption = document.createElement("figcaption");
  caption.textContent = title;
  figure.append(caption, svg);
  return figure;
}
