"""Support code for the end-to-end tests, one concern a module:

peers   the programs the tests need (.venv, libfaketime, shells, the binary); missing is a
        failure in CI and a named skip elsewhere
aws     account, region, key pairs, assumed-role ARNs, the credential_process keys
homes   throw-away HOMEs, the clean environment, runners for the binary, the AWS CLI and boto3
moto    moto_server with signature checking on and its request log; `python -m support.moto`
        is how scripts/demo and bench/run start it
fakes   FakeSTS (scripted answers, SigV4 checked by sigv4), ClosedPort, BlackHole,
        FakeMetadataServer (IMDSv2, the container endpoint)
tls     a throw-away certificate authority and a CONNECT proxy
"""
