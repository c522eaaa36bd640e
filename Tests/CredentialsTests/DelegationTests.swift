import Testing

import AWSConfig
@testable import Credentials
import TestSupport

@Suite("Delegation")
struct DelegationTests {
    @Test("finds --profile in a plain stscache command")
    func plainCommand() {
        #expect(delegatedProfile(fromCredentialProcess: "stscache credential-process --profile prod-role") == "prod-role")
    }

    @Test("finds a quoted profile after a full path to stscache")
    func fullPathQuoted() {
        #expect(delegatedProfile(fromCredentialProcess: "/usr/local/bin/stscache credential-process --profile 'prod role'")
            == "prod role")
        #expect(delegatedProfile(fromCredentialProcess: #"  "/opt/my tools/stscache"   credential-process   --profile "a \"b\""  "#)
            == #"a "b""#)
    }

    @Test("accepts --profile=NAME and takes the last --profile given")
    func equalsFormAndLastWins() {
        #expect(delegatedProfile(fromCredentialProcess: "stscache credential-process --profile=dev") == "dev")
        #expect(delegatedProfile(fromCredentialProcess: "stscache credential-process --profile a --profile b") == "b")
    }

    @Test("returns nil for other programs, a missing --profile, or a command that does not split")
    func notDelegating() {
        #expect(delegatedProfile(fromCredentialProcess: "aws-vault export --format=json --profile prod") == nil)
        #expect(delegatedProfile(fromCredentialProcess: "/usr/bin/stscache-old credential-process --profile x") == nil)
        #expect(delegatedProfile(fromCredentialProcess: "/usr/bin/helper stscache --profile x") == nil)
        #expect(delegatedProfile(fromCredentialProcess: "stscache credential-process") == nil)
        #expect(delegatedProfile(fromCredentialProcess: "stscache credential-process --profile") == nil)
        #expect(delegatedProfile(fromCredentialProcess: "stscache credential-process --profile 'unterminated") == nil)
        #expect(delegatedProfile(fromCredentialProcess: "stscache credential-process --profile ''") == nil)
        #expect(delegatedProfile(fromCredentialProcess: "stscache credential-process -- --profile x") == nil)
        #expect(delegatedProfile(fromCredentialProcess: "") == nil)
    }

    @Test("reads the profile a profile delegates to from its credential_process line")
    func delegatedProfileOfProfile() throws {
        let files = try loadFiles(config: delegatingConfig)
        #expect(files.delegatedProfile(forProfile: "prod") == "prod-role")
        #expect(files.delegatedProfile(forProfile: "other") == nil)
    }
}
