import Foundation
import Synchronization
import Testing

import AWSConfig
@testable import Credentials
import TestSupport

/// The user name only matters for a default role_session_name; looking it up is a passwd lookup,
/// so the resolver must not ask for it otherwise.
@Suite("user name, read lazily")
struct LazyUserNameTests {
    final class Reads: Sendable {
        let count = Mutex(0)
        func name() -> String {
            count.withLock { $0 += 1 }
            return "carol"
        }
    }

    static let config = """
        [profile named]
        role_arn = arn:aws:iam::123456789012:role/Admin
        role_session_name = fixed
        source_profile = base

        [profile unnamed]
        role_arn = arn:aws:iam::123456789012:role/Admin
        source_profile = base

        [profile base]
        aws_access_key_id = AKIDBASE
        aws_secret_access_key = base-secret-value
        """

    @Test("a profile that names its session never reads the user name; one that does not, does")
    func readsOnlyWhenNeeded() throws {
        let directory = try TempAWSDirectory()
        try directory.write(config: Self.config, credentials: nil)
        let files = try directory.load()
        let reads = Reads()

        let named = try ProfileResolver.resolve(profile: "named", files: files, environment: [:], userName: reads.name())
        #expect(named.roleSessionName == "fixed")
        #expect(reads.count.withLock { $0 } == 0)

        let unnamed = try ProfileResolver.resolve(profile: "unnamed", files: files, environment: [:], userName: reads.name())
        #expect(unnamed.roleSessionName == ProfileResolver.defaultSessionName(userName: "carol"))
        #expect(reads.count.withLock { $0 } >= 1)
    }
}
