// swift-tools-version:6.0
import PackageDescription

// The floor stscache's start-up is measured against: a Swift "hello world" built with the same
// release flags (static Swift standard library), so the ratio is what stscache adds on top of
// what any Swift binary pays at exec.
let package = Package(
    name: "hello",
    targets: [.executableTarget(name: "hello")]
)
