/// "Did you mean prod?" for a name that is not among the known ones (a profile, an
/// `sso-session`, a `[services]` section): the one known name a typo is most likely to have
/// come from, or none.
public enum NameSuggestion {
    /// The known name closest to `typed` by edit distance, when it is close enough and no other
    /// name is as close; nil otherwise (then a message lists names or points at the file).
    ///
    /// Distance is Damerau–Levenshtein (optimal string alignment: an insertion, a deletion, a
    /// substitution or a swap of two neighbours costs one) over Unicode scalars, ignoring ASCII
    /// case. Close enough: at most `limit(forLength:)` edits.
    public static func closest(to typed: String, among known: some Sequence<String>) -> String? {
        let target = folded(typed)
        let limit = limit(forLength: target.count)
        var best: String?
        var bestDistance = Int.max
        var tie = false
        for name in known where name != typed {
            let candidate = folded(name)
            guard abs(candidate.count - target.count) <= limit else { continue }
            let distance = editDistance(target, candidate, limit: limit)
            guard distance <= limit else { continue }
            if distance < bestDistance {
                best = name
                bestDistance = distance
                tie = false
            } else if distance == bestDistance, name != best {
                tie = true
            }
        }
        return tie ? nil : best
    }

    /// How many edits a name of `length` may be from the one suggested: one for short names, a
    /// third of the length for long ones (at most three), and never the whole name (a one-letter
    /// name is only matched ignoring case).
    public static func limit(forLength length: Int) -> Int {
        min(max(1, length / 3), 3, max(0, length - 1))
    }

    /// Optimal-string-alignment distance between `a` and `b`; any value above `limit` means
    /// "further than `limit`" (the rows stop early once every cell is past it).
    public static func editDistance(_ a: [Unicode.Scalar], _ b: [Unicode.Scalar], limit: Int = .max) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var before = [Int](repeating: 0, count: b.count + 1)
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            var rowMinimum = i
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                var value = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    value = min(value, before[j - 2] + 1)
                }
                current[j] = value
                rowMinimum = min(rowMinimum, value)
            }
            if rowMinimum > limit { return rowMinimum }
            (before, previous, current) = (previous, current, before)
        }
        return previous[b.count]
    }

    private static func folded(_ name: String) -> [Unicode.Scalar] {
        name.unicodeScalars.map { scalar in
            (0x41...0x5A).contains(scalar.value) ? Unicode.Scalar(UInt8(scalar.value + 0x20)) : scalar
        }
    }
}
