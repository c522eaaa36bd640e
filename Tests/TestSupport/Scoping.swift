import Testing

/// A trait that gives each test case (each argument of a parameterized test) its own `Value`:
/// made just before the case runs, reachable through a task-local while it runs (and in its
/// suite's `init`), released when it ends, and with it whatever the value removes on release.
///
/// On a suite it applies to every test in it, one fresh value per test case, as a suite
/// `init() throws { value = try Value() }` did; a test's own trait of the same kind, inside
/// the suite's, is the one the test sees.
public struct FreshForEachTestCase<Value: Sendable>: TestTrait, SuiteTrait, TestScoping {
    private let local: TaskLocal<Value?>
    private let make: @Sendable () throws -> Value

    /// Binds a value from `make` to `local` around each test case.
    public init(_ local: TaskLocal<Value?>, make: @escaping @Sendable () throws -> Value) {
        self.local = local
        self.make = make
    }

    public var isRecursive: Bool { true }

    /// One scope per test case, none for the suite or the test as a whole.
    public func scopeProvider(for test: Test, testCase: Test.Case?) -> Self? {
        testCase == nil ? nil : self
    }

    public func provideScope(for test: Test, testCase: Test.Case?,
                             performing function: @Sendable () async throws -> Void) async throws {
        try await local.withValue(try make()) { try await function() }
    }
}

/// The value a `FreshForEachTestCase` trait bound, or a stop naming the trait the test lacks.
package func scopedValue<Value>(_ value: Value?, trait: String, function: StaticString = #function) -> Value {
    guard let value else {
        preconditionFailure("\(function) used outside a test with the \(trait) trait")
    }
    return value
}

extension TemporaryDirectory {
    @TaskLocal fileprivate static var scoped: TemporaryDirectory?

    /// The directory of the running test case (`@Test(.temporaryDirectory())` or on its suite).
    public static var current: TemporaryDirectory { scopedValue(scoped, trait: ".temporaryDirectory()") }
}

extension Trait where Self == FreshForEachTestCase<TemporaryDirectory> {
    /// A fresh temporary directory for each test case, `TemporaryDirectory.current`, removed
    /// with everything in it when the case ends.
    public static func temporaryDirectory(prefix: String = "stscache-tests") -> Self {
        temporaryDirectory { try TemporaryDirectory(prefix: prefix) }
    }

    /// The same, the directory made by `make` (for a target that prepares the process first).
    public static func temporaryDirectory(_ make: @escaping @Sendable () throws -> TemporaryDirectory) -> Self {
        Self(TemporaryDirectory.$scoped, make: make)
    }
}
