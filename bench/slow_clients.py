"""Slow clients, as a phone on a bad network is one: run on the bench host.

usage: slow_clients.py PORT COUNT SECONDS

For SECONDS, COUNT clients talk to 127.0.0.1:PORT as slowly as they can
without being idle: half of them send their request a few bytes every half
second, the other half ask for a 1 MiB file and read it 64 bytes every half
second through a small receive buffer. A client that is cut off (a header
timeout, a closed connection) connects again. At the end it prints how many
connections the clients opened and how many were cut off.
"""

import socket
import sys
import threading
import time

PORT, COUNT, SECONDS = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
DEADLINE = time.monotonic() + SECONDS
HOST = "hello.test"
counts = {"connections": 0, "cut_off": 0}
lock = threading.Lock()


def connect():
    client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    client.settimeout(max(1.0, DEADLINE - time.monotonic()))
    client.connect(("127.0.0.1", PORT))
    with lock:
        counts["connections"] += 1
    return client


def keep_at_it(talk):
    """Until the deadline: connect, TALK(client) slowly, close; a client
    cut off waits half a second and connects again."""
    while time.monotonic() < DEADLINE:
        try:
            client = connect()
            talk(client)
            client.close()
        except OSError:
            with lock:
                counts["cut_off"] += 1
            time.sleep(0.5)


def trickle():
    """A request sent four bytes at a time, a line of headers it never ends."""
    request = (f"GET / HTTP/1.1\r\nHost: {HOST}\r\nUser-Agent: slow-client\r\n"
               + "".join(f"X-Padding-{n}: {'x' * 40}\r\n" for n in range(200))).encode()

    def talk(client):
        for start in range(0, len(request), 4):
            if time.monotonic() >= DEADLINE:
                break
            client.sendall(request[start:start + 4])
            time.sleep(0.5)
    keep_at_it(talk)


def read_slowly():
    """A large answer, read 64 bytes every half second."""
    request = f"GET /static/bench-1m.bin HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode()

    def talk(client):
        client.sendall(request)
        while time.monotonic() < DEADLINE:
            if not client.recv(64):
                break
            time.sleep(0.5)
    keep_at_it(talk)


def main():
    threads = [threading.Thread(target=trickle if n % 2 == 0 else read_slowly, daemon=True) for n in range(COUNT)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.1, DEADLINE - time.monotonic() + 5))
    print(counts, flush=True)


if __name__ == "__main__":
    main()
