"""Open N TLS connections with server name NAME to 127.0.0.1:PORT, one
after another, each a real handshake attempt by Python's ssl module
(OpenSSL), and check that every one is refused with unrecognized_name.

  refuse_clients.py PORT N NAME
"""
import socket
import ssl
import sys

port, n, name = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
bad = 0
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    try:
        ctx.wrap_socket(s, server_hostname=name).close()
        bad += 1
        print("handshake succeeded", file=sys.stderr)
    except ssl.SSLError as e:
        if "UNRECOGNIZED_NAME" not in str(e):
            bad += 1
            print("unexpected:", e, file=sys.stderr)
    except OSError as e:
        bad += 1
        print("unexpected:", e, file=sys.stderr)
    finally:
        s.close()
sys.exit(1 if bad else 0)
