import CLibFuzzer
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// How a harness runs under SwiftPM: SwiftPM links every executable with `main` aliased to the
// target's own top-level code (`--defsym main=<Target>_main`), which takes precedence over the
// `main` in libclang_rt.fuzzer. So the harness's main.swift calls `fuzz { ... }`, which hands
// libFuzzer's driver the C entry point below. `LLVMFuzzerTestOneInput` keeps its standard name
// because the runtime's own (unused) `main` refers to it, and so the binary works with any
// libFuzzer-compatible tool.

nonisolated(unsafe) private var harness: ((inout FuzzInput) -> Void)?

@_cdecl("LLVMFuzzerTestOneInput")
public func llvmFuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let harness else {
        // Reached only if libFuzzer's own main ran instead of the harness's: fuzzing would
        // silently test nothing, so stop loudly.
        fatalError("FuzzSupport: no harness installed; the executable's main.swift must call fuzz { ... }")
    }
    let bytes = size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size))
    var input = FuzzInput(bytes)
    harness(&input)
    return 0
}

/// Runs libFuzzer with `body` as the test: it gets each input and must return normally.
/// Anything that traps (`fatalError`, a failed `invariant`, an overflow, an out-of-range index)
/// or that AddressSanitizer reports is a crash, and libFuzzer saves the input.
///
/// Arguments are libFuzzer's (`-max_total_time=60 corpus/`, or a crash file to replay).
public func fuzz(_ body: @escaping (inout FuzzInput) -> Void) -> Never {
    harness = body
    var argc = CommandLine.argc
    var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
    let status = LLVMFuzzerRunDriver(&argc, &argv, llvmFuzzerTestOneInput)
    exit(status)
}

/// Crashes with `message` unless `condition` holds: a property the code under test must keep
/// for every input, checked by the harness.
public func invariant(_ condition: Bool, _ message: @autoclosure () -> String,
                      file: StaticString = #file, line: UInt = #line) {
    if !condition {
        fatalError("fuzz invariant failed: \(message())", file: file, line: line)
    }
}

/// The fuzzer's input, read from the front: a harness that needs several values (lengths, a
/// choice, a key) takes them one after another and usually hands `rest()` to the code under test.
/// Reads past the end give zeros / empty arrays, so every input is usable.
public struct FuzzInput {
    /// The whole input, whatever has been taken.
    public let bytes: [UInt8]
    public private(set) var offset = 0

    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// The whole input read as UTF-8, invalid sequences replaced by U+FFFD.
    public var text: String { String(decoding: bytes, as: UTF8.self) }

    public var remaining: Int { bytes.count - offset }

    public mutating func byte() -> UInt8 {
        guard offset < bytes.count else { return 0 }
        defer { offset += 1 }
        return bytes[offset]
    }

    public mutating func bool() -> Bool { byte() & 1 == 1 }

    /// A value in `range` from one byte (two when the range is wider than 256).
    public mutating func int(in range: ClosedRange<Int>) -> Int {
        let width = range.upperBound - range.lowerBound + 1
        var raw = Int(byte())
        if width > 256 { raw = raw << 8 | Int(byte()) }
        return range.lowerBound + raw % width
    }

    /// Up to `count` bytes (fewer at the end of the input).
    public mutating func take(_ count: Int) -> [UInt8] {
        let end = offset + min(max(count, 0), remaining)
        defer { offset = end }
        return Array(bytes[offset..<end])
    }

    /// Exactly `count` bytes: the input's, zero-padded at the end.
    public mutating func take(exactly count: Int) -> [UInt8] {
        let taken = take(count)
        return taken + [UInt8](repeating: 0, count: count - taken.count)
    }

    /// The bytes up to the next `separator` (not included; the separator is consumed), or the
    /// rest of the input when there is none. nil once the input is used up.
    public mutating func take(until separator: UInt8) -> [UInt8]? {
        guard remaining > 0 else { return nil }
        let end = bytes[offset...].firstIndex(of: separator) ?? bytes.count
        defer { offset = min(end + 1, bytes.count) }
        return Array(bytes[offset..<end])
    }

    public mutating func rest() -> [UInt8] { take(remaining) }
}
