"""Python's side of workload 1: N asyncio tasks that each wait `delay`, gathered on one event loop.

    python3 bench/asyncio_waiting_tasks.py            # 10,000 and 100,000 tasks waiting 200 ms

Prints the wall time and the wall time / delay, the figures the bench prints for coroutines, so the
two can be compared on the same machine.
"""
import asyncio
import sys
import time

DELAY = 0.2


async def wait_all(count: int) -> float:
    start = time.perf_counter()
    await asyncio.gather(*(asyncio.sleep(DELAY) for _ in range(count)))
    return time.perf_counter() - start


def main() -> None:
    counts = [int(a) for a in sys.argv[1:]] or [10_000, 100_000]
    print(f"python {sys.version.split()[0]} asyncio: tasks each waiting {DELAY * 1000:.0f} ms")
    for count in counts:
        wall = asyncio.run(wait_all(count))
        print(f"  {count:>7} tasks: wall {wall * 1000:.0f} ms, wall/delay {wall / DELAY:.2f}")


if __name__ == "__main__":
    main()
