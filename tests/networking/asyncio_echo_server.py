"""An echo server written with Python's standard asyncio streams (the shape of tcp_echo_server.py in
the Python playground), run by the C++ tests so that the C++ client talks to a server it did not write
(tests/networking/test_tcp_echo_client.cpp).

    python3 asyncio_echo_server.py

It listens on 127.0.0.1 on a free port, prints "listening on 127.0.0.1:PORT" and flushes, echoes every
line, and exits by itself after 60 seconds so that a test that dies cannot leave it behind.
"""
import asyncio
import sys

LIFETIME = 60.0  # seconds


async def handle(reader, writer):
    try:
        while line := await reader.readline():
            writer.write(line)
            await writer.drain()
    except (ConnectionError, asyncio.LimitOverrunError, ValueError):
        pass
    finally:
        writer.close()


async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    print(f"listening on 127.0.0.1:{port}", flush=True)
    async with server:
        try:
            await asyncio.wait_for(server.serve_forever(), LIFETIME)
        except asyncio.TimeoutError:
            pass


try:
    asyncio.run(main())
except KeyboardInterrupt:
    sys.exit(0)
