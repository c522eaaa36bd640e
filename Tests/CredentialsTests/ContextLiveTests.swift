import Foundation
import Testing
@testable import Credentials
import TestSupport

@Suite("Context.live")
struct ContextLiveTests {
    @Test("reads the process environment: split at the first '=', values kept whole")
    func environment() {
        setenv("STSCACHE_TEST_CONTEXT_PLAIN", "value", 1)
        setenv("STSCACHE_TEST_CONTEXT_EQUALS", "a=b==c", 1)
        setenv("STSCACHE_TEST_CONTEXT_EMPTY", "", 1)
        setenv("STSCACHE_TEST_CONTEXT_UTF8", "é ✓ =\u{301}", 1)
        defer {
            for name in ["PLAIN", "EQUALS", "EMPTY", "UTF8"] { unsetenv("STSCACHE_TEST_CONTEXT_" + name) }
        }
        let environment = Context.live().environment
        #expect(environment["STSCACHE_TEST_CONTEXT_PLAIN"] == "value")
        #expect(environment["STSCACHE_TEST_CONTEXT_EQUALS"] == "a=b==c")
        #expect(environment["STSCACHE_TEST_CONTEXT_EMPTY"] == "")
        #expect(environment["STSCACHE_TEST_CONTEXT_UTF8"] == "é ✓ =\u{301}")
        #expect(environment["PATH"] == ProcessInfo.processInfo.environment["PATH"])
    }

    @Test("the user name comes from the passwd entry, on demand, and can be replaced")
    func userName() {
        var context = Context.live()
        let expected = getpwuid(getuid()).map { String(cString: $0.pointee.pw_name) }
            ?? ProcessInfo.processInfo.environment["USER"] ?? "user"
        #expect(context.userName == expected)
        context.userName = "somebody-else"
        #expect(context.userName == "somebody-else")
    }
}
