"""An S3-compatible server for the tests: moto's, in server mode, on a free loopback port of this process."""

from __future__ import annotations

import itertools
import logging

import boto3
from moto.server import ThreadedMotoServer

from tests.helpers import free_port

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "nover-test-key", "AWS_SECRET_ACCESS_KEY": "nover-test-secret"}
"""moto accepts any; the tests check that these never reach the database, a command line or a log."""


class S3Server:
    """One server for the test session; each test gets a bucket of its own from `new_bucket`."""

    def __init__(self) -> None:
        self.port = free_port()
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._names = itertools.count()

    def start(self) -> None:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
        self._server.start()

    def stop(self) -> None:
        self._server.stop()

    @property
    def environment(self) -> dict[str, str]:
        """What a process needs in its environment to use the server: the endpoint, a region and the credentials."""
        return {
            **CREDENTIALS,
            "AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{self.port}",
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def new_bucket(self) -> str:
        """A new, empty bucket (as an operator creates one before pointing the dashboard at it); its name."""
        name = f"nover-test-{next(self._names)}"
        client = boto3.client("s3", endpoint_url=self.environment["AWS_ENDPOINT_URL_S3"], **self._client_settings())
        client.create_bucket(Bucket=name)
        return name

    def _client_settings(self) -> dict[str, str]:
        return {
            "aws_access_key_id": CREDENTIALS["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            "region_name": "us-east-1",
        }
