"""A client written with Python's standard asyncio streams, run by the C++ tests against the C++ echo
server (tests/networking/test_tcp_echo_server.cpp): proof that the server speaks plain TCP lines to a
client it has never seen, not just to our own C++ client.

    python3 asyncio_echo_client.py HOST PORT [CLIENTS]

Each client sends a text line, a line ending in "\\r\\n", and a line holding every byte value but
"\\n", and checks that each comes back byte for byte. Every wait is bounded by a timeout. Exit status 0
and one summary line when every echo matched; 1 and the reason otherwise.
"""
import asyncio
import sys

TIMEOUT = 5.0  # seconds, for each connect and each echo


async def one_client(host, port, number):
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), TIMEOUT)
    lines = [
        f"hello from python client {number}\n".encode(),
        b"windows line ending\r\n",
        bytes(b for b in range(256) if b != ord("\n")) + b"\n",
    ]
    try:
        for line in lines:
            writer.write(line)
            await writer.drain()
            echo = await asyncio.wait_for(reader.readline(), TIMEOUT)
            if echo != line:
                raise ValueError(f"client {number}: sent {line!r}, got back {echo!r}")
        writer.write_eof()  # half-close: the server closes after the last echo
        rest = await asyncio.wait_for(reader.read(), TIMEOUT)
        if rest != b"":
            raise ValueError(f"client {number}: unexpected bytes after the echoes: {rest!r}")
    finally:
        writer.close()
        await writer.wait_closed()
    return len(lines)


async def main():
    host, port = sys.argv[1], int(sys.argv[2])
    clients = int(sys.argv[3]) if len(sys.argv) > 3 else 20
    counts = await asyncio.wait_for(
        asyncio.gather(*(one_client(host, port, n) for n in range(clients))), 4 * TIMEOUT
    )
    print(f"python asyncio client: {clients} clients, {sum(counts)} lines echoed exactly")


try:
    asyncio.run(main())
except (OSError, ValueError, asyncio.TimeoutError) as error:
    print(f"asyncio_echo_client: {type(error).__name__}: {error}", file=sys.stderr)
    sys.exit(1)
