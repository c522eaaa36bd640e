import Testing

@testable import AWSConfig

@Suite("Delegation and shell words")
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

    @Test("splits words as Python's shlex.split does in POSIX mode")
    func shlexCompatibility() {
        #expect(shellWords("a b\tc\n d") == ["a", "b", "c", "d"])
        #expect(shellWords("profile \"my profile\"") == ["profile", "my profile"])
        #expect(shellWords("a'b c'd") == ["ab cd"])
        #expect(shellWords(#"'a\b'"#) == [#"a\b"#])
        #expect(shellWords(#""a\b" "c\"d" "e\\f""#) == [#"a\b"#, #"c"d"#, #"e\f"#])
        #expect(shellWords(##"a\ b \#c"##) == ["a b", "#c"])
        #expect(shellWords("'' x") == ["", "x"])
        #expect(shellWords("   ") == [])
        #expect(shellWords("é 'ü ö'") == ["é", "ü ö"])
        #expect(shellWords("'open") == nil)
        #expect(shellWords("\"open") == nil)
        #expect(shellWords("trailing\\") == nil)
    }
}
