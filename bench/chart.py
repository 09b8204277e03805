"""Draw the bench's JSON results as bar charts: text for a terminal, or an SVG file for a README.

    build/default/bench/bench --json results.json
    python3 bench/chart.py results.json                  # text charts on stdout
    python3 bench/chart.py results.json --svg chart.svg  # the same charts as one SVG image

One chart per question the bench answers: how long N waiting tasks take (as a multiple of the delay),
what each waiting task costs in memory, the CPU speedup of each model, the cost of dispatching one
trivial task (log scale: it spans five orders of magnitude), and for the echo servers the messages per
second and the server's CPU time per message. Only the Python standard library is used.
"""
import argparse
import json
import math
import sys
from xml.sax.saxutils import escape


def charts(results):
    """The charts to draw: (title, unit, log_scale, [(label, value), ...])."""
    sections = {s["id"]: s for s in results["sections"]}
    out = []
    if "waiting" in sections:
        rows = sections["waiting"]["rows"]
        label = lambda r: f'{r["tasks"]:>7,.0f} {r["model"]}'
        out.append(("Waiting tasks: wall time / delay (1.0 is ideal)", "x", False,
                    [(label(r), r["wall/delay"]) for r in rows]))
        out.append(("Waiting tasks: peak memory per waiting task", "KB", False,
                    [(label(r), r["peak KB/task"]) for r in rows]))
    if "cpu" in sections:
        out.append(("CPU-bound primes: speedup over sequential", "x", False,
                    [(r["model"], r["speedup"]) for r in sections["cpu"]["rows"]]))
    if "dispatch" in sections:
        out.append(("Dispatch: time per trivial task (log scale)", "us", True,
                    [(r["how"], r["us/task"]) for r in sections["dispatch"]["rows"]]))
    if "echo" in sections:
        rows = sections["echo"]["rows"]
        label = lambda r: f'{r["server"]} @{r["conns"]:.0f}'
        out.append(("Echo: messages per second", "msg/s", False, [(label(r), r["msgs/s"]) for r in rows]))
        out.append(("Echo: server CPU time per message", "us", False,
                    [(label(r), r["server CPU us/msg"]) for r in rows]))
    return out


def scaled(value, top, log_scale):
    """Where `value` sits between 0 and 1 on a chart whose largest value is `top`."""
    if value is None or value <= 0 or top <= 0:
        return 0.0
    if log_scale:  # four decades below the top, so small values still get a visible bar
        low = top / 1e4
        return max(0.0, math.log10(max(value, low) / low) / math.log10(top / low))
    return value / top


def fmt(value):
    if value is None:
        return "-"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def text_charts(results, width=50):
    lines = [f'bench on {results["machine"]["cores"]} cores, {results["machine"]["cpu"]}: {results["command"]}']
    for title, unit, log_scale, bars in charts(results):
        lines += ["", title]
        if not bars:
            lines.append("  (no rows)")
            continue
        top = max((v for _, v in bars if v is not None), default=0)
        label_width = max(len(label) for label, _ in bars)
        for label, value in bars:
            bar = "█" * round(scaled(value, top, log_scale) * width)
            lines.append(f"  {label:<{label_width}} {bar} {fmt(value)} {unit}")
    return "\n".join(lines) + "\n"


def svg_charts(results, width=760):
    row_h, label_w, bar_w = 18, 270, width - 270 - 110
    y = 30
    parts = [f'<text x="10" y="20" font-weight="bold">bench on {results["machine"]["cores"]} cores, '
             f'{escape(results["machine"]["cpu"])}</text>']
    for title, unit, log_scale, bars in charts(results):
        y += 24
        parts.append(f'<text x="10" y="{y}" font-weight="bold">{escape(title)}</text>')
        top = max((v for _, v in bars if v is not None), default=0)
        for label, value in bars:
            y += row_h
            length = scaled(value, top, log_scale) * bar_w
            parts.append(f'<text x="{label_w - 6}" y="{y}" text-anchor="end">{escape(label)}</text>')
            parts.append(f'<rect x="{label_w}" y="{y - 12}" width="{length:.1f}" height="13" fill="#4878a8"/>')
            parts.append(f'<text x="{label_w + length + 5:.1f}" y="{y}">{escape(fmt(value))} {escape(unit)}</text>')
        y += 6
    height = y + 16
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'font-family="sans-serif" font-size="12">\n<rect width="100%" height="100%" fill="white"/>\n'
            + "\n".join(parts) + "\n</svg>\n")


def main():
    parser = argparse.ArgumentParser(description="Draw bench results (bench --json FILE) as bar charts.")
    parser.add_argument("results", help="the JSON file written by bench --json")
    parser.add_argument("--svg", help="write an SVG image to this file instead of printing text charts")
    args = parser.parse_args()
    try:
        with open(args.results, encoding="utf-8") as f:
            results = json.load(f)
    except (OSError, ValueError) as error:
        print(f"chart.py: cannot read {args.results}: {error}", file=sys.stderr)
        return 1
    if args.svg:
        with open(args.svg, "w", encoding="utf-8") as f:
            f.write(svg_charts(results))
        print(f"chart written to {args.svg}")
    else:
        sys.stdout.write(text_charts(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
