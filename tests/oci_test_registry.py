"""A small OCI distribution registry for the tests, in memory, on 127.0.0.1.

Enough of the distribution API for skopeo to push and pull: blobs (HEAD,
GET, monolithic and chunked uploads), manifests by tag or digest. It counts
what clients send (``uploads``: finished blob uploads by digest), so that a
test can show that a blob the registry already has is not sent again. Not
the project's registry (group_layers.registry): a test double with no
dependency beyond the standard library.
"""

import hashlib
import re
import threading
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

NAME = r"(?P<name>[a-z0-9]+(?:[._/-][a-z0-9]+)*)"


class Registry:
    def __init__(self):
        self.blobs, self.manifests, self.sessions = {}, {}, {}
        self.uploads = Counter()
        self.lock = threading.Lock()
        registry = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                registry.handle(self, "GET")

            def do_HEAD(self):
                registry.handle(self, "HEAD")

            def do_POST(self):
                registry.handle(self, "POST")

            def do_PATCH(self):
                registry.handle(self, "PATCH")

            def do_PUT(self):
                registry.handle(self, "PUT")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    # -- requests ------------------------------------------------------------

    def handle(self, request, method):
        url = urlsplit(request.path)
        body = b""
        if "Content-Length" in request.headers:
            body = request.rfile.read(int(request.headers["Content-Length"]))
        elif request.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = _read_chunked(request.rfile)
        for pattern, handler in self.routes:
            match = re.fullmatch(pattern, url.path)
            if match:
                with self.lock:
                    status, headers, content = handler(self, method, match, parse_qs(url.query), body,
                                                       request.headers)
                break
        else:
            status, headers, content = 404, {}, b'{"errors":[{"code":"NAME_UNKNOWN"}]}'
        request.send_response(status)
        for key, value in headers.items():
            request.send_header(key, value)
        request.send_header("Content-Length", str(len(content)))
        request.end_headers()
        if method != "HEAD":
            request.wfile.write(content)

    def base(self, method, match, query, body, headers):
        return 200, {"Docker-Distribution-API-Version": "registry/2.0"}, b"{}"

    def blob(self, method, match, query, body, headers):
        digest = match["digest"]
        if digest not in self.blobs:
            return 404, {}, b'{"errors":[{"code":"BLOB_UNKNOWN"}]}'
        # HEAD answers with GET's headers (Content-Length too), without the body.
        return 200, {"Docker-Content-Digest": digest, "Content-Type": "application/octet-stream"}, self.blobs[digest]

    def start_upload(self, method, match, query, body, headers):
        if method != "POST":
            return 405, {}, b""
        session = uuid.uuid4().hex
        self.sessions[session] = bytearray()
        if "digest" in query:  # monolithic upload
            return self.finish(match["name"], session, query["digest"][0], body)
        return 202, {"Location": f"/v2/{match['name']}/blobs/uploads/{session}",
                     "Range": "0-0", "Docker-Upload-UUID": session}, b""

    def upload(self, method, match, query, body, headers):
        session = match["session"]
        if session not in self.sessions:
            return 404, {}, b'{"errors":[{"code":"BLOB_UPLOAD_UNKNOWN"}]}'
        self.sessions[session] += body
        if method == "PATCH":
            end = max(len(self.sessions[session]) - 1, 0)
            return 202, {"Location": f"/v2/{match['name']}/blobs/uploads/{session}",
                         "Range": f"0-{end}", "Docker-Upload-UUID": session}, b""
        if method == "PUT":
            return self.finish(match["name"], session, query["digest"][0], b"")
        return 405, {}, b""

    def finish(self, name, session, digest, body):
        data = bytes(self.sessions.pop(session) + body)
        if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
            return 400, {}, b'{"errors":[{"code":"DIGEST_INVALID"}]}'
        self.blobs[digest] = data
        self.uploads[digest] += 1
        return 201, {"Location": f"/v2/{name}/blobs/{digest}", "Docker-Content-Digest": digest}, b""

    def manifest(self, method, match, query, body, headers):
        key = (match["name"], match["reference"])
        if method == "PUT":
            digest = "sha256:" + hashlib.sha256(body).hexdigest()
            media_type = headers.get("Content-Type", "")
            self.manifests[key] = self.manifests[(match["name"], digest)] = (media_type, body)
            return 201, {"Docker-Content-Digest": digest,
                         "Location": f"/v2/{match['name']}/manifests/{digest}"}, b""
        if key not in self.manifests:
            return 404, {}, b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}'
        media_type, data = self.manifests[key]
        return 200, {"Content-Type": media_type,
                     "Docker-Content-Digest": "sha256:" + hashlib.sha256(data).hexdigest()}, data

    routes = [
        (r"/v2/?", base),
        (rf"/v2/{NAME}/blobs/(?P<digest>sha256:[0-9a-f]{{64}})", blob),
        (rf"/v2/{NAME}/blobs/uploads/?", start_upload),
        (rf"/v2/{NAME}/blobs/uploads/(?P<session>[0-9a-f]+)", upload),
        (rf"/v2/{NAME}/manifests/(?P<reference>[A-Za-z0-9_.:-]+)", manifest),
    ]


def _read_chunked(stream):
    body = bytearray()
    while True:
        size = int(stream.readline().split(b";")[0].strip(), 16)
        if size == 0:
            while stream.readline() not in (b"\r\n", b"\n", b""):
                pass
            return bytes(body)
        body += stream.read(size)
        stream.readline()
