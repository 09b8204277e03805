"""Python's own asyncio streams echo server: a row in the bench's echo table (workload 4), and the
server the C++ client lesson is tested against (tests/networking/test_tcp_echo_client.cpp), so that the
C++ code also talks to a peer it did not write.

The same line protocol and command line as the C++ servers, so both start it the same way:

    python3 bench/asyncio_echo_server.py --port 0      # prints "listening on 127.0.0.1:PORT"

Every line, up to and including its b"\\n", is sent back unchanged; a line longer than --max-line bytes
closes that connection; SIGINT or SIGTERM stops the server with exit status 0. With --lifetime S it also
exits by itself after S seconds (exit status 0), so that a test that dies cannot leave it behind. It is
written the way the Python playground's tcp_echo_server.py is (asyncio.start_server, one coroutine per
connection), minus the printing of every message, which would measure the terminal instead of the server.
"""
import argparse
import asyncio
import signal
import sys


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            line = await reader.readline()  # a last line without b"\n" comes back too
            if not line:
                break
            writer.write(line)
            await writer.drain()
    except (ConnectionError, ValueError):  # ValueError: the line is longer than --max-line
        pass
    finally:
        writer.close()


async def main(address: str, port: int, max_line: int, lifetime: float) -> None:
    server = await asyncio.start_server(handle, address, port, limit=max_line, backlog=4096)
    host, bound_port = server.sockets[0].getsockname()[:2]
    print(f"listening on {host}:{bound_port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signal_number, stop.set)
    if lifetime > 0:
        loop.call_later(lifetime, stop.set)
    async with server:
        await stop.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8888)
    parser.add_argument("--max-line", type=int, default=65536)
    parser.add_argument("--lifetime", type=float, default=0, help="exit after this many seconds (0: never)")
    args = parser.parse_args()
    try:
        asyncio.run(main(args.address, args.port, args.max_line, args.lifetime))
    except OSError as error:  # port in use, bad address
        print(f"asyncio_echo_server: {error}", file=sys.stderr)
        sys.exit(1)
