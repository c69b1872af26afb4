"""Our own nginx instances (never the system service): generated config, private prefix.

Two roles: the fast stand-in upstream (``return 200`` with a small JSON body, so it is never the
bottleneck) and the reference reverse proxy (``proxy_pass`` with upstream keep-alive, forwarding
the client's Host and X-Forwarded-* as the facade does).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from bench.procs import LOOPBACK, BenchError, Managed, Supervisor

STANDIN_BODY = '{"sku":"SKU-00001","name":"Bench stand-in","price":1234,"currency":"EUR"}'

# keepalive_requests: nginx closes a client connection after 1000 requests by default, which
# would make wrk reconnect mid-run; raised so every target keeps its connections for the run.
_MAIN = """\
worker_processes {workers};
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    default_type application/json;
    keepalive_requests 1000000;
    keepalive_timeout 75s;
{body}
}}
"""

_STANDIN_SERVER = """\
    server {{
        listen {host}:{port} reuseport backlog=1024;
        location / {{ return 200 '{json}'; }}
    }}
"""

_PROXY_SERVER = """\
    upstream target {{
        server {upstream};
        keepalive 64;
        keepalive_requests 1000000;
    }}
    server {{
        listen {host}:{port} backlog=1024;
        location / {{
            proxy_pass http://target;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host $http_host;
        }}
    }}
"""


def nginx_binary() -> str:
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).exists()), None
    )
    if found is None:
        raise BenchError("nginx not found (scripts/bench installs it with apt-get)")
    return found


def nginx_version() -> str:
    done = subprocess.run([nginx_binary(), "-v"], capture_output=True, text=True, check=False)
    return (done.stderr or done.stdout).strip().removeprefix("nginx version: ")


def standin_server(port: int, body: str = STANDIN_BODY) -> str:
    """A server block answering every request with ``body`` (by default the small JSON body).

    ``body`` goes inside single quotes in a ``return`` directive: no ``'``, ``\\`` or ``$``.
    """
    return _STANDIN_SERVER.format(host=LOOPBACK, port=port, json=body)


def proxy_server(port: int, upstream_port: int) -> str:
    """A server block proxying everything to ``upstream_port``, as the facade does."""
    return _PROXY_SERVER.format(host=LOOPBACK, port=port, upstream=f"{LOOPBACK}:{upstream_port}")


def start_nginx(supervisor: Supervisor, name: str, *, workers: int, servers: str) -> Managed:
    """Write a config into a private prefix, test it, and run nginx in the foreground."""
    prefix = supervisor.workdir / name
    prefix.mkdir(parents=True, exist_ok=True)
    prefix.chmod(0o755)  # nginx's workers run as nobody when we are root
    conf = prefix / "nginx.conf"
    conf.write_text(_MAIN.format(workers=workers, prefix=prefix, body=servers))
    argv = [nginx_binary(), "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")]
    check = subprocess.run([*argv, "-t", "-q"], capture_output=True, text=True, check=False)
    if check.returncode != 0:
        raise BenchError(f"nginx rejected the generated {conf}:\n{check.stderr.strip()}")
    return supervisor.start(name, [*argv, "-g", "daemon off;"])
