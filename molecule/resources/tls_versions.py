"""Which TLS versions a server on this host completes a handshake with.

usage: python3 tls_versions.py PORT NAME CERT KEY

Connects to 127.0.0.1:PORT (NAME for SNI) once with each of TLS 1.1, 1.2
and 1.3 only, at OpenSSL's security level 0 (which otherwise refuses TLS
1.1 on the client side and would make a refusal prove nothing). As a
positive control, the same TLS 1.1 client first completes a handshake with
a server of its own that speaks TLS 1.1 only (CERT and KEY). Prints JSON:
{"control": "TLSv1.1", "TLSv1.1": null, "TLSv1.2": "TLSv1.2", ...}, null
where the server refused.
"""

import json
import socket
import ssl
import sys
import threading
import warnings

warnings.simplefilter("ignore", DeprecationWarning)
VERSIONS = {"TLSv1.1": ssl.TLSVersion.TLSv1_1, "TLSv1.2": ssl.TLSVersion.TLSv1_2,
            "TLSv1.3": ssl.TLSVersion.TLSv1_3}


def context(side, version):
    ctx = ssl.SSLContext(side)
    if side == ssl.PROTOCOL_TLS_CLIENT:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    ctx.minimum_version = ctx.maximum_version = version
    return ctx


def handshake(port, name, version):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            with context(ssl.PROTOCOL_TLS_CLIENT, version).wrap_socket(raw, server_hostname=name) as tls:
                return tls.version()
    except (ssl.SSLError, OSError):
        return None


def control(cert, key):
    server = context(ssl.PROTOCOL_TLS_SERVER, ssl.TLSVersion.TLSv1_1)
    server.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))

    def serve():
        conn, _ignored = listener.accept()
        try:
            with server.wrap_socket(conn, server_side=True) as tls:
                tls.recv(1)
        except (ssl.SSLError, OSError):
            pass

    threading.Thread(target=serve, daemon=True).start()
    return handshake(listener.getsockname()[1], "control", ssl.TLSVersion.TLSv1_1)


def main(port, name, cert, key):
    found = {"control": control(cert, key)}
    for label, version in VERSIONS.items():
        found[label] = handshake(int(port), name, version)
    print(json.dumps(found))


if __name__ == "__main__":
    main(*sys.argv[1:])
