"""A real S3 API on loopback for the tests of remote roots (moto's server mode, real HTTP, the
real s3fs client; nothing is monkeypatched).

    s3_server        session: a ThreadedMotoServer on 127.0.0.1 (a free port)
    s3               function: the environment pointed at it (AWS_ENDPOINT_URL, test keys),
                     a fresh bucket, and helpers: url(prefix), put_tree(local, prefix),
                     put(key, data), get(key), keys(prefix)
    start_auth_s3()  a second moto server, in a subprocess, that checks credentials and IAM
                     policies (INITIAL_NO_AUTH_ACTION_COUNT), for refused keys and permissions

No test reaches any address but 127.0.0.1.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ACCESS_KEY = "AKIATESTRUNLOG000001"
SECRET_KEY = "runlog-test-secret-0123456789abcdef"


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """The endpoint URL of a moto S3 server on loopback, for the whole session."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    assert host == "127.0.0.1"
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def s3_environment(endpoint: str) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": "/nonexistent/runlog-test-aws-config",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/runlog-test-aws-credentials",
    }


@dataclass
class Bucket:
    endpoint: str
    name: str
    fs: Any
    env: dict[str, str] = field(default_factory=dict)

    def url(self, prefix: str = "runs") -> str:
        return f"s3://{self.name}/{prefix}" if prefix else f"s3://{self.name}"

    def put(self, key: str, data: bytes) -> None:
        self.fs.pipe_file(f"{self.name}/{key}", data)

    def get(self, key: str) -> bytes:
        data: bytes = self.fs.cat_file(f"{self.name}/{key}")
        return data

    def rm(self, key: str) -> None:
        self.fs.rm_file(f"{self.name}/{key}")

    def keys(self, prefix: str = "") -> set[str]:
        self.fs.invalidate_cache()
        found = self.fs.find(f"{self.name}/{prefix}" if prefix else self.name)
        return {path.removeprefix(self.name + "/") for path in found}

    def put_tree(self, local: Path, prefix: str = "runs") -> int:
        """Upload every file under `local` to `prefix/...`; returns how many."""
        count = 0
        for path in sorted(Path(local).rglob("*")):
            if path.is_file() and not path.is_symlink():
                rel = path.relative_to(local).as_posix()
                self.put(f"{prefix}/{rel}" if prefix else rel, path.read_bytes())
                count += 1
        return count


@pytest.fixture
def s3(s3_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Bucket]:
    """The environment pointed at the loopback server, and a fresh bucket in it."""
    import fsspec

    from runlog.remote.roots import forget_remotes

    env = s3_environment(s3_server)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    fs = fsspec.filesystem("s3", skip_instance_cache=True)
    name = f"runlog-{uuid.uuid4().hex[:12]}"
    fs.mkdir(name)
    try:
        yield Bucket(s3_server, name, fs, env)
    finally:
        forget_remotes()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class AuthServer:
    endpoint: str
    proc: subprocess.Popen[bytes]
    bucket: str
    reader: tuple[str, str]
    """Keys of a user with no S3 permission at all."""


def start_auth_s3() -> AuthServer:
    """A moto server that checks credentials: a bucket with one run in it, and a user whose
    keys are valid but allowed nothing. Stop it with `.proc.terminate()`."""
    import boto3

    port = _free_port()
    env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT="4")
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("the moto server with authentication did not start") from None
            time.sleep(0.1)
    keys = {"aws_access_key_id": "bootstrap", "aws_secret_access_key": "bootstrap"}
    common = {"endpoint_url": endpoint, "region_name": "us-east-1", **keys}
    s3 = boto3.client("s3", **common)
    iam = boto3.client("iam", **common)
    # The four unauthenticated actions: everything after them must carry valid keys.
    s3.create_bucket(Bucket="locked")
    iam.create_user(UserName="nobody")
    access = iam.create_access_key(UserName="nobody")["AccessKey"]
    iam.put_user_policy(
        UserName="nobody",
        PolicyName="nothing",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Deny", "Action": "s3:*", "Resource": "*"}],
            }
        ),
    )
    return AuthServer(endpoint, proc, "locked", (access["AccessKeyId"], access["SecretAccessKey"]))
