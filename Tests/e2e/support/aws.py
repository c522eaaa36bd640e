"""Facts of the AWS world every test shares: moto's account, the region, the keys of an IAM
user, the ARN of a role session, the keys of a credential_process document."""

from __future__ import annotations

from dataclasses import dataclass

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account

# A role session's answer: the documented keys in order, then the account the role is in (issue 21).
CREDENTIAL_KEYS = ["Version", "AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration", "AccountId"]


@dataclass
class AccessKey:
    """An IAM user's long-term keys (or any key pair: the fakes' source keys)."""

    user_name: str
    user_arn: str
    access_key_id: str
    secret_access_key: str


def assumed_arn(role_arn: str, session: str) -> str:
    """The ARN STS (and moto) gives a role session: what get-caller-identity shows."""
    return f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/{role_arn.split('/')[-1]}/{session}"
