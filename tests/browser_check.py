"""Checks a lesson's `--html` page in a real browser (headless Chromium), against the `--trace` file of
the same run:

    python3 tests/browser_check.py LESSON_BINARY [lesson flags...]

1. runs the lesson with `--trace run.json --html run.html` (plus the flags given) in a fresh folder;
2. counts the spans ("ph":"X" events) in run.json with Python's own JSON parser;
3. loads run.html in headless Chromium (`--dump-dom` prints the page after its script ran) and reads
   the `data-drawn-spans` the page's script set on <html>: it must equal the span count;
4. takes a screenshot and checks that it is not blank: its pixels have several colours, and enough of
   them are not the page's white background (bars and text were painted).

Without Chromium (`chromium-headless-shell` or `chromium`; `bash cmake/install-dependencies.sh --browser`)
it prints SKIPPED with the reason and exits 0. Python 3 standard library only (the PNG is decoded here).
"""
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib


def find_browser():
    for name in ("chromium-headless-shell", "chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


def browser(binary, *args, timeout=60):
    # --no-sandbox: Chromium refuses to start as root with its sandbox on (CI runs as root); the page is
    # a local file this test just wrote.
    command = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


def png_pixels(path):
    """The RGB(A) rows of an 8-bit PNG, as lists of tuples. Enough of the format for a screenshot."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG file")
    pos, idat, width, height, channels = 8, b"", 0, 0, 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour_type = struct.unpack(">IIBB", body[:10])
            if depth != 8 or colour_type not in (2, 6):
                raise ValueError(f"unexpected PNG format (depth {depth}, colour type {colour_type})")
            channels = 3 if colour_type == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    rows, previous = [], bytearray(stride)
    for y in range(height):
        filter_type = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            up_left = previous[i - channels] if i >= channels else 0
            if filter_type == 1:
                line[i] = (line[i] + left) & 0xFF
            elif filter_type == 2:
                line[i] = (line[i] + up) & 0xFF
            elif filter_type == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif filter_type == 4:
                p = left + up - up_left
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - up_left)
                predictor = left if pa <= pb and pa <= pc else (up if pb <= pc else up_left)
                line[i] = (line[i] + predictor) & 0xFF
        rows.append([tuple(line[x * channels:x * channels + 3]) for x in range(width)])
        previous = line
    return rows


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    lesson, lesson_flags = sys.argv[1], sys.argv[2:]
    chromium = find_browser()
    if chromium is None:
        print("SKIPPED: no headless Chromium (bash cmake/install-dependencies.sh --browser installs it)")
        return 0
    with tempfile.TemporaryDirectory() as folder:
        trace, page, shot = (os.path.join(folder, n) for n in ("run.json", "run.html", "run.png"))
        run = subprocess.run([lesson, *lesson_flags, "--trace", trace, "--html", page],
                             capture_output=True, text=True, timeout=120)
        if run.returncode != 0:
            print(f"FAIL: the lesson exited {run.returncode}:\n{run.stdout}\n{run.stderr}")
            return 1
        with open(trace, encoding="utf-8") as f:
            spans = sum(1 for e in json.load(f)["traceEvents"] if e["ph"] == "X")

        dom = browser(chromium, "--dump-dom", "file://" + page)
        match = re.search(r'<html[^>]*\bdata-drawn-spans="(\d+)"', dom.stdout)
        if match is None:
            print(f"FAIL: the page set no data-drawn-spans (its script did not finish).\n{dom.stderr[-2000:]}")
            return 1
        drawn = int(match.group(1))
        print(f"trace file: {spans} spans; the browser drew {drawn}")
        if drawn != spans or spans == 0:
            print("FAIL: the page must draw every span of the trace file, and there must be some")
            return 1

        browser(chromium, f"--screenshot={shot}", "--window-size=1000,700", "file://" + page)
        if not os.path.exists(shot):
            print("FAIL: Chromium wrote no screenshot")
            return 1
        pixels = [p for row in png_pixels(shot) for p in row]
        colours = len(set(pixels))
        painted = sum(1 for p in pixels if p != (255, 255, 255)) / len(pixels)
        print(f"screenshot: {colours} colours, {painted:.1%} of the pixels not white")
        if colours < 4 or painted < 0.01:
            print("FAIL: the screenshot is blank")
            return 1
    print("ok: the page drew every span, and the screenshot is not blank")
    return 0


if __name__ == "__main__":
    sys.exit(main())
