import Foundation
import Testing
@testable import Credentials
@testable import StscacheCommands
import TestSupport
import StscacheSupport

@Suite("agent --install-unit")
struct AgentUnitTests {
    static let example = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("config-examples/stscache-agent.service")

    @Test("the unit it writes is config-examples/stscache-agent.service with ExecStart this binary")
    func sameAsTheExample() throws {
        #expect(try String(contentsOf: Self.example, encoding: .utf8) == AgentUnit.template)
        let text = try #require(AgentUnit.text(executable: "/opt/tools/bin/stscache"))
        #expect(text.contains("\nExecStart=/opt/tools/bin/stscache agent\n"))
        #expect(!text.contains("ExecStart=/usr/local/bin/stscache"))
        #expect(text.split(separator: "\n").count == AgentUnit.template.split(separator: "\n").count)
        // A path the unit file would have to quote (or that systemd would expand) is refused.
        for path in ["/home/a b/stscache", "/x/%h/stscache", "relative/stscache", "/x/$HOME/s", "/x/\n/s"] {
            #expect(AgentUnit.text(executable: path) == nil, "\(path)")
        }
    }

    @Test("writes ~/.config/systemd/user/stscache-agent.service, making the folders; a different file is kept")
    func writesTheUnit() throws {
        let home = try TestHome()
        let result = home.run(["agent", "--install-unit"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr == "")
        #expect(result.stdout.contains("systemctl --user daemon-reload && systemctl --user enable --now stscache-agent"))
        let path = home.path(".config/systemd/user/stscache-agent.service")
        let written = try String(contentsOfFile: path, encoding: .utf8)
        let executable = try #require(ownExecutablePath())
        #expect(written.contains("\nExecStart=\(executable) agent\n"))
        // Again: the same unit, nothing to do.
        #expect(home.run(["agent", "--install-unit"]).status == 0)
        // Edited by the user: not overwritten.
        try (written + "Environment=X=1\n").write(toFile: path, atomically: true, encoding: .utf8)
        let refused = home.run(["agent", "--install-unit"])
        #expect(refused.status == 1)
        #expect(refused.stdout == "")
        #expect(refused.stderr.hasPrefix("stscache: ") && refused.stderr.contains("differs"))
        #expect(try String(contentsOfFile: path, encoding: .utf8).hasSuffix("Environment=X=1\n"))
    }
}
