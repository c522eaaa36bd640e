import Testing

import StscacheSupport

@Suite("Did you mean: NameSuggestion")
struct NameSuggestionTests {
    static let profiles = ["default", "prod", "prod-role", "base", "dev", "dev-role", "staging"]

    @Test("a typo of one known name is answered with that name", arguments: [
        ("prdo", "prod"),  // a swap of neighbours is one edit
        ("bsae", "base"),
        ("Prod", "prod"),  // case alone
        ("dve", "dev"),
        ("prod-rloe", "prod-role"),
        ("stagign", "staging"),
        ("stagng", "staging"),
        ("deafult", "default"),
        ("prod-roles", "prod-role"),
    ])
    func typo(typed: String, meant: String) {
        #expect(NameSuggestion.closest(to: typed, among: Self.profiles) == meant)
    }

    @Test("nothing is suggested when no name is close, or two are equally close", arguments: [
        "production-eu", "qa", "x", "sandbox", "devops",
    ])
    func none(typed: String) {
        #expect(NameSuggestion.closest(to: typed, among: Self.profiles) == nil)
    }

    @Test("a tie between two names suggests neither; a name listed twice is no tie")
    func ties() {
        #expect(NameSuggestion.closest(to: "dev1", among: ["dev2", "dev3"]) == nil)
        #expect(NameSuggestion.closest(to: "dev1", among: ["dev2", "dev2"]) == "dev2")
        // The exact name is never its own suggestion.
        #expect(NameSuggestion.closest(to: "prod", among: ["prod"]) == nil)
        #expect(NameSuggestion.closest(to: "prod", among: []) == nil)
    }

    @Test("optimal-string-alignment distance")
    func distance() {
        func d(_ a: String, _ b: String) -> Int {
            NameSuggestion.editDistance(Array(a.unicodeScalars), Array(b.unicodeScalars))
        }
        #expect(d("kitten", "sitting") == 3)
        #expect(d("ca", "ac") == 1)
        #expect(d("", "abc") == 3)
        #expect(d("abc", "") == 3)
        #expect(d("prod", "prod") == 0)
        #expect(d("ca", "abc") == 3)  // OSA, not unrestricted Damerau–Levenshtein (2)
        #expect(d("prød", "prod") == 1)
        // Past the limit the answer is only "more than the limit".
        #expect(NameSuggestion.editDistance(Array("aaaaaa".unicodeScalars), Array("bbbbbb".unicodeScalars), limit: 1) > 1)
    }

    @Test("the allowance grows with the length, from none for one letter to three")
    func limits() {
        #expect([1, 2, 3, 5, 6, 8, 9, 30].map(NameSuggestion.limit(forLength:)) == [0, 1, 1, 1, 2, 2, 3, 3])
    }
}
