"""botocore's configured-endpoint rules against the table stscache's unit tests check
(Tests/e2e/configured_endpoints.json): botocore's own clients, built from the
same config file and environment, must resolve every row the way the table says. Together with
ConfiguredEndpointTests this pins stscache's one implementation (ConfiguredEndpoints) to
botocore's behaviour. Needs no stscache binary."""

from __future__ import annotations

import json
import os
from pathlib import Path

import botocore.exceptions
import botocore.session
import pytest

TABLE = json.loads((Path(__file__).parent / "configured_endpoints.json").read_text())
CLIENT_NAMES = {"sts": "sts", "iam": "iam", "sso": "sso", "sso_oidc": "sso-oidc", "signin": "signin", "s3": "s3"}


@pytest.mark.parametrize("row", TABLE["cases"], ids=[row["name"] for row in TABLE["cases"]])
def test_botocore_resolves_each_row_as_the_table_says(row: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config"
    config.write_text(TABLE["config"])
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    for name, value in row["env"].items():
        monkeypatch.setenv(name, value)
    session = botocore.session.Session(profile=row["profile"])
    create = lambda: session.create_client(CLIENT_NAMES[row["service"]], region_name="us-east-1",  # noqa: E731
                                           aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret")
    if row["expected"] == "error":
        with pytest.raises(botocore.exceptions.InvalidConfigError):
            create()
        return
    endpoint = create().meta.endpoint_url
    if row["expected"] is None:
        assert endpoint.endswith(".amazonaws.com"), endpoint
    else:
        assert endpoint == row["expected"]
