import Testing

@testable import AWSConfig

@Suite("Shell words")
struct ShellWordsTests {
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
