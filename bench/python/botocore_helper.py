"""The common Python alternative to stscache, at its leanest: a credential_process helper that
lets botocore assume the role, with botocore's JSON file cache -- exactly what the AWS CLI does
(awscli's assumerole customisation sets the assume-role provider's cache to a JSONFileCache in
~/.aws/cli/cache; `aws configure export-credentials` of CLI v2 then prints what
`session.get_credentials()` returns). No CLI command machinery is imported, so this is the
fastest a botocore-based helper gets: a hit is Python start-up + importing botocore + reading
the config and one small JSON file.

    botocore_helper.py --profile ROLE_PROFILE
"""

import json
import os
import sys

import botocore.session
from botocore.utils import JSONFileCache


def main() -> int:
    profile = sys.argv[sys.argv.index("--profile") + 1]
    session = botocore.session.Session(profile=profile)
    provider = session.get_component("credential_provider").get_provider("assume-role")
    provider.cache = JSONFileCache(os.path.expanduser(os.path.join("~", ".aws", "cli", "cache")))
    credentials = session.get_credentials()
    frozen = credentials.get_frozen_credentials()
    expiry = getattr(credentials, "_expiry_time", None)
    document = {
        "Version": 1,
        "AccessKeyId": frozen.access_key,
        "SecretAccessKey": frozen.secret_key,
        "SessionToken": frozen.token,
    }
    if expiry is not None:
        document["Expiration"] = expiry.strftime("%Y-%m-%dT%H:%M:%SZ")
    sys.stdout.write(json.dumps(document, separators=(",", ":")) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
