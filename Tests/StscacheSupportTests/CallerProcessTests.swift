#if canImport(Glibc)
import Glibc
#endif
import Testing

@testable import StscacheSupport

@Suite("The caller's names, from its command line")
struct CallerProcessTests {
    static func names(_ words: [String]) -> [String] {
        CallerProcess.names(commandLine: Array(words.joined(separator: "\0").utf8) + [0])
    }

    @Test("a program by argv[0]'s file name; an interpreter with its script's", arguments: [
        (["/usr/local/bin/codex", "exec", "ls"], ["codex"]),
        (["terraform", "plan"], ["terraform"]),
        (["/usr/bin/python3.12", "/home/a/bin/agent.py", "--x"], ["python3.12", "agent.py"]),
        (["python3", "-u", "tool.py"], ["python3", "tool.py"]),
        (["python3", "-m", "awscli", "s3", "ls"], ["python3", "awscli"]),
        (["python3", "-c", "import boto3"], ["python3"]),
        (["node", "/usr/lib/node_modules/@openai/codex/bin/codex.js"], ["node", "codex.js"]),
        (["/bin/sh", "-c", "aws s3 ls"], ["sh"]),
        (["bash", "/home/a/job.sh"], ["bash", "job.sh"]),
        (["python3"], ["python3"]),
        (["pythonista", "x.py"], ["pythonista"]),
        ([""], []),
    ])
    func names(_ words: [String], _ expected: [String]) {
        #expect(Self.names(words) == expected)
    }

    @Test("this process's own names are read from /proc; a missing process has none")
    func live() {
        #expect(!CallerProcess.names(pid: getpid()).isEmpty)
        #expect(CallerProcess.names(pid: Int32.max).isEmpty)
    }
}
