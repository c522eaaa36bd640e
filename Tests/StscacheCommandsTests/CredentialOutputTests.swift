import Foundation
import Testing
import SigV4
import StscacheSupport
@testable import Credentials
@testable import StscacheCommands
import TestSupport

@Suite("credential_process JSON")
struct CredentialOutputTests {
    @Test("plain values are quoted whole; quotes, backslashes and control characters are escaped", arguments: [
        ("ASIAEXAMPLE", "\"ASIAEXAMPLE\""),
        ("a/b+c=", "\"a/b+c=\""),
        ("", "\"\""),
        ("say \"hi\"", "\"say \\\"hi\\\"\""),
        ("back\\slash", "\"back\\\\slash\""),
        ("tab\there", "\"tab\\there\""),
        ("line\nbreak\r", "\"line\\nbreak\\r\""),
        ("bell\u{07}", "\"bell\\u0007\""),
        ("é ✓", "\"é ✓\""),
    ])
    func quoting(value: String, json: String) {
        #expect(JSONText.quoted(value) == json)
    }

    @Test("the document parses back to the same values, whatever they contain")
    func roundTrip() throws {
        let credentials = AWSCredentials(accessKeyId: "ASIA\"odd\\", secretAccessKey: "s\u{01}\n",
                                         sessionToken: String(repeating: "FQoGZXIvYXdz", count: 100) + "\"",
                                         expiration: Date(timeIntervalSince1970: 1_900_000_000))
        let text = CredentialOutput.json(credentials)
        #expect(text.hasSuffix("}\n") && !text.dropLast().contains("\n"))
        let document = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(document["AccessKeyId"] as? String == credentials.accessKeyId)
        #expect(document["SecretAccessKey"] as? String == credentials.secretAccessKey)
        #expect(document["SessionToken"] as? String == credentials.sessionToken)
        #expect(document["Expiration"] as? String == "2030-03-17T17:46:40Z")
        #expect(document["Version"] as? Int == 1)
    }
}
