"""Reads a Chrome trace event file with Python's own JSON parser and prints one line per event:

    X <ts> <dur> <pid> <tid> <cat>\t<name>     for a complete event (a span)
    M <pid> <tid> <name>\t<args.name>          for a metadata event (a process or thread name)

The C++ tests (tests/support.hpp: read_trace) run it, so "the file parses as JSON" is checked by a real
JSON parser, not by the code that wrote the file. Exit status 1 with a message if the file is not valid.
"""
import json
import sys

try:
    with open(sys.argv[1], encoding="utf-8") as f:
        trace = json.load(f)
    events = trace["traceEvents"]
    for e in events:
        if e["ph"] == "X":
            print(f'X {e["ts"]} {e["dur"]} {e["pid"]} {e["tid"]} {e["cat"]}\t{e["name"]}')
        elif e["ph"] == "M":
            print(f'M {e["pid"]} {e["tid"]} {e["name"]}\t{e["args"]["name"]}')
        else:
            raise ValueError(f'unexpected event phase {e["ph"]!r}')
except (OSError, ValueError, KeyError, TypeError) as error:
    print(f"trace_check: {error}", file=sys.stderr)
    sys.exit(1)
