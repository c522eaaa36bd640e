"""The same STS call stscache makes on a miss, from boto3: one AssumeRole with the base
profile's keys against $AWS_ENDPOINT_URL_STS, credentials printed as credential_process JSON.

    boto3_assume.py ROLE_ARN SESSION_NAME            one call, as a process (hyperfine times it)
    boto3_assume.py ROLE_ARN SESSION_NAME --calls N  N calls, each on a fresh client (a fresh
        connection, as stscache has), timed around `assume_role` alone; prints the per-call
        seconds as JSON. That is the STS server's time plus botocore's per-call work, without
        Python start-up or client construction.
"""

import json
import sys
import time

import boto3


def main() -> int:
    role_arn, session_name = sys.argv[1], sys.argv[2]
    session = boto3.Session(profile_name="base")
    if "--calls" in sys.argv:
        count = int(sys.argv[sys.argv.index("--calls") + 1])
        session.client("sts").assume_role(RoleArn=role_arn, RoleSessionName=session_name)  # warm-up
        seconds = []
        for _ in range(count):
            client = session.client("sts")
            started = time.perf_counter()
            client.assume_role(RoleArn=role_arn, RoleSessionName=session_name, DurationSeconds=3600)
            seconds.append(time.perf_counter() - started)
        json.dump(seconds, sys.stdout)
        return 0
    response = session.client("sts").assume_role(RoleArn=role_arn, RoleSessionName=session_name, DurationSeconds=3600)
    credentials = response["Credentials"]
    document = {
        "Version": 1,
        "AccessKeyId": credentials["AccessKeyId"],
        "SecretAccessKey": credentials["SecretAccessKey"],
        "SessionToken": credentials["SessionToken"],
        "Expiration": credentials["Expiration"].strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    sys.stdout.write(json.dumps(document, separators=(",", ":")) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
