#!/usr/bin/env python3
"""Data server for the download benchmark (standard library only): GET /obj/<n> answers,
after a fixed delay, with object n (see bench_objects.hpp). asyncio, so 1,000 concurrent
keep-alive connections cost one thread (a thread-per-connection server such as cpp-httplib
spends its CPU on context switches at that scale). Prints its port, serves until killed.
Usage: data_server.py [--delay-ms 100] [--size 10240]"""
import argparse
import asyncio
import hashlib
import resource


def object_bytes(n, size):
    seed = hashlib.sha512(str(n).encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]


async def main(delay, size):
    async def handle(reader, writer):
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ", 2)[1]
                if not path.startswith(b"/obj/"):
                    writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                    continue
                await asyncio.sleep(delay)
                body = object_bytes(int(path[5:]), size)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n"
                             % len(body) + body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=4096)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--delay-ms", type=float, default=100)
    p.add_argument("--size", type=int, default=10240)
    a = p.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)  # one descriptor per connection
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(main(a.delay_ms / 1000, a.size))
